"""Structure-aware chunking measured in the embedding model's own tokens.

A chunk never exceeds the model's maximum sequence length (all-MiniLM-L6-v2 truncates at 256 word pieces, so
anything beyond is invisible to the dense index). Slack threads are one unit unless long, and then split on message
boundaries; documents are split per section (heading path + page kept in meta), packing paragraphs.
"""
from __future__ import annotations

import contextlib

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Iterable, Protocol, Sequence

from retrieval.types import EVERYONE, ChunkRecord

SPECIAL_TOKENS = 2  # [CLS] and [SEP] take two of the model's max_seq_length positions
_PARAGRAPH = re.compile(r"\n\s*\n")
# Tokenisation happens in bounded pieces: no single call sees more than this many characters, so a 200 MB
# paragraph costs a few MB of token offsets at a time instead of gigabytes at once.
MAX_UNIT_CHARS = 8_000
MAX_BATCH_CHARS = 1_000_000


class ChunkLimitExceeded(ValueError):
    """A document would produce more chunks than allowed; the caller quarantines it instead of indexing it."""


def split_bounded(text: str, max_chars: int = MAX_UNIT_CHARS) -> list[str]:
    """Cut `text` into pieces of at most `max_chars` characters, at the last whitespace before the bound when
    there is one (so words are not split), without tokenising anything."""
    if len(text) <= max_chars:
        return [text]
    pieces = []
    start = 0
    n = len(text)
    while start < n:
        end = min(n, start + max_chars)
        if end < n:
            cut = max(text.rfind(" ", start + max_chars // 2, end), text.rfind("\n", start + max_chars // 2, end))
            if cut > start:
                end = cut
        piece = text[start:end].strip()
        if piece:
            pieces.append(piece)
        start = end
    return pieces


class Tokenizer(Protocol):
    """The subset of a Hugging Face fast tokenizer chunking needs."""

    def __call__(self, text: Any, **kwargs: Any) -> Any: ...


class TokenCounter:
    """Counts and cuts text in the embedding model's tokens (without the special tokens)."""

    def __init__(self, tokenizer: Tokenizer, max_seq_length: int, lock: Any = None):
        if max_seq_length <= SPECIAL_TOKENS + 8:
            raise ValueError(f"max_seq_length {max_seq_length} is too small to hold a chunk")
        self.tokenizer = tokenizer
        self.max_seq_length = max_seq_length
        # A fast tokenizer's padding/truncation state is shared with the embedder: pass its lock so a sync
        # chunking in the API process cannot collide with queries being embedded.
        self._lock = lock or contextlib.nullcontext()

    @property
    def budget(self) -> int:
        """The most content tokens one chunk may hold."""
        return self.max_seq_length - SPECIAL_TOKENS

    def count(self, text: str) -> int:
        if len(text) > MAX_UNIT_CHARS:
            return sum(self.count_many(split_bounded(text)))
        with self._lock:
            return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def count_many(self, texts: Sequence[str]) -> list[int]:
        """Token counts of `texts`, tokenised in batches of at most MAX_BATCH_CHARS characters (an oversized
        text is counted piecewise: an upper bound within a token per piece)."""
        out: list[int] = []
        batch: list[str] = []
        size = 0

        def run() -> None:
            nonlocal size
            if batch:
                with self._lock:
                    out.extend(len(ids) for ids in self.tokenizer(list(batch), add_special_tokens=False)["input_ids"])
                batch.clear()
                size = 0

        for text in texts:
            if len(text) > MAX_UNIT_CHARS:
                run()
                out.append(self.count(text))
                continue
            if size + len(text) > MAX_BATCH_CHARS:
                run()
            batch.append(text)
            size += len(text)
        run()
        return out

    def _offsets(self, text: str) -> list[tuple[int, int]]:
        with self._lock:
            return [tuple(o) for o in self.tokenizer(text, add_special_tokens=False,
                                                     return_offsets_mapping=True)["offset_mapping"]]

    def windows(self, text: str, size: int, overlap: int) -> list[str]:
        """Cut `text` into pieces of at most `size` tokens, consecutive pieces sharing `overlap` tokens."""
        if len(text) > MAX_UNIT_CHARS:  # bounded tokenisation: window each bounded piece on its own
            return [w for piece in split_bounded(text) for w in self.windows(piece, size, overlap)]
        offsets = self._offsets(text)
        if len(offsets) <= size:
            return [text.strip()] if text.strip() else []
        step = max(1, size - min(overlap, size // 2))
        pieces = []
        for start in range(0, len(offsets), step):
            window = offsets[start:start + size]
            # Re-tokenising a cut can merge word pieces differently; trim until it truly fits.
            end_tok = len(window)
            while end_tok > 0:
                piece = text[window[0][0]:window[end_tok - 1][1]].strip()
                if self.count(piece) <= size:
                    break
                end_tok -= 1
            if piece:
                pieces.append(piece)
            if start + size >= len(offsets):
                break
        return pieces

    def tail(self, text: str, n: int) -> str:
        """The last `n` tokens of `text` (for overlap between packed chunks)."""
        if n <= 0:
            return ""
        text = text[-MAX_UNIT_CHARS:]
        offsets = self._offsets(text)
        if len(offsets) <= n:
            return text.strip()
        return text[offsets[-n][0]:].strip()

    def truncate(self, text: str, n: int) -> str:
        text = text[:MAX_UNIT_CHARS]  # a token is at least one character: n tokens never need more
        offsets = self._offsets(text)
        if len(offsets) <= n:
            return text
        return text[:offsets[n - 1][1]]


@dataclass(frozen=True)
class ChunkingConfig:
    target_tokens: int = 200
    overlap_tokens: int = 32

    def __post_init__(self) -> None:
        if self.target_tokens < 16:
            raise ValueError("target_tokens must be at least 16")
        if not 0 <= self.overlap_tokens < self.target_tokens // 2 + 1:
            raise ValueError("overlap_tokens must be between 0 and half of target_tokens")


def embedding_text(chunk: ChunkRecord) -> str:
    """What the dense model and BM25 see: title and heading path give a passage its context."""
    head = [chunk.title] if chunk.title else []
    heading = chunk.meta.get("heading_path") or []
    if heading:
        head.append(" > ".join(str(h) for h in heading))
    prefix = " | ".join(h for h in head if h)
    return f"{prefix}\n{chunk.text}" if prefix else chunk.text


def content_hash(chunk: ChunkRecord) -> str:
    """Identity of a chunk's indexed content: unchanged hash -> its vector can be kept."""
    h = hashlib.sha256()
    for part in (chunk.origin_kind, chunk.origin_key, chunk.title, embedding_text(chunk),
                 repr(sorted(chunk.acl)), repr(sorted((k, str(v)) for k, v in chunk.meta.items()))):
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


class Chunker:
    def __init__(self, counter: TokenCounter, config: ChunkingConfig = ChunkingConfig()):
        self.counter = counter
        self.config = config

    def _content_budget(self, header: str) -> int:
        """Content tokens left once the title/heading prefix of `embedding_text` is counted."""
        header_tokens = self.counter.count(header) + 1 if header else 0
        room = self.counter.budget - header_tokens
        if room < 16:  # an absurdly long title: it is cut in `_fit_header`, content keeps a sane budget
            room = self.counter.budget // 2
        return max(16, min(self.config.target_tokens, room))

    def _fit_header(self, title: str, heading_path: list[str]) -> tuple[str, list[str]]:
        """Cut titles / heading paths so that header + content always fit the model."""
        half = self.counter.budget // 2
        title = self.counter.truncate(title, half // 2) if title else title
        heading_path = [self.counter.truncate(h, max(4, half // (2 * max(1, len(heading_path)))))
                        for h in heading_path]
        return title, heading_path

    def _pack(self, units: list[str], budget: int, joiner: str, whole_units: bool = False) -> list[str]:
        """Greedily pack units (paragraphs or messages) into chunks of <= budget tokens, with overlap: the tail of
        the previous chunk, or with `whole_units` the previous unit itself when it is short enough (so a Slack
        chunk always starts on a message boundary)."""
        counts = self.counter.count_many(units)
        pieces: list[str] = []
        current: list[str] = []
        current_tokens = 0
        overlap = min(self.config.overlap_tokens, budget // 4)
        joiner_tokens = 1
        for unit, n in zip(units, counts):
            if n > budget:  # one oversized unit: flush, then cut it in token windows
                if current:
                    pieces.append(joiner.join(current))
                    current, current_tokens = [], 0
                pieces.extend(self.counter.windows(unit, budget, self.config.overlap_tokens))
                continue
            if current and current_tokens + joiner_tokens + n > budget:
                pieces.append(joiner.join(current))
                if whole_units:
                    last_n = self.counter.count(current[-1])
                    tail, tail_n = (current[-1], last_n) if overlap and last_n <= overlap else ("", 0)
                else:
                    tail = self.counter.tail(current[-1], overlap) if overlap else ""
                    tail_n = self.counter.count(tail) if tail else 0
                if tail and tail_n + joiner_tokens + n <= budget:
                    current, current_tokens = [tail], tail_n
                else:
                    current, current_tokens = [], 0
            current.append(unit)
            current_tokens += n + (joiner_tokens if len(current) > 1 else 0)
        if current:
            pieces.append(joiner.join(current))
        # Joining can tokenise differently from the sum of parts; enforce the bound exactly.
        out: list[str] = []
        for p in pieces:
            if self.counter.count(p) > budget:
                out.extend(self.counter.windows(p, budget, 0))
            elif p.strip():
                out.append(p.strip())
        return out

    def chunk_document(self, *, title: str, sections: Iterable[dict[str, Any]], origin_key: str,
                       acl: list[str] | None = None, document_id: int | None = None,
                       meta: dict[str, Any] | None = None, max_chunks: int | None = None) -> list[ChunkRecord]:
        """`sections`: [{heading_path: [..], page: int|None, text: str}] as ingestion stores them.
        Raises ChunkLimitExceeded as soon as more than `max_chunks` chunks would be made."""
        chunks: list[ChunkRecord] = []
        base_meta = dict(meta or {})
        for section in sections:
            text = str(section.get("text") or "").strip()
            if not text:
                continue
            heading_path = [str(h) for h in (section.get("heading_path") or [])]
            fitted_title, heading_path = self._fit_header(title, heading_path)
            probe = ChunkRecord(text="", title=fitted_title, origin_kind="document", origin_key=origin_key,
                                meta={"heading_path": heading_path})
            budget = self._content_budget(embedding_text(probe).rstrip("\n"))
            paragraphs = [q for p in _PARAGRAPH.split(text) if p.strip() for q in split_bounded(p.strip())]
            for piece in self._pack(paragraphs, budget, "\n\n"):
                if max_chunks is not None and len(chunks) >= max_chunks:
                    raise ChunkLimitExceeded(f"document would make more than {max_chunks:,} chunks")
                m = dict(base_meta)
                m.update({"heading_path": heading_path, "page": section.get("page"), "source": m.get("source")})
                chunks.append(ChunkRecord(text=piece, title=fitted_title, origin_kind="document",
                                          origin_key=origin_key, acl=list(acl or [EVERYONE]), meta=m,
                                          document_id=document_id))
        for i, c in enumerate(chunks):
            c.meta["position"] = i
        return chunks

    def chunk_thread(self, *, channel: str, messages: Sequence[dict[str, Any]], origin_key: str,
                     acl: list[str], meta: dict[str, Any] | None = None) -> list[ChunkRecord]:
        """`messages`: [{ts, user_name, user_id, text, permalink}] of one thread in time order."""
        rendered: list[str] = []
        kept: list[dict[str, Any]] = []
        for msg in messages:
            text = str(msg.get("text") or "").strip()[:MAX_BATCH_CHARS]
            if not text:
                continue
            who = msg.get("user_name") or msg.get("user_id") or "someone"
            rendered.append(f"{who}: {text}")
            kept.append(msg)
        if not rendered:
            return []
        title = f"#{channel}" if channel else "Slack"
        budget = self._content_budget(title)
        pieces = self._pack(rendered, budget, "\n", whole_units=True)
        chunks: list[ChunkRecord] = []
        root = kept[0]
        cursor = 0
        for i, piece in enumerate(pieces):
            # The first message whose rendering starts this piece gives the citation its permalink and ts.
            first = root
            for j in range(cursor, len(rendered)):
                if rendered[j][:40] in piece:
                    first, cursor = kept[j], j
                    break
            m = dict(meta or {})
            m.update({"channel": channel, "permalink": first.get("permalink") or root.get("permalink"),
                      "author": first.get("user_name") or first.get("user_id"),
                      # slack_ts: the message id for citations; ts: epoch seconds for date filters
                      "slack_ts": first.get("ts"), "ts": float(first["ts"]) if first.get("ts") else None,
                      "thread_ts": root.get("thread_ts") or root.get("ts"), "position": i,
                      "heading_path": [], "page": None})
            chunks.append(ChunkRecord(text=piece, title=title, origin_kind="slack_thread", origin_key=origin_key,
                                      acl=list(acl), meta=m))
        return chunks
