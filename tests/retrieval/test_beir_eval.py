from __future__ import annotations

import json

import pytest

from retrieval.beir import BeirFormatError, load_beir
from retrieval.evaluation import metrics, mrr_at, ndcg_at, recall_at

DOCS = {
    "d1": ("Vitamin D", "Vitamin D deficiency is associated with bone fractures in older adults."),
    "d2": ("Statins", "Statins lower LDL cholesterol and reduce cardiovascular events."),
    "d3": ("Sleep", "Short sleep duration increases the risk of obesity in children."),
    "d4": ("Aspirin", "Low-dose aspirin reduces the risk of colorectal cancer."),
}
QUERIES = {"q1": "Does vitamin D deficiency cause fractures?", "q2": "statins and LDL cholesterol",
           "q3": "aspirin colorectal cancer risk", "q9": "not judged"}


def _beir(tmp_path, qrels="query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\nq3\td4\t1\n"):
    d = tmp_path / "mini"
    (d / "qrels").mkdir(parents=True)
    (d / "corpus.jsonl").write_text("\n".join(json.dumps({"_id": k, "title": t, "text": x})
                                              for k, (t, x) in DOCS.items()))
    (d / "queries.jsonl").write_text("\n".join(json.dumps({"_id": k, "text": v}) for k, v in QUERIES.items()))
    (d / "qrels" / "test.tsv").write_text(qrels)
    return d


def test_metrics_by_hand():
    qrels = {"a": {"x": 1}, "b": {"y": 1, "z": 1}}
    run = {"a": ["w", "x"], "b": ["y"]}
    assert mrr_at(run, qrels) == pytest.approx((0.5 + 1.0) / 2)
    assert recall_at(run, qrels, 10) == pytest.approx((1 + 0.5) / 2)
    assert ndcg_at({"a": ["x"], "b": ["y", "z"]}, qrels) == pytest.approx(1.0)
    assert metrics(run, qrels)["recall@100"] == pytest.approx(0.75)


def test_load_beir_and_errors(tmp_path):
    data = load_beir(_beir(tmp_path))
    assert len(data.corpus) == 4 and set(data.queries) == {"q1", "q2", "q3"}
    with pytest.raises(BeirFormatError, match="train.tsv is missing"):
        load_beir(tmp_path / "mini", "train")
    bad = tmp_path / "bad"
    (bad / "qrels").mkdir(parents=True)
    (bad / "corpus.jsonl").write_text("{not json\n")
    (bad / "queries.jsonl").write_text("")
    (bad / "qrels" / "test.tsv").write_text("")
    with pytest.raises(BeirFormatError, match="not JSON"):
        load_beir(bad)


def test_eval_retrieval_cli(sqlite_settings, tmp_path):
    from typer.testing import CliRunner

    from app.cli import cli
    d = _beir(tmp_path)
    res = CliRunner().invoke(cli, ["eval", "retrieval", str(d), "--backend", "torch"])
    assert res.exit_code == 0, res.output
    assert "rrf" in res.output and "nDCG@10" in res.output
    out = sorted((sqlite_settings.runs_dir / "retrieval_eval").glob("mini-test-*.json"))
    payload = json.loads(out[-1].read_text())
    assert payload["dense"]["ndcg@10"] > 0.9 and payload["rrf"]["recall@10"] == 1.0
    assert payload["rrf"]["latency"]["p50_ms"] > 0
    res = CliRunner().invoke(cli, ["eval", "retrieval", str(tmp_path / "nope")])
    assert res.exit_code == 2 and "not a BEIR folder" in res.output
