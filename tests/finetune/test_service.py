"""run_training end to end on a tiny model: metrics rows, the evaluation gate, the adapter copied atomically into
models/, a candidate ModelVersion — on SQLite and PostgreSQL; and `teamlore train` on the CLI."""
from __future__ import annotations

import shutil

import pytest
from sqlalchemy import select

from app.db import session_scope
from app.db.models import Job, ModelVersion, TrainingMetric

from .conftest import write_dataset


def test_run_training_registers_a_candidate(settings, tiny_model_dir):
    from app.workflows.training import dir_hash, run_training
    write_dataset(settings.datasets_dir / "v1")
    with session_scope(settings.db_url) as s:
        job = Job(kind="train", params={})
        s.add(job)
        s.flush()
        job_id = job.id
    seen = []
    out = run_training(settings, {"dataset": "v1", "base": str(tiny_model_dir), "steps": 3, "name": "cand-1",
                                  "config": {"tokens_per_step": 600, "micro_batch_tokens": 256, "lr": 5e-3}},
                       job_id=job_id, on_metrics=lambda step, values: seen.append(step))
    assert out["status"] == "done" and seen == [1, 2, 3]
    mv_info = out["model_version"]
    dest = settings.models_dir / "cand-1"
    assert (dest / "adapter_config.json").is_file() and (dest / "adapter_model.safetensors").is_file()
    with session_scope(settings.db_url) as s:
        mv = s.scalar(select(ModelVersion).where(ModelVersion.name == "cand-1"))
        assert mv.id == mv_info["id"] and mv.status == "candidate" and mv.job_id == job_id
        assert mv.dataset_version == "v1" and mv.adapter_hash == dir_hash(dest) and mv.adapter_path == str(dest)
        held = mv.metrics["heldout"]
        assert held["split"] == "test" and held["base"]["loss"] > 0 and held["candidate"]["perplexity"] > 1
        rows = s.scalars(select(TrainingMetric).where(TrainingMetric.job_id == job_id)
                         .order_by(TrainingMetric.step)).all()
        assert [r.step for r in rows] == [1, 2, 3]
        assert {"loss", "lr", "grad_norm", "tokens_per_s"} <= set(rows[0].values)
    assert (settings.runs_dir / f"job-{job_id}" / "checkpoints" / "LATEST").is_file()
    # the same job again (a worker died after registering): no second version
    again = run_training(settings, {"dataset": "v1", "base": str(tiny_model_dir), "steps": 3}, job_id=job_id)
    assert again.get("already_registered") and again["model_version"]["id"] == mv_info["id"]


def test_unknown_dataset_version_is_refused(sqlite_settings):
    import pytest

    from app.workflows.training import TrainingRequestError, run_training
    with pytest.raises(TrainingRequestError, match="dataset version 'nope' not found"):
        run_training(sqlite_settings, {"dataset": "nope", "base": "x"})


def test_cli_train_refuses_a_set_without_a_value(sqlite_settings):
    from typer.testing import CliRunner

    from app.cli import cli
    result = CliRunner().invoke(cli, ["train", "--dataset", "v2", "--set", "max_seq_len"])
    assert result.exit_code == 2 and "KEY=VALUE" in result.output, result.output


def test_cli_train_pretrains_without_a_base(sqlite_settings, tmp_path):
    from typer.testing import CliRunner

    from app.cli import cli
    write_dataset(sqlite_settings.datasets_dir / "v2", n_train=120)
    result = CliRunner().invoke(cli, ["train", "--dataset", "v2", "--steps", "3", "--size", "demo", "--name", "pre",
                                      "--set", "max_seq_len=64", "--set", "tokens_per_step=512",
                                      "--set", "micro_batch_tokens=256", "--set", "min_train_tokens=256"])
    assert result.exit_code == 0, result.output
    assert "registered candidate model version" in result.output
    with session_scope(sqlite_settings.db_url) as s:
        mv = s.scalar(select(ModelVersion).where(ModelVersion.name == "pre"))
        assert mv.adapter_path is None and (sqlite_settings.models_dir / "pre" / "config.json").is_file()
        assert mv.metrics["sizing"]["size"] == "demo" and mv.metrics["sizing"]["tokens_per_param"] > 0
    shutil.rmtree(sqlite_settings.models_dir / "pre")
