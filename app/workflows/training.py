"""Training runs: LoRA SFT of the configured base model (or pretraining when there is none) on a dataset version,
with checkpoints under runs/<run id>/, per-step metrics in the database, an evaluation gate, and registration of
the result as a *candidate* model version. Promotion to live is a separate admin action (app/services/registry).

Called by the job worker (app/workflows/jobs.py) and directly (tests, `teamlore train`).
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from sqlalchemy import delete, select

from app.db import session_scope
from app.db.models import DatasetVersion, Job, ModelVersion, TrainingMetric
from app.settings import Settings

log = logging.getLogger(__name__)

# params accepted by run_training besides `config` (free-form recipe options, checked by the recipe's dataclass)
PARAMS = {"dataset", "base", "name", "steps", "epochs", "deployment", "pretrain", "size", "config", "evaluate"}


class TrainingRequestError(ValueError):
    """The request cannot run as given; the message says why."""


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


def dir_hash(path: Path) -> str:
    """sha256 over the relative names and bytes of every file: identifies an adapter/model exactly."""
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(path)).encode())
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


def run_training(settings: Settings, params: dict, *, job_id: int | None = None,
                 on_metrics: Callable[[int, dict], None] | None = None,
                 should_cancel: Callable[[], bool] | None = None) -> dict:
    """Run one training job end to end; returns a summary dict (status, model_version, metrics, run_dir).

    params: dataset (version, required), base (model dir/hub id; default settings.model_path; none -> pretrain),
    name (model version name), steps, epochs, deployment, pretrain (bool), size (pretrain preset),
    config (dict of recipe options, e.g. {"lr": 1e-4, "lora_r": 32}), evaluate (default True).
    A job that has a checkpoint in runs/job-<id>/ resumes from it."""
    from finetune.checkpoint import atomic_copy_dir, latest
    from finetune.config import LoraSFTConfig, PretrainConfig, from_dict

    unknown = sorted(set(params) - PARAMS)
    if unknown:
        raise TrainingRequestError(f"unknown training parameter(s): {', '.join(unknown)}; "
                                   f"known: {', '.join(sorted(PARAMS))}")
    version = params.get("dataset")
    if not version:
        raise TrainingRequestError("params.dataset (a dataset version) is required")
    dataset_dir = _dataset_dir(settings, str(version))
    base = params.get("base") or (None if params.get("pretrain") else settings.model_path)
    settings.ensure_dirs()
    run_id = f"job-{job_id}" if job_id is not None else \
        f"run-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
    run_dir = settings.runs_dir / run_id
    name = params.get("name") or f"{'lora' if base else 'pretrain'}-{version}-{run_id}"
    dataset_dir, dropped = _without_rejected(settings, str(version), dataset_dir, run_dir)
    deployment = params.get("deployment", "default")

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
        values = _jsonable({k: v for k, v in m.items() if k != "step"})
        if job_id is not None:
            with session_scope(settings.db_url) as s:
                s.add(TrainingMetric(job_id=job_id, step=int(m["step"]), values=values))
        if on_metrics is not None:
            on_metrics(int(m["step"]), values)

    common = {"output_dir": str(run_dir), "max_steps": params.get("steps"), "epochs": params.get("epochs", 1.0)}
    overrides = dict(params.get("config") or {})
    if base:
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
        return _jsonable(result)

    metrics: dict[str, Any] = {"rejected_examples_left_out": dropped, "final_train_loss": summary["final_loss"], "steps": summary["steps"],
                               "tokens": summary["tokens"], "setup": summary["setup"], "alerts": summary["alerts"]}
    if "eval" in summary:
        metrics["validation"] = summary["eval"]
    if "sizing" in summary:
        metrics["sizing"] = summary["sizing"]

    if base and params.get("evaluate", True):
        # The gate: the frozen held-out split, candidate vs the bare base model and the current live version.
        from finetune.evaluate import compare
        adapters = {"candidate": artefact}
        with session_scope(settings.db_url) as s:
            live = s.scalar(select(ModelVersion).where(ModelVersion.deployment == deployment,
                                                       ModelVersion.status == "live"))
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
        # Answer quality through the real answer engine on the held-out Slack questions, beside extractive mode.
        from model.transformers_generator import TransformersGenerator
        # cpu_threads=None: one evaluation at a time in the worker; keep torch's threads for the training after it
        gen = (TransformersGenerator(str(base), adapter_path=str(artefact), name=name, cpu_threads=None) if base
               else TransformersGenerator(str(artefact), name=name, cpu_threads=None))
        metrics["answers"] = evaluate_answers(settings, dataset_dir, gen, name)
        del gen

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
        mv = ModelVersion(name=name, deployment=deployment,
                          base_model=str(base) if base else str(dest),
                          adapter_path=str(dest) if base else None, adapter_hash=digest,
                          dataset_version=str(version), job_id=job_ref, metrics=_jsonable(metrics),
                          status="candidate")
        s.add(mv)
        s.flush()
        result["model_version"] = {"id": mv.id, "name": mv.name, "path": str(dest), "adapter_hash": digest}
    result["metrics"] = metrics
    return _jsonable(result)


def evaluate_answers(settings: Settings, dataset_dir: Path, generator, name: str, limit: int = 20,
                     max_new_tokens: int = 64) -> dict[str, Any]:
    """Score `generator` (a model.base.Generator) and the extractive engine on the held-out questions, through the
    real answer engine (app/answering/evaluation.py)."""
    from app import wiring
    from app.answering.evaluation import compare, load_heldout
    examples = load_heldout(dataset_dir, limit)
    if not examples:
        return {"skipped": "the dataset version has no held-out questions"}
    try:
        searcher = wiring.searcher_for(settings)
        extractive = wiring.extractive_choice(settings)
    except Exception as exc:  # no index yet: the loss gate still stands
        return {"skipped": f"no index to answer from ({type(exc).__name__}: {exc})"}
    candidate = wiring.fixed_engine(settings, wiring.model_choice(settings, generator, name), searcher)
    return compare(candidate, wiring.fixed_engine(settings, extractive, searcher), examples, max_new_tokens)
