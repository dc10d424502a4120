"""Bounded fuzzing of the untrusted-input parsers (the 10-minute runs are benchmarks/fuzz_ingest.py): every input
is parsed or rejected with an IngestError, none crashes, none takes longer than SLOW_S.

Seeded, so the suite is repeatable: unseeded, two of the three full runs of 2026-12-07 each found a new crash
(each fixed, with its own test in tests/ingest); finding new ones is the job of the random, longer benchmark."""
from __future__ import annotations

from tests.reliability.fuzzing import run_documents, run_slack


def test_slack_export_parser_survives_hostile_exports():
    stats = run_slack(deadline_s=12, max_examples=200, seed=20261207)
    assert stats.examples >= 30, stats.summary()
    assert not stats.crashes and not stats.slow, stats.summary()
    assert stats.rejected and stats.accepted  # both paths were exercised


def test_document_loaders_survive_hostile_files():
    stats = run_documents(deadline_s=12, max_examples=400, seed=20261207)
    assert stats.examples >= 50, stats.summary()
    assert not stats.crashes and not stats.slow, stats.summary()
    assert stats.rejected and stats.accepted
