"""The answer engine and chat API end to end on the sample workspace: real ingestion, real index, real MiniLM.

One workspace is built per module (ingest + index take a while); storage on PostgreSQL is covered by the
`settings`-based tests elsewhere and by test_chat_on_both_databases below.
"""
from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.db import migrate, session_scope
from app.db.models import Conversation, Feedback, Message
from retrieval.types import PUBLIC, Access
from tests.app.conftest import auth, make_key
from tests.conftest import SAMPLE

LEADERSHIP_MEMBER = "U0ACME009"
NOT_A_MEMBER = "U0ACME002"


def build_workspace(settings) -> None:
    from app.services.indexing import sync_index
    from app.services.ingestion import ingest_documents, ingest_slack_export
    ingest_slack_export(settings, SAMPLE / "slack" / "acme-export", source_name="sample-slack")
    ingest_documents(settings, [SAMPLE / "handbook"], source_name="sample-handbook")
    sync_index(settings)


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    from app.settings import load_settings
    root = tmp_path_factory.mktemp("ws")
    settings = load_settings(data_dir=root / "var", database_url=f"sqlite:///{root / 'var' / 'teamlore.db'}")
    settings.ensure_dirs()
    migrate(settings.db_url)
    build_workspace(settings)
    return settings


@pytest.fixture(scope="module")
def engine(ws):
    from app.api.main import create_app
    app = create_app(ws)
    return app.state.engine()


@pytest.fixture(scope="module")
def api(ws):
    from app.api.main import create_app
    with TestClient(create_app(ws)) as c:
        yield c


def test_extractive_answer_quotes_the_handbook_with_citations(engine):
    result = engine.answer("How many days of annual leave do I get per year?", access=PUBLIC)
    assert result.mode == "extractive"
    assert "25" in result.text and "Extractive answer" not in result.text  # the mode says how; the text answers
    assert result.citations and all(c.title and c.snippet for c in result.citations)
    # citation numbers are 1..m over what the text actually cites, and every document citation can be opened
    assert [c.n for c in result.citations] == list(range(1, len(result.citations) + 1))
    assert sorted({int(n) for n in re.findall(r"\[(\d+)\]", result.text)}) == [c.n for c in result.citations]
    for c in result.citations:
        if c.source == "document":
            assert c.url == f"/v1/documents/{c.document_id}/original" and c.file and "/" not in c.file
    assert any("leave" in c.title.lower() for c in result.citations)
    assert result.latency["retrieval_ms"] > 0 and result.chunk_ids
    usage = result.extras["usage"]  # counted with the embedding model's tokenizer: what was read and what was said
    assert usage["prompt_tokens"] > usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    with session_scope(engine.settings.db_url) as s:
        msg = s.get(Message, result.message_id)
        assert msg.mode == "extractive" and msg.chunk_ids == result.chunk_ids and msg.latency["total_ms"] > 0


def test_unrelated_question_gets_i_dont_know(engine):
    result = engine.answer("What is the boiling point of liquid nitrogen on Jupiter's moons?", access=PUBLIC)
    assert result.mode == "no_answer" and result.text.startswith("I don't know")
    assert ">" not in result.text  # nothing quoted as if it answered; at most the closest sources are named


@pytest.mark.parametrize("question", ["Is there a pet insurance benefit for our dogs?",
                                      "What's the dress code for client meetings?"])
def test_question_the_workspace_does_not_answer_gets_i_dont_know(engine, question):
    # the case: an unrelated #random line was quoted as the answer
    result = engine.answer(question, access=PUBLIC, store=False)
    assert result.mode == "no_answer" and result.text.startswith("I don't know"), result.text
    assert all(c.url for c in result.citations)  # the closest sources it names can be opened


def test_dental_answer_does_not_quote_the_wrong_slack_reply_as_fact(engine):
    result = engine.answer("Does the health insurance cover dental care?", access=PUBLIC, store=False)
    assert result.mode == "extractive" and "Medicura" in result.text
    wrong = "I don't think we have any health insurance extras"
    assert wrong not in result.text or "disagree" in result.text


def test_every_citation_can_be_opened(engine):
    """Documents: the permission-checked original's route and the file name (no folders); Slack: a permalink and
    the channel. Quoted answers and "I don't know" answers (which name the closest sources) alike."""
    seen = set()
    for q in ("Does the health insurance cover dental care?", "Is there a pet insurance benefit for our dogs?",
              "How many days of annual leave do I get per year?"):
        for c in engine.answer(q, access=PUBLIC, store=False).citations:
            seen.add(c.source)
            assert c.title and c.url, c
            if c.source == "slack":
                assert re.match(r"https://[\w.-]+\.slack\.com/archives/C\w+/p\d+", c.url), c.url
                assert c.channel and c.file is None
            else:
                assert c.url == f"/v1/documents/{c.document_id}/original" and c.file and "/" not in c.file, c
    assert seen == {"slack", "document"}, seen


def test_follow_up_answer_has_no_fragments(engine):
    first = engine.answer("What is the home office budget?", access=PUBLIC)
    follow = engine.answer("and what if I need more?", access=PUBLIC, conversation_id=first.conversation_id)
    for line in filter(None, follow.text.split("\n\n")):
        body = re.sub(r"^> |\s*\[\d+\]$", "", line)
        assert body[:1].isupper() or body[:1].isdigit(), line
        assert not re.search(r"\b(?:on|the|and|of|to|a)$", body), line  # "Items above the budget are on [1]"


def test_private_channel_content_only_for_its_members(engine):
    q = "What is the 2026 merit increase budget?"
    outsider = engine.answer(q, access=Access(slack_user_ids=frozenset({NOT_A_MEMBER})))
    assert "4.5%" not in outsider.text
    assert all(c.channel != "leadership" for c in outsider.citations)
    member = engine.answer(q, access=Access(slack_user_ids=frozenset({LEADERSHIP_MEMBER})))
    assert "4.5%" in member.text
    both = Access(all_of=(Access(slack_user_ids=frozenset({LEADERSHIP_MEMBER})),
                          Access(slack_user_ids=frozenset({NOT_A_MEMBER}))))
    assert "4.5%" not in engine.answer(q, access=both).text  # a channel with an outsider in it


def test_follow_up_uses_the_conversation(engine):
    first = engine.answer("How many unused vacation days can I carry over into the next year?", access=PUBLIC)
    follow = engine.answer("until when?", access=PUBLIC, conversation_id=first.conversation_id)
    assert follow.conversation_id == first.conversation_id
    assert "31 March" in follow.text
    # the thread's wrong reply ("up to 10 days") is never quoted as if it agreed with its correction
    assert "up to 10 days" not in follow.text or "disagree" in follow.text, follow.text
    with session_scope(engine.settings.db_url) as s:
        assert len(s.get(Conversation, first.conversation_id).messages) == 4



def test_follow_up_with_words_of_its_own_is_answered_by_them(engine):
    """The follow-up's own words pick the sentences (retrieval still uses the conversation): ranked with the
    previous question prefixed, "and is alcohol included?" got "I don't know" beside a passage that says it."""
    first = engine.answer("What is the daily meal allowance?", access=PUBLIC)
    follow = engine.answer("and is alcohol included?", access=PUBLIC, conversation_id=first.conversation_id)
    assert "Alcohol is only reimbursed at client dinners" in follow.text, follow.text
    assert "€50" not in follow.text and not follow.text.startswith("I don't know")
    vague = engine.answer("until when?", access=PUBLIC,
                          conversation_id=engine.answer("How many unused vacation days can I carry over into the "
                                                        "next year?", access=PUBLIC).conversation_id)
    assert "31 March" in vague.text  # a follow-up without words of its own still reads with the conversation

def test_empty_question_is_refused(engine):
    from app.answering.engine import EmptyQuestion
    with pytest.raises(EmptyQuestion):
        engine.answer("   ", access=PUBLIC)


def test_chat_completions_non_stream_and_feedback(api, ws):
    key = make_key(ws, "emma")
    r = api.post("/v1/chat/completions", headers=auth(key),
                 json={"model": "teamlore", "messages": [{"role": "user", "content": "What is the meal expense limit per day?"}]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "chat.completion" and body["choices"][0]["message"]["content"]
    ext = body["teamlore"]
    assert ext["mode"] == "extractive" and ext["citations"] and ext["conversation_id"]
    r = api.post(f"/v1/messages/{ext['message_id']}/feedback", headers=auth(key), json={"rating": -1, "comment": "too long"})
    assert r.status_code == 200
    r = api.post(f"/v1/messages/{ext['message_id']}/feedback", headers=auth(key), json={"rating": 1})
    with session_scope(ws.db_url) as s:
        fb = s.scalars(select(Feedback).where(Feedback.message_id == ext["message_id"])).all()
        assert [(f.rating, f.comment) for f in fb] == [(1, None)]
    other = make_key(ws, "mallory")
    assert api.post(f"/v1/messages/{ext['message_id']}/feedback", headers=auth(other), json={"rating": 1}).status_code == 404
    assert api.get(f"/v1/conversations/{ext['conversation_id']}", headers=auth(other)).status_code == 404
    conv = api.get(f"/v1/conversations/{ext['conversation_id']}", headers=auth(key)).json()
    assert [m["role"] for m in conv["messages"]] == ["user", "assistant"] and conv["messages"][1]["feedback"] == 1


def test_streaming_sse_ends_with_citations_and_done(api, ws):
    key = make_key(ws, "finn")
    with api.stream("POST", "/v1/chat/completions", headers=auth(key),
                    json={"stream": True, "messages": [{"role": "user", "content": "How long is parental leave?"}]}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in r.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert text and chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["teamlore"]["citations"] and sum(1 for c in chunks if c["choices"][0]["delta"].get("content")) >= 2
    # the last chunk names the answerer, as a non-streamed response does ("teamlore" is only what was asked for)
    assert chunks[-1]["model"] == "extractive" and chunks[-1]["teamlore"]["mode"] == "extractive", chunks[-1]


def test_official_openai_client_works_streaming_and_not(api, ws):
    from openai import OpenAI
    key = make_key(ws, "gus")
    client = OpenAI(base_url="http://testserver/v1", api_key=key, http_client=api)
    resp = client.chat.completions.create(model="teamlore",
                                          messages=[{"role": "user", "content": "Where do I request time off?"}])
    assert "PeopleHub" in resp.choices[0].message.content
    assert resp.model_extra["teamlore"]["citations"]
    pieces = [c.choices[0].delta.content or "" for c in client.chat.completions.create(
        model="teamlore", stream=True, messages=[{"role": "user", "content": "Where do I request time off?"}])]
    assert "PeopleHub" in "".join(pieces)
    assert [m.id for m in client.models.list().data][0] == "teamlore"


def test_bad_chat_requests_get_clear_errors(api, ws):
    key = make_key(ws, "hal")
    h = auth(key)
    r = api.post("/v1/chat/completions", headers=h, json={"messages": [{"role": "user", "content": "  "}]})
    assert r.status_code == 400 and r.json()["error"]["code"] == "empty_question"
    r = api.post("/v1/chat/completions", headers=h, json={"messages": []})
    assert r.status_code == 422 and "messages" in r.json()["error"]["message"]
    r = api.post("/v1/chat/completions", headers=h, json={"model": "no-such-model",
                                                          "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"
    r = api.post("/v1/chat/completions", headers=h, json={"messages": [{"role": "system", "content": "x"}]})
    assert r.status_code == 400
    # one answer per request: an OpenAI client asking for n=3 must not get one choice and index past it
    r = api.post("/v1/chat/completions", headers=h, json={"n": 3, "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 422 and r.json()["error"]["message"].startswith("n: "), r.text
    r = api.post("/v1/chat/completions", headers=h, json={"n": 1, "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200 and len(r.json()["choices"]) == 1
    # `curl -d '{...}'` without a JSON content type, and a body that is not JSON: say what to send
    body = '{"messages": [{"role": "user", "content": "hi"}]}'
    r = api.post("/v1/chat/completions", headers={**h, "content-type": "application/x-www-form-urlencoded"},
                 content=body)
    assert r.status_code == 422 and "Content-Type: application/json" in r.json()["error"]["message"], r.text
    r = api.post("/v1/chat/completions", headers={**h, "content-type": "application/json"}, content="hello")
    assert r.status_code == 422 and r.json()["error"]["message"].startswith("the body is not valid JSON"), r.text
    r = api.get("/v1/chat/completions", headers=h)
    assert r.status_code == 405 and r.json()["error"]["type"] == "invalid_request_error"
    # JSON mode cannot be honoured: a client parsing the answer as JSON must hear so, not get prose
    for fmt in ({"type": "json_object"}, {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}):
        r = api.post("/v1/chat/completions", headers=h,
                     json={"response_format": fmt, "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 422 and r.json()["error"]["message"].startswith("response_format.type"), r.text
    r = api.post("/v1/chat/completions", headers=h,
                 json={"response_format": {"type": "text"}, "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200, r.text


def test_search_respects_permissions(api, ws):
    public = make_key(ws, "ivy")
    member = make_key(ws, "lead", slack_user_id=LEADERSHIP_MEMBER)
    q = {"q": "Project Falcon acquisition AGV software", "k": 10}
    seen_public = {h["meta"].get("channel") for h in api.get("/v1/search", params=q, headers=auth(public)).json()}
    seen_member = {h["meta"].get("channel") for h in api.get("/v1/search", params=q, headers=auth(member)).json()}
    assert "leadership" not in seen_public and "leadership" in seen_member
    assert api.get("/v1/search", params={"q": " "}, headers=auth(public)).status_code == 400


def test_generative_mode_with_a_tiny_local_model(ws, tmp_path):
    from app.api.main import create_app
    from tests.model.tiny_llama import build_tiny_llama
    model_dir = build_tiny_llama(tmp_path / "tiny")
    s = ws.model_copy(update={"generator": "transformers", "model_path": str(model_dir), "max_new_tokens": 8})
    with TestClient(create_app(s)) as c:
        key = make_key(s, "gen-user")
        r = c.post("/v1/chat/completions", headers=auth(key),
                   json={"messages": [{"role": "user", "content": "How many days of annual leave do I get?"}]})
        assert r.status_code == 200, r.text
        ext = r.json()["teamlore"]
        assert ext["mode"] == "generative" and ext["model_version"] == str(model_dir)
        # only the [n] the model wrote are citations (an untrained model's text rarely has any)
        import re
        written = {int(n) for n in re.findall(r"\[(\d{1,2})\]", r.json()["choices"][0]["message"]["content"])}
        assert {c["n"] for c in ext["citations"]} <= written
        # the extractive abstention policy applies in generator mode too: weak evidence gets the same "I don't
        # know — the closest sources are …" and the model is not asked (no tokens generated)
        r = c.post("/v1/chat/completions", headers=auth(key),
                   json={"messages": [{"role": "user", "content": "Is there a pet insurance benefit for our dogs?"}]})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["teamlore"]["mode"] == "no_answer", body
        assert body["choices"][0]["message"]["content"].startswith("I don't know — ")
        assert body["teamlore"]["citations"] and all(c["url"] for c in body["teamlore"]["citations"])
        assert body["usage"]["completion_tokens"] == 0
        bad = ws.model_copy(update={"generator": "transformers", "model_path": str(tmp_path / "missing")})
    with TestClient(create_app(bad)) as c:
        r = c.post("/v1/chat/completions", headers=auth(key), json={"messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 503 and r.json()["error"]["code"] == "generator_unavailable"


def test_answer_quality_gate_scores_a_model_beside_extractive(ws, tmp_path):
    """The training gate's answer evaluation on held-out Slack questions, through the real engine."""
    from app.answering.evaluation import token_f1
    from app.workflows.training import evaluate_answers
    from app.services.datasets import build_dataset
    from model.transformers_generator import TransformersGenerator
    from tests.model.tiny_llama import build_tiny_llama
    assert token_f1("You get 25 days of leave [1]", "25 days per year") == 0.5  # {25, days} of 4 each
    assert token_f1("nothing in common", "25 days") == 0.0
    out = build_dataset(ws)
    version = out["version"] if isinstance(out, dict) else out.version
    gen = TransformersGenerator(str(build_tiny_llama(tmp_path / "tiny")), name="tiny")
    report = evaluate_answers(ws, ws.datasets_dir / version, gen, "tiny", limit=3, max_new_tokens=4)
    cand, extr = report["candidate"], report["extractive"]
    assert cand["questions"] == extr["questions"] >= 1
    assert cand["modes"].get("generative", 0) + cand["modes"].get("no_answer", 0) == cand["questions"]
    assert extr["modes"].get("generative", 0) == 0
    # the extractive engine quotes the resolving Slack threads: it must beat a random tiny model on overlap
    assert extr["answer_f1"] > 0.1 and extr["citation_hit_rate"] > 0
    assert extr["answer_f1"] > cand["answer_f1"]


def test_examples_rejected_in_review_are_left_out_of_training(ws, tmp_path):
    import json as _json

    from app.services.datasets import build_dataset, review_example
    from app.workflows.training import _without_rejected
    out = build_dataset(ws)
    version = out["version"] if isinstance(out, dict) else out.version
    folder = ws.datasets_dir / version
    first = _json.loads((folder / "train.jsonl").read_text().splitlines()[0])["id"]
    assert _without_rejected(ws, version, folder, tmp_path / "run0") == (folder, 0)  # nothing rejected: as is
    review_example(ws, version, first, False)
    filtered, dropped = _without_rejected(ws, version, folder, tmp_path / "run1")
    ids = [_json.loads(line)["id"] for line in (filtered / "train.jsonl").read_text().splitlines()]
    before = (folder / "train.jsonl").read_text().splitlines()
    assert dropped == 1 and first not in ids and len(ids) == len(before) - 1
    assert (filtered / "eval" / "heldout.jsonl").is_file()
    assert first in (folder / "train.jsonl").read_text()  # the version itself stays frozen
    review_example(ws, version, first, True)  # accepted again: back in
    assert _without_rejected(ws, version, folder, tmp_path / "run2")[1] == 0


def test_citation_snippet_is_the_passage_as_readable_text():
    """The snippet a user reads under an answer: the template and HTML markup of a Markdown handbook (Jekyll/Liquid
    page links, <br/>) is not shown as typed; Markdown stays for the client to render (safely)."""
    from app.answering.engine import citation_for
    from retrieval.types import SearchHit
    hit = SearchHit(chunk_id=1, score=0.5, title="TTS Travel 101",
                    meta={"origin_kind": "document", "document_id": 7, "path": "pages/travel-101.md"},
                    text='- [Issues with reimbursement]({% page "/travel-and-leave/faq/#x" %}) and the **per diem**'
                         '<br/> rates, see [the GSA site](https://gsa.gov/perdiem).')
    c = citation_for(1, hit)
    assert c.snippet == ("- Issues with reimbursement and the **per diem** rates, see "
                         "[the GSA site](https://gsa.gov/perdiem)."), c.snippet
    assert c.url == "/v1/documents/7/original" and c.file == "travel-101.md"


def test_citation_snippet_of_a_table_has_no_rule_line():
    """Tables (Markdown pages, and DOCX/PPTX/HTML tables as ingested) carry a |---|---| rule: in the one-line
    snippet it read as '| City | Rate | |---|---| | Berlin | 45 |'."""
    from app.answering.engine import citation_for
    from retrieval.types import SearchHit
    hit = SearchHit(chunk_id=1, score=0.5, title="Per diem", meta={"origin_kind": "document", "document_id": 3},
                    text="Rates:\n| City | Rate |\n|---|:---:|\n| Berlin | 45 |\nA - B -- C stays.")
    assert citation_for(1, hit).snippet == "Rates: | City | Rate | | Berlin | 45 | A - B -- C stays."


def test_cut_to_tokens_ends_at_a_word_and_drops_a_half_citation_marker():
    from app.answering.generators import cut_to_tokens
    text = "> Leave is 25 days [12] per year [3]"
    assert cut_to_tokens(text, None, len) == (text, False)
    assert cut_to_tokens(text, len(text), len) == (text, False)
    # a character counter: "[1" of "[12]" would fit, but the cut is at the end of a word
    assert cut_to_tokens(text, len("> Leave is 25 days [1"), len) == ("> Leave is 25 days", True)
    assert cut_to_tokens(text, len("> Leave is 25 days [12]"), len) == ("> Leave is 25 days [12]", True)
    # a first word too long for the cap is cut inside, and a marker it leaves half is dropped
    assert cut_to_tokens("[12] days", 2, len) == ("", True)
    assert cut_to_tokens("Leave-is-long [1]", 5, len) == ("Leave", True)
    assert cut_to_tokens("one two three", 2, None) == ("one two", True)  # no tokenizer: words are counted


def _chat(api, key, stream: bool, **extra) -> tuple[str, str, dict]:
    """(content, finish_reason, the teamlore extension + usage) of one answer."""
    body = {"stream": stream, "messages": [{"role": "user", "content": "What is the meal expense limit per day?"}],
            **extra}
    if not stream:
        r = api.post("/v1/chat/completions", headers=auth(key), json=body)
        assert r.status_code == 200, r.text
        out = r.json()
        return (out["choices"][0]["message"]["content"], out["choices"][0]["finish_reason"],
                {**out["teamlore"], "usage": out["usage"]})
    with api.stream("POST", "/v1/chat/completions", headers=auth(key), json=body) as r:
        assert r.status_code == 200
        chunks = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: {")]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    return text, chunks[-1]["choices"][0]["finish_reason"], {**chunks[-1]["teamlore"], "usage": chunks[-1]["usage"]}


def test_extractive_answers_honour_max_tokens_streaming_and_not(api, ws):
    """max_tokens was ignored by extractive answers (`max_tokens: 1` got the whole quote, finish_reason "stop"):
    the answer is cut to at most that many completion tokens (the usage's tokenizer), finish_reason "length"."""
    key = make_key(ws, "maxine")
    full, finish, ext = _chat(api, key, False)
    n = ext["usage"]["completion_tokens"]
    assert finish == "stop" and n > 8, (full, n)
    assert _chat(api, key, False, max_tokens=n)[:2] == (full, "stop")  # exactly enough: not cut
    for stream in (False, True):
        for field in ("max_tokens", "max_completion_tokens"):
            text, finish, ext = _chat(api, key, stream, **{field: n // 2})
            assert finish == "length" and text and full.startswith(text) and len(text) < len(full), (stream, text)
            assert ext["usage"]["completion_tokens"] <= n // 2 and not re.search(r"\[\d*$", text)
            markers = sorted({int(m) for m in re.findall(r"\[(\d+)\]", text)})
            assert [c["n"] for c in ext["citations"]] == markers  # only what the cut answer still cites
        text, finish, ext = _chat(api, key, stream, max_tokens=1)
        assert finish == "length" and ext["usage"]["completion_tokens"] <= 1, text
