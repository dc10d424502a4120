"""Training runs: LoRA SFT (recipe "sft") or DPO on feedback pairs (recipe "dpo") of the configured base model
(or pretraining when there is none) on a dataset version — optionally with the team's feedback since a model
version folded in as a new dataset version — with checkpoints under runs/<run id>/, per-step metrics in the
database, and the evaluation gate: the candidate beside the live answerer (the live version, or extractive) on the
same held-out questions. Every result is registered; one that passes the gate is promoted (promote="if_better"),
one that does not stays a candidate with the gate's reasons and figures (an admin may still force it).

Called by the job worker (app/workflows/jobs.py) and directly (tests, `teamlore train`).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from sqlalchemy import delete, select

from app.db import session_scope
from app.db.jsonvalues import jsonable
from app.db.models import DatasetVersion, Job, ModelVersion, TrainingMetric
from app.services.registry import live_version, register_version
from app.settings import Settings

log = logging.getLogger(__name__)

# params accepted by run_training besides `config` (free-form recipe options, checked by the recipe's dataclass)
PARAMS = {"dataset", "base", "name", "steps", "epochs", "deployment", "pretrain", "size", "config", "evaluate",
          "recipe", "feedback_since", "include_private_feedback", "promote", "adapt_retriever", "parent"}
RECIPES = ("sft", "dpo")


class TrainingRequestError(ValueError):
    """The request cannot run as given; the message says why."""


# A model version's name is its folder under models/ (and its `model` id in the API): one plain path component.
# "." or ".." or "/etc" named a folder that the finished run *replaced* — "." all of models/, ".." the data directory.
VERSION_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$"


def check_version_name(name: str) -> str:
    if not re.fullmatch(VERSION_NAME, name):
        raise TrainingRequestError(f"model version name {name[:100]!r}: use letters, digits, '.', '_' and '-', "
                                   "starting with a letter or digit, at most 200 characters (it names the version's "
                                   "folder under models/)")
    return name


def _dataset_dir(settings: Settings, version: str) -> Path:
    d = settings.datasets_dir / version
    if d.is_dir():
        return d
    with session_scope(settings.db_url) as s:
        row = s.scalar(select(DatasetVersion).where(DatasetVersion.version == version))
        if row is not None and Path(row.path).is_dir():
            return Path(row.path)
    have = sorted(p.name for p in settings.datasets_dir.iterdir()) if settings.datasets_dir.is_dir() else []
    raise TrainingRequestError(f"dataset version {version!r} not found under {settings.datasets_dir} "
                               f"(available: {', '.join(have) or 'none'}); build one with `teamlore dataset build`")


def _without_rejected(settings: Settings, version: str, dataset_dir: Path, run_dir: Path) -> tuple[Path, int]:
    """Examples an admin rejected in the review are left out: train on a filtered copy (the version stays frozen)."""
    from app.services.datasets import rejected_examples
    try:
        rejected = rejected_examples(settings, version)
    except LookupError:  # a dataset folder not built by Teamlore (no version row): nothing was reviewed
        rejected = set()
    if not rejected:
        return dataset_dir, 0
    out, dropped = run_dir / "dataset", 0
    tmp = run_dir / "dataset.tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    for split in ("train.jsonl", "validation.jsonl", "test.jsonl"):
        src = dataset_dir / split
        if not src.is_file():
            continue
        kept = []
        for line in src.read_text(encoding="utf-8").splitlines():
            if line.strip() and json.loads(line).get("id") in rejected:
                dropped += 1
                continue
            kept.append(line)
        (tmp / split).write_text("\n".join(kept) + ("\n" if kept else ""), encoding="utf-8")
    if (dataset_dir / "eval").is_dir():
        shutil.copytree(dataset_dir / "eval", tmp / "eval", dirs_exist_ok=True)
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    log.info("left out %d rejected example(s) of dataset %s", dropped, version)
    return out, dropped


def resolve_parent(settings: Settings, params: dict, recipe: str, deployment: str) -> tuple[dict | None, str | None]:
    """The version a run continues from -> ({name, id, base_model, adapter_path, adapter_hash} or None, note).

    params["parent"]: a model version name, "live" (the deployment's live version) or "none" (a new adapter on the
    base model). Unset: "live" for the dpo recipe (DPO after SFT: the policy starts from the served adapter and the
    reference is that adapter, frozen), "none" for sft. An implicit parent that cannot be continued (nothing live,
    another base model, its files gone) falls back to a new adapter with a note; a named one is an error."""
    want = params.get("parent")
    implicit = want is None
    if implicit:
        want = "live" if recipe == "dpo" else "none"
    want = str(want)
    if want == "none":
        return None, None
    with session_scope(settings.db_url) as s:
        mv = live_version(s, deployment) if want == "live" else \
            s.scalar(select(ModelVersion).where(ModelVersion.name == want))
        if mv is None:
            if want == "live":
                return None, "no version is live: started a new adapter on the base model"
            raise TrainingRequestError(f"no model version {want!r} to continue from")
        info = {"name": mv.name, "id": mv.id, "base_model": mv.base_model, "adapter_path": mv.adapter_path,
                "adapter_hash": mv.adapter_hash}
    problem = None
    base = params.get("base")
    if base and str(base) != info["base_model"]:
        problem = (f"version {info['name']} adapts {info['base_model']}, not the requested base {base}")
    elif info["adapter_path"] and not Path(info["adapter_path"]).is_dir():
        problem = f"version {info['name']}'s adapter folder {info['adapter_path']} is gone"
    elif not info["adapter_path"] and not Path(info["base_model"]).is_dir():
        problem = f"version {info['name']}'s model folder {info['base_model']} is gone"
    if problem:
        if implicit:
            return None, f"{problem}: started a new adapter on the base model"
        raise TrainingRequestError(f"cannot continue from {info['name']}: {problem}")
    return info, None


def dir_hash(path: Path) -> str:
    """sha256 over the relative names and bytes of every file: identifies an adapter/model exactly."""
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(path)).encode())
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def run_training(settings: Settings, params: dict, *, job_id: int | None = None,
                 on_metrics: Callable[[int, dict], None] | None = None,
                 should_cancel: Callable[[], bool] | None = None) -> dict:
    """Run one training job end to end; returns a summary dict (status, model_version, metrics, run_dir).

    params: dataset (version, required), base (model dir/hub id; default settings.model_path; none -> pretrain),
    name (model version name), steps, epochs, deployment, pretrain (bool), size (pretrain preset),
    config (dict of recipe options, e.g. {"lr": 1e-4, "lora_r": 32}), evaluate (default True), recipe (sft|dpo),
    feedback_since (a version name or "all"), parent (a version name, "live" or "none": the adapter to continue
    from, see resolve_parent; recorded in metrics["lineage"]).
    A job that has a checkpoint in runs/job-<id>/ resumes from it."""
    from finetune.checkpoint import atomic_copy_dir, latest
    from finetune.config import LoraSFTConfig, PretrainConfig, from_dict

    unknown = sorted(set(params) - PARAMS)
    if unknown:
        raise TrainingRequestError(f"unknown training parameter(s): {', '.join(unknown)}; "
                                   f"known: {', '.join(sorted(PARAMS))}")
    if params.get("name") is not None:
        check_version_name(str(params["name"]))  # before any work
    version = params.get("dataset")
    if not version:
        raise TrainingRequestError("params.dataset (a dataset version) is required")
    dataset_dir = _dataset_dir(settings, str(version))
    recipe = params.get("recipe") or "sft"
    if recipe not in RECIPES:
        raise TrainingRequestError(f"unknown recipe {recipe!r}; choose one of {', '.join(RECIPES)}")
    deployment = params.get("deployment", "default")
    parent, parent_note = resolve_parent(settings, params, recipe, deployment)
    # a parent fixes the base model: its adapter continues on the model it was trained on (a pretrained version's
    # own model gets a new adapter)
    base = parent["base_model"] if parent else \
        (params.get("base") or (None if params.get("pretrain") else settings.model_path))
    settings.ensure_dirs()
    run_id = f"job-{job_id}" if job_id is not None else \
        f"run-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
    run_dir = settings.runs_dir / run_id
    kind = "dpo" if params.get("recipe") == "dpo" else ("lora" if base else "pretrain")
    name = check_version_name(params.get("name") or f"{kind}-{version}-{run_id}")  # the default, too
    dataset_dir, dropped = _without_rejected(settings, str(version), dataset_dir, run_dir)
    if params.get("promote", "if_better") not in ("if_better", "never"):
        raise TrainingRequestError("promote must be 'if_better' (promote when the gate passes) or 'never'")
    if recipe == "dpo" and not base:
        raise TrainingRequestError("the dpo recipe adapts a base model: set base (or TEAMLORE_MODEL_PATH)")
    feedback_since = params.get("feedback_since")
    if recipe == "dpo" and feedback_since is None:
        raise TrainingRequestError("the dpo recipe trains on preference pairs from feedback: set feedback_since "
                                   "(a model version name, or 'all')")
    data_used: dict[str, Any] = {"dataset": str(version), "rejected_examples_left_out": dropped, "recipe": recipe,
                                 "parent": parent["name"] if parent else None}
    lineage: dict[str, Any] = {
        "parent": parent["name"] if parent else None, "parent_id": parent["id"] if parent else None,
        "parent_adapter_hash": parent["adapter_hash"] if parent else None,
        "starts_from": ("the parent's adapter" if parent and parent["adapter_path"] else
                        "a new adapter on the parent's model" if parent else
                        ("a new adapter on the base model" if base else "a new model (pretraining)")),
        "reference": (None if recipe != "dpo" else
                      "the parent's adapter, frozen" if parent and parent["adapter_path"] else
                      "the parent's model" if parent else "the base model")}
    if parent_note:
        lineage["note"] = parent_note
    if feedback_since is not None:
        # feedback since version X (or all of it) over the chosen dataset version: a new, recorded dataset version
        from app.services.feedback import FeedbackBuildError, build_feedback_dataset
        try:
            fb = build_feedback_dataset(settings, base_version=str(version), base_dir=dataset_dir,
                                        since_version=None if feedback_since == "all" else str(feedback_since),
                                        include_private=bool(params.get("include_private_feedback", False)))
        except LookupError as exc:
            raise TrainingRequestError(str(exc)) from None
        except FeedbackBuildError as exc:
            raise TrainingRequestError(str(exc)) from None
        dataset_dir = Path(fb["path"])
        data_used.update(feedback_version=fb["version"], feedback_since=feedback_since,
                         feedback=fb["stats"].get("counts", {}), feedback_splits=fb["stats"].get("splits", {}))

    if job_id is not None:
        with session_scope(settings.db_url) as s:
            done = s.scalar(select(ModelVersion).where(ModelVersion.job_id == job_id))
            if done is not None:  # the job registered its model before the worker died: nothing left to do
                return {"status": "done", "model_version": {"id": done.id, "name": done.name},
                        "metrics": done.metrics, "run_dir": str(run_dir), "already_registered": True}
            # Steps after the last checkpoint are replayed on resume: drop their rows so they are not doubled.
            found = latest(run_dir / "checkpoints")
            resume_step = int(found.name.split("-")[1]) if found else 0
            s.execute(delete(TrainingMetric).where(TrainingMetric.job_id == job_id,
                                                   TrainingMetric.step > resume_step))

    def metrics_cb(m: dict) -> None:
        values = jsonable({k: v for k, v in m.items() if k != "step"})
        if job_id is not None:
            with session_scope(settings.db_url) as s:
                s.add(TrainingMetric(job_id=job_id, step=int(m["step"]), values=values))
        if on_metrics is not None:
            on_metrics(int(m["step"]), values)

    common = {"output_dir": str(run_dir), "max_steps": params.get("steps"), "epochs": params.get("epochs", 1.0)}
    overrides = dict(params.get("config") or {})
    if parent and parent["adapter_path"]:
        overrides["init_adapter"] = parent["adapter_path"]
    if recipe == "dpo":
        from finetune.recipes import dpo
        cfg = from_dict(dpo.DPOConfig, {**common, "base_model": str(base), "dataset_dir": str(dataset_dir),
                                        **overrides})
        try:
            summary = dpo.run(cfg, on_metrics=metrics_cb, should_cancel=should_cancel)
        except ValueError as exc:  # DatasetError: too few pairs and the like
            raise TrainingRequestError(str(exc)) from None
        artefact = Path(summary["adapter_dir"]) if summary["status"] == "done" else None
    elif base:
        from finetune.recipes import lora_sft
        cfg = from_dict(LoraSFTConfig, {**common, "base_model": str(base), "dataset_dir": str(dataset_dir),
                                        **overrides})
        summary = lora_sft.run(cfg, on_metrics=metrics_cb, should_cancel=should_cancel)
        artefact = Path(summary["adapter_dir"]) if summary["status"] == "done" else None
    else:
        from finetune.recipes import pretrain
        cfg = from_dict(PretrainConfig, {**common, "corpus": [str(dataset_dir / "train.jsonl")],
                                         "size": params.get("size", "auto"), **overrides})
        summary = pretrain.run(cfg, on_metrics=metrics_cb, should_cancel=should_cancel)
        artefact = Path(summary["model_dir"]) if summary["status"] == "done" else None

    result = {"status": summary["status"], "run_dir": str(run_dir), "steps": summary["steps"],
              "final_loss": summary["final_loss"], "alerts": summary["alerts"],
              "resumed_from": summary["resumed_from"], "setup": summary["setup"]}
    if summary["status"] != "done":
        return jsonable(result)

    metrics: dict[str, Any] = {"rejected_examples_left_out": dropped, "final_train_loss": summary["final_loss"], "steps": summary["steps"],
                               "tokens": summary["tokens"], "setup": summary["setup"], "alerts": summary["alerts"]}
    if "eval" in summary:
        metrics["validation"] = summary["eval"]
    if "sizing" in summary:
        metrics["sizing"] = summary["sizing"]
    if "preference_eval" in summary:
        metrics["preference"] = summary["preference_eval"]
    metrics["data"] = data_used
    metrics["lineage"] = lineage

    if base and params.get("evaluate", True):
        # The gate: the frozen held-out split, candidate vs the bare base model and the current live version.
        from finetune.evaluate import compare
        adapters = {"candidate": artefact}
        with session_scope(settings.db_url) as s:
            live = live_version(s, deployment)
            live_info = (live.name, live.base_model, live.adapter_path) if live is not None else None
        if live_info and live_info[2] and live_info[1] == str(base) and Path(live_info[2]).is_dir():
            adapters["live"] = Path(live_info[2])
        gate = compare(str(base), dataset_dir, adapters, split="test", max_seq_len=cfg.max_seq_len)
        if live_info:
            gate["live_name"] = live_info[0]
            if "live" not in gate:
                gate["live_note"] = "live version has a different base model or no adapter; not compared"
        cand, ref = gate["candidate"]["loss"], gate["base"]["loss"]
        gate["improves_on_base"] = cand is not None and ref is not None and cand < ref
        if "live" in gate:
            gate["improves_on_live"] = cand is not None and cand < gate["live"]["loss"]
        metrics["heldout"] = gate

    if params.get("evaluate", True):
        # Answer quality through the real answer engine on the held-out Slack questions, beside the live answerer
        # (the live version, or extractive when none is live), then the gate's verdict.
        from app.answering.evaluation import gate_decision
        from model.transformers_generator import TransformersGenerator
        # cpu_threads=None: one evaluation at a time in the worker; keep torch's threads for the training after it
        gen = (TransformersGenerator(str(base), adapter_path=str(artefact), name=name, cpu_threads=None) if base
               else TransformersGenerator(str(artefact), name=name, cpu_threads=None))
        metrics["answers"] = evaluate_answers(settings, dataset_dir, gen, name, deployment=deployment)
        del gen
        metrics["gate"] = gate_decision(metrics["answers"], metrics.get("heldout"),
                                        live_name=metrics["answers"].get("live_name"))
    else:
        metrics["gate"] = {"passed": False, "reasons": ["not evaluated (evaluate=false)"], "compared_with": None}

    dest = settings.models_dir / name
    with session_scope(settings.db_url) as s:
        if s.scalar(select(ModelVersion).where(ModelVersion.name == name)) is not None:
            raise TrainingRequestError(f"a model version named {name!r} exists already; pass another name")
    atomic_copy_dir(artefact, dest)
    digest = dir_hash(dest)
    with session_scope(settings.db_url) as s:
        if job_id is not None and s.get(Job, job_id) is None:
            job_ref = None  # called with a job id the database does not know (direct use): keep the row valid
        else:
            job_ref = job_id
        mv = register_version(s, name=name, deployment=deployment, base_model=str(base) if base else str(dest),
                              adapter_path=str(dest) if base else None, adapter_hash=digest,
                              dataset_version=str(version), job_id=job_ref, metrics=jsonable(metrics))
        result["model_version"] = {"id": mv.id, "name": mv.name, "path": str(dest), "adapter_hash": digest}
        mv_id = mv.id
    result["metrics"] = metrics
    result["data"] = data_used
    result["lineage"] = lineage
    result["promoted"] = False
    if params.get("promote", "if_better") == "if_better" and metrics["gate"].get("passed"):
        result["promoted"] = promote_if_servable(settings, mv_id)
    if params.get("adapt_retriever"):
        # the retriever too: adapted on the team's own (question -> answer) pairs, published only if it retrieves
        # better on a held-out split of them
        from app.services.embedding_adaptation import adapt_and_publish
        from retrieval.adaptation import AdaptationError
        try:
            decision = adapt_and_publish(settings)
            data_used["retriever"] = {k: decision.get(k) for k in ("kept", "reason", "train_pairs", "heldout_pairs",
                                                                   "base", "adapted", "index_version", "pairs")}
        except AdaptationError as exc:
            data_used["retriever"] = {"kept": False, "reason": str(exc)}
    return jsonable(result)


def promote_if_servable(settings: Settings, version_id: int) -> bool:
    """Promote a version that passed the gate: load its adapter into vLLM first when an OpenAI-compatible server
    answers (as the admin's promote does), so the registry never says live for a version nothing can serve."""
    from app.services import registry
    from app.wiring import serving_backend
    with session_scope(settings.db_url) as s:
        mv = s.get(ModelVersion, version_id)
        try:
            if serving_backend(settings, mv) == "openai" and mv.adapter_path:
                from model.vllm_admin import load_lora_adapter
                load_lora_adapter(settings.openai_base_url, mv.name, mv.adapter_path, api_key=settings.openai_api_key)
        except Exception as exc:  # noqa: BLE001 - stays a candidate; the reason is recorded
            mv.metrics = {**(mv.metrics or {}), "promotion_error": f"could not make it servable: {exc}"}
            log.warning("version %s passed the gate but could not be loaded for serving: %s", mv.name, exc)
            return False
        registry.promote(s, version_id, None)
    return True


def evaluate_answers(settings: Settings, dataset_dir: Path, generator, name: str, limit: int = 20,
                     max_new_tokens: int = 64, deployment: str = "default") -> dict[str, Any]:
    """Score `generator` (a model.base.Generator), the extractive engine and the live version (when one is live)
    on the held-out questions and on questions the sources do not answer, through the real answer engine
    (app/answering/evaluation.py)."""
    from app import wiring
    from app.answering.evaluation import compare, load_heldout, load_unanswerable
    from app.services.registry import live_version
    examples = load_heldout(dataset_dir, limit)
    if not examples:
        return {"skipped": "the dataset version has no held-out questions"}
    try:
        searcher = wiring.searcher_for(settings)
        extractive = wiring.extractive_choice(settings)
    except Exception as exc:  # no index yet: the loss gate still stands
        return {"skipped": f"no index to answer from ({type(exc).__name__}: {exc})"}
    candidate = wiring.fixed_engine(settings, wiring.model_choice(settings, generator, name), searcher)
    live_engine, live_name, note = None, None, None
    with session_scope(settings.db_url) as s:
        live = live_version(s, deployment)
        if live is not None:
            s.expunge(live)
    if live is not None:
        try:
            choice = wiring.generator_for(settings, live)
            live_engine, live_name = wiring.fixed_engine(settings, choice, searcher), live.name
        except Exception as exc:  # noqa: BLE001 - an unloadable live version: compare with extractive and say so
            note = f"live version {live.name} could not be loaded ({exc}); compared with extractive"
    out = compare(candidate, wiring.fixed_engine(settings, extractive, searcher), examples, max_new_tokens,
                  load_unanswerable(dataset_dir, 6), live=live_engine)
    out["live_name"] = live_name
    if note:
        out["live_note"] = note
    return out
