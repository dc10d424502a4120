from __future__ import annotations

import random

import pytest

from retrieval.chunking import Chunker, ChunkingConfig, TokenCounter, embedding_text

WORDS = ("retrieval index vector latency permission channel thread heading paragraph embedding tokenizer "
         "antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis 12345 äöü 東京 🙂").split()


def _text(rng: random.Random, n_words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n_words))


def _fits(counter: TokenCounter, chunk) -> bool:
    return counter.count(embedding_text(chunk)) <= counter.budget


@pytest.mark.parametrize("target,overlap", [(200, 32), (64, 16), (254, 0)])
def test_document_chunks_never_exceed_model_limit(counter, target, overlap):
    rng = random.Random(target)
    sections = [
        {"heading_path": ["Handbook", "Leave"], "page": 1,
         "text": "\n\n".join(_text(rng, rng.randint(5, 120)) for _ in range(12))},
        {"heading_path": ["Handbook", "A very long heading " * 30], "page": 2, "text": _text(rng, 2000)},  # no breaks
        {"heading_path": [], "page": None, "text": "   "},  # empty section is skipped
    ]
    chunker = Chunker(counter, ChunkingConfig(target, overlap))
    chunks = chunker.chunk_document(title="Employee handbook " * 40, sections=sections, origin_key="7",
                                    document_id=7, meta={"source": "docs"})
    assert len(chunks) > 5
    for c in chunks:
        assert _fits(counter, c), counter.count(embedding_text(c))
        assert counter.count(c.text) <= target
        assert c.document_id == 7 and c.acl == ["*"] and c.meta["source"] == "docs"
    assert {c.meta["page"] for c in chunks} == {1, 2}
    assert chunks[0].meta["heading_path"] == ["Handbook", "Leave"]
    # nothing lost: every word of the first section appears in some chunk
    first = " ".join(c.text for c in chunks if c.meta["page"] == 1)
    assert set(sections[0]["text"].split()) <= set(first.split())


def test_paragraphs_are_not_split_when_they_fit(counter):
    chunker = Chunker(counter, ChunkingConfig(200, 32))
    paras = ["Alpha paragraph about leave policy.", "Beta paragraph about travel.", "Gamma about laptops."]
    chunks = chunker.chunk_document(title="T", sections=[{"text": "\n\n".join(paras)}], origin_key="1")
    assert len(chunks) == 1
    assert all(p in chunks[0].text for p in paras)


def test_short_thread_is_one_unit_long_thread_splits_on_messages(counter):
    chunker = Chunker(counter, ChunkingConfig(200, 32))
    short = [{"ts": f"1700000000.{i:06d}", "user_name": f"u{i}", "text": f"message {i} about deploys",
              "permalink": f"https://x.slack.com/p{i}"} for i in range(4)]
    one = chunker.chunk_thread(channel="eng", messages=short, origin_key="1:C1:1700000000.000000", acl=["*"])
    assert len(one) == 1 and all(m["text"] in one[0].text for m in short)
    assert one[0].meta["channel"] == "eng" and one[0].meta["permalink"] == "https://x.slack.com/p0"
    assert one[0].meta["author"] == "u0"

    rng = random.Random(3)
    long = [{"ts": f"1700000000.{i:06d}", "user_name": f"user{i}", "text": _text(rng, rng.randint(5, 20)),
             "permalink": f"https://x.slack.com/p{i}"} for i in range(40)]
    long.append({"ts": "1700000001.000000", "user_name": "verbose", "text": _text(rng, 900)})  # one huge message
    chunks = chunker.chunk_thread(channel="eng", messages=long, origin_key="k", acl=["U1", "U2"])
    assert len(chunks) > 3
    for c in chunks:
        assert _fits(counter, c)
        assert c.acl == ["U1", "U2"] and c.origin_kind == "slack_thread"
    # split on message boundaries: chunks before the huge message start with a message's author
    before = [c for c in chunks if "verbose:" not in c.text and not c.text.startswith(long[-1]["text"][:20])]
    before = before[:next((i for i, c in enumerate(chunks) if "verbose:" in c.text), len(chunks))]
    assert before and all(c.text.split(":", 1)[0].startswith("user") for c in before)


def test_windows_overlap(counter):
    text = " ".join(f"w{i}" for i in range(600))
    pieces = counter.windows(text, 100, 20)
    assert len(pieces) > 5
    assert all(counter.count(p) <= 100 for p in pieces)
    # consecutive windows share their boundary tokens
    assert pieces[0].split()[-1] in pieces[1]


def test_bad_config():
    with pytest.raises(ValueError):
        ChunkingConfig(8, 0)
    with pytest.raises(ValueError):
        ChunkingConfig(100, 90)
