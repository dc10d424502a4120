"""The handbook evaluation set is what it claims to be, and `teamlore eval answers` scores what it says it scores."""
from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from app.answering.quality import (QuestionFileError, has_facts, load_questions, page_matches, summarise)
from tests.conftest import REPO, shared_data

QUESTIONS = REPO / "benchmarks" / "data" / "handbook_questions.jsonl"
FRESH = REPO / "benchmarks" / "data" / "handbook_questions_fresh.jsonl"  # written after the report run: neither tuned nor looked at before
HOLDOUT2 = REPO / "benchmarks" / "data" / "handbook_questions_holdout2.jsonl"  # written (and landed) before the second tuning round
HOLDOUT3 = REPO / "benchmarks" / "data" / "handbook_questions_holdout3.jsonl"  # written (and landed) before the third tuning round
HOLDOUT4 = REPO / "benchmarks" / "data" / "handbook_questions_holdout4.jsonl"  # written (and landed) before the fourth round
HOLDOUT5 = REPO / "benchmarks" / "data" / "handbook_questions_holdout5.jsonl"  # written (and landed) before the fifth round


def _plain(md: str) -> str:
    md = re.sub(r"\]\([^)]*\)", "]", md)
    md = re.sub(r"\\([^\w\s])", r"\1", md).replace("*", "").replace("_", "")
    return " ".join(md.split()).lower()


def test_the_set_is_big_enough_and_stratified():
    qs = load_questions(QUESTIONS)
    assert len(qs) >= 80 and sum(not q.answerable for q in qs) >= 20
    counts = Counter((q.answerable, q.split) for q in qs)
    assert set(q.split for q in qs) == {"tune", "report"}
    for answerable in (True, False):
        assert abs(counts[(answerable, "tune")] - counts[(answerable, "report")]) <= 1
    assert len({q.question.lower() for q in qs}) == len(qs)


@pytest.mark.parametrize("questions", [QUESTIONS, FRESH, HOLDOUT2, HOLDOUT3, HOLDOUT4, HOLDOUT5],
                         ids=["tune-report", "fresh", "holdout2", "holdout3", "holdout4", "holdout5"])
def test_gold_pages_hold_the_key_facts_and_unanswerable_terms_are_absent(questions):
    root = shared_data("docs", "18f-handbook")
    everything = " ".join(p.read_text(encoding="utf-8").lower() for p in root.rglob("*.md"))
    for line in questions.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["answerable"]:
            text = " ".join(_plain((root / g).read_text(encoding="utf-8")) for g in row["gold_pages"])
            for fact in row["key_facts"]:
                assert fact.lower() in text, (row["id"], fact)
        else:
            assert row["absent"], row["id"]
            for term in row["absent"]:
                assert term.lower() not in everything, (row["id"], term)


def test_bad_question_files_get_a_clear_error(tmp_path: Path):
    bad = tmp_path / "q.jsonl"
    bad.write_text('{"question": "a"}\nnot json\n')
    with pytest.raises(QuestionFileError, match=r"q.jsonl:1: an answerable question needs gold_pages"):
        load_questions(bad)
    bad.write_text('{"question": "a", "gold_pages": ["x.md"]}\nnot json\n')
    with pytest.raises(QuestionFileError, match=r":2: not JSON"):
        load_questions(bad)
    with pytest.raises(QuestionFileError, match="no such file"):
        load_questions(tmp_path / "missing.jsonl")


def test_scoring_rules():
    assert has_facts("You can carry over **240** hours [1]", ["240 hours"])  # markup does not hide a fact
    assert has_facts("You can carry over 240 hours [1]", ["240 hours"])
    assert has_facts("It’s 3–5 business days", ["it's 3-5 business days"])
    assert not has_facts("anything", [])
    assert page_matches("/data/handbook/pages/leave.md", "pages/leave.md")
    assert not page_matches("/data/handbook/pages/sick-leave.md", "leave.md")
    rows = [{"answerable": True, "cited_at_3": True, "key_fact_hit": False, "abstained": False, "total_ms": 10},
            {"answerable": True, "cited_at_3": False, "key_fact_hit": False, "abstained": True, "total_ms": 30},
            {"answerable": False, "cited_at_3": False, "key_fact_hit": False, "abstained": True, "total_ms": 20}]
    s = summarise(rows)
    assert (s["cited_at_3"], s["key_fact_hit"], s["abstention"], s["false_abstention"]) == (0.5, 0.0, 1.0, 0.5)
    assert s["latency_ms_p50"] == 20.0


def test_eval_answers_command_ingests_indexes_and_scores(tmp_path: Path, monkeypatch):
    """`teamlore eval answers` end to end on a two-page corpus: ingest + index into the given data directory, ask
    through the real engine, print the measures per split; a bad file is a clear error, not a traceback."""
    from typer.testing import CliRunner

    from app.cli import cli
    docs = tmp_path / "docs" / "pages"
    docs.mkdir(parents=True)
    (docs / "leave.md").write_text("# Leave\n\n## Annual leave\n\nEvery employee gets 25 days of annual leave per "
                                   "year. Unused days can be carried over until 31 March.\n", encoding="utf-8")
    (docs / "travel.md").write_text("# Travel\n\nBook flights in Concur at least 14 days ahead. Hotels must stay "
                                    "under the per diem rate.\n", encoding="utf-8")
    qs = tmp_path / "q.jsonl"
    qs.write_text("\n".join(json.dumps(r) for r in [
        {"question": "how many vacation days do we get", "gold_pages": ["pages/leave.md"], "key_facts": ["25 days"],
         "split": "report"},
        {"question": "how early do i book flights?", "gold_pages": ["pages/travel.md"], "key_facts": ["14 days"],
         "split": "report"},
        {"question": "is there a pet insurance benefit", "answerable": False, "split": "report"}]) + "\n")
    runner = CliRunner()
    data = tmp_path / "var"
    out = tmp_path / "report.json"
    r = runner.invoke(cli, ["eval", "answers", str(qs), "--docs", str(tmp_path / "docs"), "--data-dir", str(data),
                            "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "cited@3" in r.output and "report" in r.output
    report = json.loads(out.read_text())
    s = report["splits"]["report"]
    assert s["questions"] == 3 and s["cited_at_3"] == 1.0 and s["key_fact_hit"] == 1.0
    assert s["abstention"] == 1.0 and s["false_abstention"] == 0.0
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    r = runner.invoke(cli, ["eval", "answers", str(bad), "--data-dir", str(data)])
    assert r.exit_code == 2 and "not JSON" in r.output


def test_holdout2_is_big_enough_and_new():
    """holdout2 is the held-out set for the second tuning round: ≥ 30 questions, ≥ 20 answerable, ≥ 10 not,
    and no question repeats one of the sets that were tuned on."""
    qs = load_questions(HOLDOUT2)
    assert len(qs) >= 30 and sum(q.answerable for q in qs) >= 20 and sum(not q.answerable for q in qs) >= 10
    assert {q.split for q in qs} == {"holdout2"}
    seen = {q.question.lower() for q in load_questions(QUESTIONS) + load_questions(FRESH)}
    assert not seen & {q.question.lower() for q in qs}


@pytest.mark.parametrize("path,earlier_sets,min_ans,min_una", [
    (HOLDOUT3, [QUESTIONS, FRESH, HOLDOUT2], 30, 15), (HOLDOUT4, [QUESTIONS, FRESH, HOLDOUT2, HOLDOUT3], 20, 10),
    (HOLDOUT5, [QUESTIONS, FRESH, HOLDOUT2, HOLDOUT3, HOLDOUT4], 40, 15)],
    ids=["holdout3", "holdout4", "holdout5"])
def test_later_holdouts_are_big_enough_and_new(path, earlier_sets, min_ans, min_una):
    """holdout3, holdout4 and holdout5 are the held-out sets of the third, fourth and fifth tuning rounds: big enough, mostly
    answerable (like the 55/5 hidden set), and neither their questions nor their key facts on the same page repeat an
    earlier set's."""
    qs = load_questions(path)
    n_ans = sum(q.answerable for q in qs)
    assert n_ans >= min_ans and len(qs) - n_ans >= min_una and n_ans > 2 * (len(qs) - n_ans)
    assert {q.split for q in qs} == {path.stem.rsplit("_", 1)[-1]}
    earlier = [q for e in earlier_sets for q in load_questions(e)]
    assert not {q.question.lower() for q in earlier} & {q.question.lower() for q in qs}
    old_facts = {(g, f.lower()) for q in earlier for g in q.gold_pages for f in q.key_facts}
    assert not old_facts & {(g, f.lower()) for q in qs for g in q.gold_pages for f in q.key_facts}


def test_the_opt_in_abstention_policies_are_set_through_teamlore_variables(tmp_path, monkeypatch):
    """The round-3/4 policies of BENCHMARKS.md are turned on by TEAMLORE_ANSWER_* variables alone (the default keeps
    them off), and a bad value is a clear settings error."""
    from app.settings import SettingsError, load_settings
    from app.wiring import extractive_weights
    monkeypatch.chdir(tmp_path)
    default = extractive_weights(load_settings())
    assert (default.focus_weight, default.normalise, default.abstain_below) == (0.0, False, 0.562)
    for k, v in {"FOCUS_WEIGHT": "0.416", "FOCUS_TERMS": "2", "FOCUS_OF": "picked", "NORMALISE": "true",
                 "ABSTAIN_BELOW": "0.3334"}.items():
        monkeypatch.setenv(f"TEAMLORE_ANSWER_{k}", v)
    w = extractive_weights(load_settings())
    assert (w.focus_weight, w.focus_terms, w.focus_of, w.normalise, w.abstain_below) == (0.416, 2, "picked", True,
                                                                                          0.3334)
    monkeypatch.setenv("TEAMLORE_ANSWER_FOCUS_OF", "everywhere")
    with pytest.raises(SettingsError, match="TEAMLORE_ANSWER_FOCUS_OF"):
        load_settings()


def test_chat_terms_setting_reaches_retrieval_and_sentence_scoring(tmp_path, monkeypatch):
    """TEAMLORE_QUERY_CHAT_TERMS (on by default since holdout5): the search query has chat shorthand spelled out and
    place abbreviations followed by their names; the extractive answerer scores with the shorthand spelled out.
    Off: the query as typed."""
    from app.answering.engine import AnswerEngine
    from app.settings import load_settings
    from app.wiring import chat_expander
    from retrieval.chat_terms import expand_chat
    from retrieval.types import PUBLIC

    class Recorder:
        def __init__(self):
            self.queries = []

        def search(self, query, k=5, access=None, filters=None):
            self.queries.append(query)
            return []

    monkeypatch.chdir(tmp_path)
    rec = Recorder()
    on = load_settings()
    assert on.query_chat_terms is True and chat_expander(on) is expand_chat
    AnswerEngine(on, lambda: rec, generators=None).retrieve("nyc office hrs tmrw?", PUBLIC)
    monkeypatch.setenv("TEAMLORE_QUERY_CHAT_TERMS", "false")
    off = load_settings()
    assert chat_expander(off) is None
    AnswerEngine(off, lambda: rec, generators=None).retrieve("nyc office hrs tmrw?", PUBLIC)
    assert rec.queries == ["nyc new york city office hours tomorrow?", "nyc office hrs tmrw?"]
