"""The learning loop on the sample workspace with tiny models built here (CPU):

- promote -> the next /v1/chat/completions answer comes from that version's generator (transformers base +
  adapter, no other setting changed); roll back -> extractive again, and it says so; a version asked by name
  answers with that version; /v1/models says who answers;
- the gate: a candidate worse than the live answerer is registered but not promoted, with the reasons and both
  figure sets in GET /v1/model-versions; an admin's forced promotion is in the audit log;
- feedback -> DPO: answers rated and corrected through the API become preference pairs (a new dataset version with
  lineage), the DPO recipe trains on them, and the candidate goes through the same gate.
"""
from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.db import migrate, session_scope
from app.db.models import AuditEvent, DatasetVersion, ModelVersion
from tests.app.conftest import auth, make_key
from tests.app.test_engine import build_workspace

QUESTION = "How many days of annual leave do I get?"


@pytest.fixture(scope="module")
def loop_ws(tmp_path_factory):
    from app.settings import load_settings
    root = tmp_path_factory.mktemp("loop")
    settings = load_settings(data_dir=root / "var", database_url=f"sqlite:///{root / 'var' / 'teamlore.db'}")
    settings = settings.model_copy(update={"max_new_tokens": 6})
    settings.ensure_dirs()
    migrate(settings.db_url)
    build_workspace(settings)
    return settings


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from tests.model.tiny_llama import build_tiny_llama
    return build_tiny_llama(tmp_path_factory.mktemp("tiny") / "base", hidden_size=64)


def _adapter(base, out):
    """A LoRA adapter with non-zero weights, so base + adapter speaks differently from the base alone."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM
    torch.manual_seed(3)
    m = get_peft_model(AutoModelForCausalLM.from_pretrained(base),
                       LoraConfig(r=4, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    m.save_pretrained(out)
    return out


def _register(settings, name, base, adapter, gate=None):
    from app.services import registry
    with session_scope(settings.db_url) as s:
        mv = registry.register_version(s, name=name, base_model=str(base), adapter_path=str(adapter),
                                       metrics={"gate": gate} if gate else {})
        return mv.id


def _ask(c, key, model=None):
    body = {"messages": [{"role": "user", "content": QUESTION}]}
    if model:
        body["model"] = model
    r = c.post("/v1/chat/completions", headers=auth(key), json=body)
    assert r.status_code == 200, r.text
    return r.json()


def test_promoted_version_answers_and_rollback_returns_to_extractive(loop_ws, tiny, tmp_path):
    from app.api.main import create_app
    from app.wiring import build_engine, generator_for
    from retrieval.types import PUBLIC
    assert loop_ws.generator == "auto"  # the default: nothing else is configured below
    vid = _register(loop_ws, "v-tiny", tiny, _adapter(tiny, tmp_path / "ad"))
    with TestClient(create_app(loop_ws)) as c:
        admin, user = make_key(loop_ws, "boss", role="admin"), make_key(loop_ws, "pat")
        before = _ask(c, user)
        assert before["teamlore"]["mode"] == "extractive" and before["model"] == "extractive"
        models = c.get("/v1/models", headers=auth(user)).json()["data"]
        assert models[0]["answered_by"] == "extractive"

        assert c.post(f"/v1/model-versions/{vid}/promote", headers=auth(admin)).json()["status"] == "live"
        after = _ask(c, user)
        ext = after["teamlore"]
        assert ext["mode"] == "generative" and ext["model_version"] == "v-tiny" and after["model"] == "v-tiny"
        # its text is that version's: the same question through v-tiny's own generator (greedy) says the same
        with session_scope(loop_ws.db_url) as s:
            mv = s.get(ModelVersion, vid)
            s.expunge(mv)
        own = build_engine(loop_ws, _Fixed(generator_for(loop_ws, mv))).answer(QUESTION, access=PUBLIC, store=False)
        assert own.model_version == "v-tiny" and after["choices"][0]["message"]["content"] == own.text
        assert c.get("/v1/models", headers=auth(user)).json()["data"][0]["answered_by"] == "v-tiny"

        r = c.post("/v1/model-versions/rollback", headers=auth(admin))
        assert r.status_code == 200 and r.json()["answerer"] == "extractive"
        back = _ask(c, user)
        assert back["teamlore"]["mode"] == "extractive" and back["teamlore"]["model_version"] is None
        # how it was made is in the mode (above), not a notice line in the answer text
        assert back["choices"][0]["message"]["content"].startswith("> ")
        # asked by name, the version answers although it is not live
        named = _ask(c, user, model="v-tiny")
        assert named["teamlore"]["model_version"] == "v-tiny" and named["teamlore"]["mode"] == "generative"
        assert c.post("/v1/model-versions/rollback", headers=auth(admin)).status_code == 409  # nothing live


class _Fixed:
    def __init__(self, choice):
        self.choice = choice

    def choose(self, requested=None):
        return self.choice

    def forget(self):
        pass


def _train_params(loop_ws, tiny, **extra):
    from app.services.datasets import build_dataset
    version = build_dataset(loop_ws)["version"]
    return {"dataset": version, "base": str(tiny), "steps": 2,
            "config": {"tokens_per_step": 512, "micro_batch_tokens": 512, "min_train_examples": 2,
                       "min_train_tokens": 64, "max_seq_len": 512}, **extra}


def test_a_candidate_worse_than_the_live_answerer_is_not_promoted(loop_ws, tiny):
    from app.api.main import create_app
    from app.workflows.training import run_training
    out = run_training(loop_ws, _train_params(loop_ws, tiny, name="worse-1"))
    gate = out["metrics"]["gate"]
    assert out["status"] == "done" and out["promoted"] is False and gate["passed"] is False
    assert gate["compared_with"] == "extractive"
    # a random tiny model cannot match extractive quotes of the resolving threads
    assert gate["candidate"]["answer_f1"] < gate["live"]["answer_f1"]
    assert any(r.startswith("answer F1") and "extractive" in r for r in gate["reasons"])
    with TestClient(create_app(loop_ws)) as c:
        admin = make_key(loop_ws, "boss2", role="admin")
        rows = {v["name"]: v for v in c.get("/v1/model-versions", headers=auth(admin)).json()}
        shown = rows["worse-1"]
        assert shown["status"] == "candidate" and shown["gate"]["passed"] is False and shown["gate"]["reasons"]
        for side in ("candidate", "live"):  # both figure sets, side by side
            assert {"answer_f1", "keyword_hits", "citation_hit_rate", "abstention_rate"} <= set(shown["gate"][side])
        assert "heldout" in shown["metrics"] and shown["metrics"]["heldout"]["candidate"]["loss"] > 0
        r = c.post(f"/v1/model-versions/{shown['id']}/promote", headers=auth(admin))
        assert r.status_code == 409 and r.json()["error"]["code"] == "gate_failed"
        assert "answer F1" in r.json()["error"]["message"]
        r = c.post(f"/v1/model-versions/{shown['id']}/promote", headers=auth(admin),
                   json={"force": True, "reason": "demo for the team"})
        assert r.status_code == 200 and r.json()["status"] == "live"
        assert c.post("/v1/model-versions/rollback", headers=auth(admin)).json()["answerer"] == "extractive"
    with session_scope(loop_ws.db_url) as s:
        ev = s.scalar(select(AuditEvent).where(AuditEvent.action == "model.force_promote"))
        assert ev.target == "worse-1" and ev.details["reason"] == "demo for the team" and ev.details["gate_reasons"]


def test_feedback_becomes_preference_pairs_and_a_dpo_candidate_through_the_gate(loop_ws, tiny):
    from app.api.main import create_app
    from app.workflows.training import run_training
    questions = ["How many days of annual leave do I get?", "How do I submit an expense report?",
                 "What is the VPN setup?", "When is payday?", "How do I request a new laptop?",
                 "Who approves time off?", "Where is the travel policy?", "How do I reset my password?",
                 "What are the office hours?", "How do I book a meeting room?", "Can I work remotely?",
                 "What is the parental leave policy?"]
    with TestClient(create_app(loop_ws)) as c:
        admin, user = make_key(loop_ws, "boss3", role="admin"), make_key(loop_ws, "rater")
        for i, q in enumerate(questions):
            r = c.post("/v1/chat/completions", headers=auth(user),
                       json={"messages": [{"role": "user", "content": q}]})
            mid = r.json()["teamlore"]["message_id"]
            assert c.post(f"/v1/messages/{mid}/feedback", headers=auth(user),
                          json={"rating": -1, "comment": "not what I asked"}).status_code == 200
            r = c.post(f"/v1/admin/messages/{mid}/correction", headers=auth(admin),
                       json={"answer": f"Check the handbook section {i + 1}; HR confirms it within a day."})
            assert r.status_code == 200
        assert c.post("/v1/admin/messages/999999/correction", headers=auth(admin),
                      json={"answer": "x"}).status_code == 404
        assert c.post(f"/v1/admin/messages/{mid}/correction", headers=auth(user),
                      json={"answer": "x"}).status_code == 403
        view = c.get("/v1/admin/feedback", headers=auth(admin)).json()
        assert sum(d["down"] for d in view["per_day"]) >= 2 * len(questions)
        assert view["worst"] and view["worst"][0]["score"] < 0 and "sources" in view["worst"][0]
        # the Retrain API refuses DPO without feedback, and an unknown "since" version
        ds = _train_params(loop_ws, tiny)["dataset"]
        r = c.post("/v1/jobs/train", headers=auth(admin), json={"dataset_version": ds, "recipe": "dpo",
                                                                "base_model": str(tiny)})
        assert r.status_code == 400 and r.json()["error"]["code"] == "feedback_required"
        r = c.post("/v1/jobs/train", headers=auth(admin), json={"dataset_version": ds, "recipe": "dpo",
                                                                "base_model": str(tiny), "feedback_since": "nope"})
        assert r.status_code == 404

    out = run_training(loop_ws, _train_params(loop_ws, tiny, name="dpo-1", recipe="dpo", feedback_since="all",
                                              config={"pairs_per_step": 4, "micro_batch_tokens": 4096,
                                                      "min_train_examples": 2, "lr": 1e-3}))
    assert out["status"] == "done"
    data = out["metrics"]["data"]
    assert data["recipe"] == "dpo" and data["feedback"]["preference_pairs"] == len(questions)
    assert out["metrics"]["gate"]["passed"] in (True, False) and "reasons" in out["metrics"]["gate"]
    assert out["metrics"]["gate"]["candidate"]["questions"] >= 1  # went through the same answer evaluation
    with session_scope(loop_ws.db_url) as s:
        mv = s.scalar(select(ModelVersion).where(ModelVersion.name == "dpo-1"))
        assert mv is not None and mv.adapter_path and mv.metrics["preference"]["pairs"] >= 0
        row = s.scalar(select(DatasetVersion).where(DatasetVersion.version == data["feedback_version"]))
        assert row is not None and row.settings["kind"] == "feedback"
        pairs = [json.loads(line) for sp in ("train", "validation", "test")
                 for line in open(f"{row.path}/preference.{sp}.jsonl") if line.strip()]
    lineage = pairs[0]["meta"]["lineage"]
    assert lineage["message_id"] and lineage["corrected_by"] == "boss3"
    assert {r["user"] for r in lineage["ratings"]} >= {"rater"}
    assert pairs[0]["chosen"][0]["content"].startswith("Check the handbook section")


def test_which_backend_serves_a_version_under_auto(tmp_path):
    """auto: a version is served by vLLM (OpenAI-compatible, adapter per request) when its URL is set, else by
    transformers here; nothing live and no model configured -> extractive. Explicit settings win."""
    from types import SimpleNamespace

    from app.settings import load_settings
    from app.wiring import serving_backend
    base = load_settings(data_dir=tmp_path)
    mv = SimpleNamespace(name="v1", base_model="/m", adapter_path="/a")
    assert serving_backend(base, None) == "extractive" and serving_backend(base, mv) == "transformers"
    vllm = base.model_copy(update={"openai_base_url": "http://vllm:8000/v1"})
    assert serving_backend(vllm, mv) == "openai" and serving_backend(vllm, None) == "openai"
    assert serving_backend(base.model_copy(update={"model_path": "/m"}), None) == "transformers"
    assert serving_backend(base.model_copy(update={"generator": "extractive"}), mv) == "extractive"


MORE_QUESTIONS = ["How many days of annual leave do I get?", "How do I submit an expense report?",
                  "What is the VPN setup?", "When is payday?", "How do I request a new laptop?",
                  "Who approves time off?", "Where is the travel policy?", "How do I reset my password?",
                  "What are the office hours?", "How do I book a meeting room?", "Can I work remotely?",
                  "What is the parental leave policy?", "How do I claim travel costs?", "Who runs onboarding?",
                  "Where do I find the org chart?", "How do I report a security incident?",
                  "What is the sick leave policy?", "How do I get a parking spot?", "Who do I ask about payroll?",
                  "How do I join the on-call rota?", "Where are the brand guidelines?", "How do I order a monitor?",
                  "When are performance reviews?", "How do I change my bank details?"]


def test_dpo_continues_from_the_live_sft_adapter_with_lineage_and_goes_through_the_gate(loop_ws, tiny):
    """Retrain with feedback: the DPO policy starts from the live SFT version's adapter and its reference is that
    adapter, frozen; the lineage names the parent; held-out pairs prefer the corrections more than the parent did;
    the candidate goes through the gate; the API refuses a parent it cannot continue from."""
    from app.answering.engine import AnswerEngine  # noqa: F401
    from app.api.main import create_app
    from app.db.models import Feedback, User
    from app.services import registry
    from app.wiring import build_engine
    from app.workflows.training import TrainingRequestError, run_training
    from retrieval.types import PUBLIC
    sft = run_training(loop_ws, _train_params(loop_ws, tiny, name="sft-parent", steps=4, promote="never"))
    with session_scope(loop_ws.db_url) as s:  # make it live (the tiny model cannot pass the gate honestly)
        registry.promote(s, sft["model_version"]["id"], None, force=True, reason="test: a live SFT parent")
        admin = User(name="corrector", role="admin")
        s.add(admin)
        s.flush()
        admin_id = admin.id
    engine = build_engine(loop_ws)
    # 72 questions none of the other tests ask (feedback pairs are split by a hash of their key: ~7 held out)
    asked = [f"{q[:-1]} {where}?" for where in ("for contractors", "in the Berlin office", "this year")
             for q in MORE_QUESTIONS]
    for i, q in enumerate(asked):
        ans = engine.answer(q, access=PUBLIC, user_id=admin_id)
        with session_scope(loop_ws.db_url) as s:
            s.add(Feedback(message_id=ans.message_id, user_id=admin_id, rating=-1, comment="no",
                           correction=f"Check the handbook section {i + 1}; HR confirms it within a day."))
    with pytest.raises(TrainingRequestError, match="no model version 'ghost'"):
        run_training(loop_ws, _train_params(loop_ws, tiny, recipe="dpo", feedback_since="all", parent="ghost"))
    out = run_training(loop_ws, _train_params(loop_ws, tiny, name="dpo-after-sft", recipe="dpo", steps=16,
                                              feedback_since="all",
                                              config={"pairs_per_step": 8, "micro_batch_tokens": 4096,
                                                      "min_train_examples": 2, "lr": 5e-3}))
    assert out["status"] == "done"
    lineage = out["metrics"]["lineage"]
    assert lineage["parent"] == "sft-parent" and lineage["starts_from"] == "the parent's adapter"
    assert lineage["reference"] == "the parent's adapter, frozen"
    assert lineage["parent_adapter_hash"] == sft["model_version"]["adapter_hash"]
    pref = out["metrics"]["preference"]
    assert pref["reference"] == "parent_adapter" and pref["pairs"] >= 3, pref
    assert pref["policy_margin"] > pref["reference_margin"], pref  # on held-out pairs
    gate = out["metrics"]["gate"]
    assert gate["compared_with"] == "sft-parent" and gate["reasons"] is not None  # gated against the live parent
    assert gate["candidate"]["questions"] >= 1 and out["promoted"] == bool(gate["passed"])
    with TestClient(create_app(loop_ws)) as c:
        key = make_key(loop_ws, "boss4", role="admin")
        rows = {v["name"]: v for v in c.get("/v1/model-versions", headers=auth(key)).json()}
        assert rows["dpo-after-sft"]["parent"] == "sft-parent" and rows["sft-parent"]["parent"] is None
        assert rows["dpo-after-sft"]["lineage"]["reference"] == "the parent's adapter, frozen"
        ds = _train_params(loop_ws, tiny)["dataset"]
        body = {"dataset_version": ds, "recipe": "dpo", "feedback_since": "all"}
        r = c.post("/v1/jobs/train", headers=auth(key), json={**body, "parent_version": "ghost"})
        assert r.status_code == 404 and "continue from" in r.json()["error"]["message"]
        r = c.post("/v1/jobs/train", headers=auth(key), json={**body, "parent_version": "sft-parent",
                                                              "base_model": "/elsewhere/model"})
        assert r.status_code == 422 and r.json()["error"]["code"] == "parent_base_mismatch"
        r = c.post("/v1/jobs/train", headers=auth(key), json={**body, "parent_version": "sft-parent"})
        assert r.status_code == 202, r.text
        assert r.json()["params"]["parent"] == "sft-parent" and r.json()["params"]["base"] == str(tiny)
        c.post(f"/v1/jobs/{r.json()['id']}/cancel", headers=auth(key))
        while c.post("/v1/model-versions/rollback", headers=auth(key)).status_code == 200:
            pass  # leave nothing live for the other tests of this module


def test_the_gate_keeps_extractive_as_a_floor_under_a_weak_live_version():
    """A version forced live past the gate must not lower the bar: a candidate that beats that live version but
    is worse than the extractive answerer is not promoted, and the reason names extractive with both values."""
    from app.answering.evaluation import gate_decision
    fig = lambda f1, kw, cit, ab: {"answer_f1": f1, "keyword_hits": kw, "citation_hit_rate": cit,  # noqa: E731
                                   "abstention_rate": ab}
    answers = {"candidate": fig(0.30, 0.40, 0.50, 0.5), "live": fig(0.05, 0.10, 0.0, 0.0),
               "extractive": fig(0.51, 0.60, 0.80, 0.5)}
    heldout = {"candidate": {"loss": 2.0}, "base": {"loss": 3.0}, "live": {"loss": 2.5}}
    g = gate_decision(answers, heldout, live_name="forced-v1")
    assert not g["passed"]
    assert "answer F1 0.30 is below the extractive answerer's 0.51" in g["reasons"]
    assert not any("forced-v1" in r for r in g["reasons"])  # it does beat the live version
    assert g["compared_with"] == "forced-v1" and g["extractive"]["answer_f1"] == 0.51
    # the same candidate against a live version and an extractive floor it matches or beats: passes
    answers["extractive"] = fig(0.29, 0.40, 0.50, 0.5)
    assert gate_decision(answers, heldout, live_name="forced-v1")["passed"]


def test_a_live_version_whose_files_are_gone_leaves_the_last_good_version_answering(loop_ws, tiny, tmp_path):
    """The live version's adapter folder deleted (disk cleanup, a bad volume): answers come from the version that
    was live before it (what a rollback would choose), say so in `model`, and /v1/models says why — never a 500.
    Asked by name, the broken version is a clear 503."""
    import shutil

    from app.api.main import create_app
    from app.services import registry
    with session_scope(loop_ws.db_url) as s:
        before = registry.live_version(s)
        before = (before.id, before.promoted_at) if before is not None else None
    good = _register(loop_ws, "good-files", tiny, _adapter(tiny, tmp_path / "good"))
    bad = _register(loop_ws, "files-gone", tiny, _adapter(tiny, tmp_path / "gone"))
    try:
        with TestClient(create_app(loop_ws)) as c:
            admin, user = make_key(loop_ws, "boss-files", role="admin"), make_key(loop_ws, "pat-files")
            for vid in (good, bad):
                assert c.post(f"/v1/model-versions/{vid}/promote", headers=auth(admin)).json()["status"] == "live"
            assert _ask(c, user)["model"] == "files-gone"
            shutil.rmtree(tmp_path / "gone")
            c.app.state.generators.forget()  # a restart, or another process that has not loaded it yet
            ans = _ask(c, user)
            assert ans["model"] == "good-files" and ans["teamlore"]["mode"] == "generative"
            card = c.get("/v1/models", headers=auth(user)).json()["data"][0]
            assert card["answered_by"] == "good-files"
            assert "files-gone cannot be loaded" in card["note"] and "good-files answers instead" in card["note"]
            assert str(tmp_path) not in card["note"]  # the server's paths stay in its log
            r = c.post("/v1/chat/completions", headers=auth(user),
                       json={"model": "files-gone", "messages": [{"role": "user", "content": QUESTION}]})
            assert r.status_code == 503 and "files-gone cannot be loaded" in r.json()["error"]["message"]
            assert str(tmp_path) not in r.json()["error"]["message"]
            # good-files gone too: extractive answers, still no error
            shutil.rmtree(tmp_path / "good")
            c.app.state.generators.forget()
            ans = _ask(c, user)
            assert ans["model"] == "extractive" and ans["teamlore"]["mode"] == "extractive"
    finally:  # leave the module's registry as it was
        with session_scope(loop_ws.db_url) as s:
            for vid in (good, bad):
                mv = s.get(ModelVersion, vid)
                mv.status, mv.promoted_at = "retired", None
            if before is not None:
                mv = s.get(ModelVersion, before[0])
                mv.status, mv.promoted_at = "live", before[1]


class _Copier:
    """A "model" that only copies its prompt: the first passage, or the whole prompt."""

    def __init__(self, how):
        self.name, self.how = f"copier-{how}", how

    def stream(self, messages, params, cancel=None):
        import re
        if self.how == "first":
            body = re.search(r'<passage id="1"[^>]*>\n(.*?)\n</passage>', messages[0]["content"], re.S)
            yield (body.group(1) + " [1]") if body else ""
        else:
            yield "\n".join(m["content"] for m in messages)

    def count_tokens(self, text):
        return len(text.split())

    @property
    def context_window(self):
        return 4096


@pytest.mark.parametrize("how", ["first", "whole"])
def test_the_gate_refuses_a_model_that_only_copies_its_prompt(loop_ws, how):
    """Quoting the top passage verbatim beat extractive's F1 and citations on the OLake export (0.48 vs 0.39) and
    passed the gate; copying the whole prompt wrote every keyword and a [1]. Both are refused by name now."""
    from pathlib import Path

    from app.answering.evaluation import gate_decision
    from app.services.datasets import build_dataset
    from app.workflows.training import evaluate_answers
    ds = Path(build_dataset(loop_ws)["path"])
    answers = evaluate_answers(loop_ws, ds, _Copier(how), f"copier-{how}", limit=6)
    cand = answers["candidate"]
    # a majority, not all: run after this module's other tests, 4 of 5 were counted (5 of 5 run alone); the gate's
    # rule is "more than half"
    assert cand["questions"] >= 2 and cand["prompt_copies"] * 2 > cand["questions"]
    assert answers["extractive"]["prompt_copies"] == 0  # extractive quotes by design; only a model is held to it
    gate = gate_decision(answers, None, live_name=answers.get("live_name"))
    assert not gate["passed"]
    assert any("verbatim copies of the prompt" in r for r in gate["reasons"])


def test_copied_share_counts_only_long_verbatim_runs():
    from app.answering.evaluation import copied_share
    src = ["To rotate a secret, open a ticket, update the vault entry, then restart the service that reads it."]
    assert copied_share("Open a ticket, update the vault entry, then restart the service that reads it [1].",
                        src) == 1.0
    assert copied_share("Rotate it through a ticket and the vault, then restart whatever reads it [1].", src) == 0.0
    assert copied_share("Open a ticket [1].", src) == 0.0  # too short to call a copy
