"""Masking by default, end to end: planted personal data and secrets in a Slack export and a document never reach
the database (any table, any column), the files of the search index, search results or answers; decoys
(versions, timestamps, ports) stay readable."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import MetaData, create_engine, select

from app.db import migrate
from retrieval.types import PUBLIC

PLANTED = {
    "email": "lena.park@acme.example",
    "phone_uk": "07911 123456",
    "phone_de": "0171 3456789",
    "phone_in": "98860 43217",
    "iban": "DE89 3704 0044 0532 0130 00",
    "ssn": "536-90-4399",
    "card": "5425 2334 3010 9903",
    "ipv4": "10.20.30.40",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "bearer": "3f786850e387550fdab836ed7e6dc881de23001b",
}
DECOYS = ["1.2.3.4-rc", "olake-ui 2.10.0.1", "Logs-2026-06-08 13_34_09.txt", "localhost:8000"]


def _export(root):
    root.mkdir(parents=True)
    (root / "users.json").write_text(json.dumps([
        {"id": "U1", "name": "lena", "profile": {"display_name": "Lena"}},
        {"id": "U2", "name": "omar", "profile": {"display_name": "Omar", "title": "Support engineer"}}]))
    (root / "channels.json").write_text(json.dumps([{"id": "C1", "name": "help", "members": ["U1", "U2"]}]))
    (root / "help").mkdir()
    t = 1704100000
    texts = [
        ("U1", f"The billing sync fails after upgrading to olake-ui 2.10.0.1 and 1.2.3.4-rc. My card on file is "
               f"{PLANTED['card']}, mail me at {PLANTED['email']} or call {PLANTED['phone_uk']}."),
        ("U2", f"Billing sync: curl -H 'Authorization: Bearer {PLANTED['bearer']}' against localhost:8000 and "
               f"check Logs-2026-06-08 13_34_09.txt; the worker at {PLANTED['ipv4']} retries."),
        ("U1", f"Billing sync refunds go to IBAN {PLANTED['iban']}; my German mobile {PLANTED['phone_de']}, "
               f"Bangalore office {PLANTED['phone_in']}."),
        ("U2", f"Billing sync token for the test was {PLANTED['jwt']} and the contractor SSN is {PLANTED['ssn']}."),
    ]
    day = [{"type": "message", "user": u, "ts": f"{t + i * 60}.000100", "text": x,
            **({"thread_ts": f"{t}.000100"} if i else {})} for i, (u, x) in enumerate(texts)]
    (root / "help" / "2024-01-01.json").write_text(json.dumps(day))
    return root


def _document(folder):
    folder.mkdir()
    (folder / "billing.md").write_text(
        "# Billing sync runbook\n\nEscalate billing sync failures to " + PLANTED["email"] + " or "
        + PLANTED["phone_uk"] + ". Refunds: IBAN " + PLANTED["iban"] + ". Tested with olake-ui 2.10.0.1.\n")
    return folder


def _leaks(text: str) -> list[str]:
    squashed = text.replace(" ", "")
    return [k for k, v in PLANTED.items() if v in text or (len(v.replace(" ", "")) >= 10 and
                                                           v.replace(" ", "") in squashed)
            or any(part in text for part in v.split(".") if len(part) >= 20)]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    from app.services.indexing import sync_index
    from app.services.ingestion import ingest_documents, ingest_slack_export
    from app.settings import load_settings
    root = tmp_path_factory.mktemp("mask")
    settings = load_settings(data_dir=root / "var", database_url=f"sqlite:///{root / 'var' / 'teamlore.db'}")
    settings.ensure_dirs()
    migrate(settings.db_url)
    ingest_slack_export(settings, _export(root / "export"), source_name="planted")
    ingest_documents(settings, [_document(root / "docs")], source_name="planted-docs")
    sync_index(settings)
    return settings


def test_no_planted_item_in_any_database_column(workspace):
    engine = create_engine(workspace.db_url)
    meta = MetaData()
    meta.reflect(engine)
    found, decoys = [], set()
    with engine.connect() as c:
        for table in meta.sorted_tables:
            for row in c.execute(select(table)):
                blob = json.dumps([v if isinstance(v, (str, int, float, type(None))) else str(v) for v in row])
                blob = json.loads(json.dumps(blob))
                found += [(table.name, k) for k in _leaks(blob)]
                decoys |= {d for d in DECOYS if d in blob}
    engine.dispose()
    assert found == []
    assert decoys == set(DECOYS)  # versions, file names with timestamps and ports are not masked away


def test_no_planted_item_in_the_index_files(workspace):
    leaked = []
    for f in workspace.data_dir.rglob("*"):
        if f.is_file() and f.suffix != ".db":
            data = f.read_bytes().decode("utf-8", errors="ignore")
            leaked += [(f.name, k) for k in _leaks(data)]
    assert leaked == []


def test_search_results_and_answers_are_masked(workspace):
    from app.wiring import extractive_choice, fixed_engine, searcher_for
    hits = searcher_for(workspace).search("billing sync card IBAN refunds token", k=10, access=PUBLIC)
    assert hits
    text = " ".join(str(getattr(h, "text", h)) for h in hits)
    assert _leaks(text) == [] and ("[EMAIL]" in text or "[IBAN]" in text)
    engine = fixed_engine(workspace, extractive_choice(workspace))
    for q in ("Where do billing sync refunds go?", "How do I reach Lena about the billing sync?",
              "Which token was used for the billing sync test?"):
        result = engine.answer(q, access=PUBLIC)
        shown = result.text + " ".join(f"{c.title} {c.snippet}" for c in result.citations)
        assert _leaks(shown) == [], (q, shown)
