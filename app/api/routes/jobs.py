"""Jobs (training, dataset builds, syncs), their live metrics and logs; datasets and their reports."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from app.api.deps import AdminDep, SessionDep, SettingsDep
from app.api.errors import APIError
from app.api.protocol import (DatasetOut, DatasetReport, ErrorResponse, ExamplePage, JobLogs, JobOut, MetricPoint,
                              ReviewOut, WorkerStatus, job_out)
from app.db.models import DatasetVersion, Job, ModelVersion, Source, TrainingMetric
from app.security import audit
from app.services.registry import live_version
from app.workflows.training import VERSION_NAME

router = APIRouter(prefix="/v1", tags=["jobs"])


class TrainRequest(BaseModel):
    dataset_version: str = Field(min_length=1, max_length=64)
    base_model: str | None = Field(default=None, max_length=1000, description="HF dir or hub id; none = pretrain")
    steps: int = Field(default=60, ge=1, le=1_000_000)
    learning_rate: float = Field(default=2e-4, gt=0, le=1)  # for pretraining, 3e-3 is the recipe's default
    lora_r: int = Field(default=16, ge=1, le=512)
    qlora: bool = Field(default=False, description="LoRA on a 4-bit NF4 base (QLoRA): about a quarter of the base "
                                                   "model's memory; needs a base model")
    size: str = Field(default="demo", description="pretraining size preset when no base model: auto|demo|tiny|small|base")
    name: str | None = Field(default=None, max_length=200, pattern=VERSION_NAME,
                             description="the model version's name (letters, digits, '.', '_', '-'); default: made "
                                         "from the recipe, dataset and job")
    recipe: Literal["sft", "dpo"] = Field(default="sft", description="sft: LoRA SFT; dpo: DPO on feedback pairs")
    feedback_since: str | None = Field(default=None, max_length=200, description="include the team's feedback "
                                       "given since this model version was registered ('all': all of it)")
    include_private_feedback: bool = Field(default=False, description="also feedback on answers built from "
                                           "private channels, DMs or group-only documents")
    parent_version: str | None = Field(default=None, max_length=200, description="continue from this model "
                                       "version's adapter ('live': the live one; 'none': a new adapter on the base "
                                       "model). Default: 'live' for dpo (DPO after SFT: the reference is that "
                                       "adapter, frozen), 'none' for sft")
    promote: Literal["if_better", "never"] = Field(default="if_better", description="promote the result when it "
                                                   "passes the evaluation gate")
    adapt_retriever: bool = Field(default=False, description="also adapt the embedding model on the team's own "
                                  "question -> answer pairs; a new index version is published only if held-out "
                                  "retrieval improves")


class DatasetRequest(BaseModel):
    name: str = Field(default="slack-qa", min_length=1, max_length=200, pattern=r"\S")
    include_private: bool = False
    persona: str | None = None


def _queue(request: Request):
    return request.app.state.jobs()


@router.post("/jobs/train", status_code=202, response_model=JobOut)
def submit_training(body: TrainRequest, request: Request, admin: AdminDep, session: SessionDep):
    if session.scalar(select(DatasetVersion).where(DatasetVersion.version == body.dataset_version)) is None:
        raise APIError(404, f"no dataset version {body.dataset_version!r}: build one first", "dataset_not_found")
    if body.feedback_since not in (None, "all") and session.scalar(
            select(ModelVersion).where(ModelVersion.name == body.feedback_since)) is None:
        raise APIError(404, f"no model version {body.feedback_since!r} to take feedback since", "model_version_not_found")
    parent = None
    if body.parent_version not in (None, "live", "none"):
        parent = session.scalar(select(ModelVersion).where(ModelVersion.name == body.parent_version))
        if parent is None:
            raise APIError(404, f"no model version {body.parent_version!r} to continue from",
                           "model_version_not_found")
    elif body.parent_version == "live":
        parent = live_version(session)
        if parent is None:
            raise APIError(409, "no version is live to continue from", "nothing_live")
    if parent is not None and body.base_model and body.base_model != parent.base_model:
        raise APIError(422, f"version {parent.name} adapts {parent.base_model}, not {body.base_model}: leave the "
                       "base model empty to continue from it", "parent_base_mismatch")
    if body.qlora and not (body.base_model or body.recipe == "dpo" or parent is not None):
        raise APIError(422, "qlora needs a base model to quantise (pretraining trains every weight in full "
                            "precision)", "qlora_needs_base_model")
    base = body.base_model
    if body.recipe == "dpo":
        if body.feedback_since is None:
            raise APIError(400, "the dpo recipe trains on preference pairs from feedback: set feedback_since "
                           "(a model version, or 'all')", "feedback_required")
        live = live_version(session)
        base = base or (parent.base_model if parent is not None else None) or request.app.state.settings.model_path \
            or (live.base_model if live and body.parent_version != "none" else None)
        if not base:
            raise APIError(400, "the dpo recipe adapts a base model: give base_model or a parent_version to continue "
                           "from (no model is configured or live)", "base_model_required")
    params = {"dataset": body.dataset_version, "base": base, "steps": body.steps,
              "pretrain": base is None, "config": {"lr": body.learning_rate}, "recipe": body.recipe,
              "promote": body.promote}
    if body.recipe == "dpo" and "learning_rate" not in body.model_fields_set:
        params["config"] = {}  # the recipe's own default
    if parent is not None:
        base = parent.base_model
        params.update(base=base, pretrain=False, parent=parent.name)
    elif body.parent_version is not None:
        params["parent"] = body.parent_version
    if body.adapt_retriever:
        params["adapt_retriever"] = True
    if body.feedback_since is not None:
        params["feedback_since"] = body.feedback_since
        params["include_private_feedback"] = body.include_private_feedback
    if base:
        params["config"]["lora_r"] = body.lora_r
        params["config"]["lora_alpha"] = 2 * body.lora_r
        if body.qlora:
            params["config"]["quantize_4bit"] = True
    else:
        params["size"] = body.size
    if body.name:
        params["name"] = body.name
    job = _queue(request).submit("train", params, actor_user_id=admin.user_id)
    audit(session, admin, "job.train", f"job:{job.id}", **body.model_dump())
    return job_out(job)


@router.post("/datasets", status_code=202, response_model=JobOut)
def submit_dataset(body: DatasetRequest, request: Request, admin: AdminDep, session: SessionDep):
    job = _queue(request).submit("dataset", body.model_dump(exclude_none=True), actor_user_id=admin.user_id)
    audit(session, admin, "job.dataset", f"job:{job.id}", **body.model_dump())
    return job_out(job)


@router.post("/sources/{source_id}/sync", status_code=202, response_model=JobOut)
def submit_sync(source_id: int, request: Request, admin: AdminDep, session: SessionDep):
    src = session.get(Source, source_id)
    if src is None:
        raise APIError(404, f"no source {source_id}", "source_not_found")
    kind = "sync" if src.kind == "slack_live" else "index"
    job = _queue(request).submit(kind, {"source_name": src.name} if kind == "sync" else {})
    audit(session, admin, "job." + kind, f"job:{job.id}", source=src.name)
    return job_out(job)


@router.get("/workers", response_model=WorkerStatus)
def worker_status(request: Request, admin: AdminDep):
    """Whether a job worker is running (it beats every few seconds); queued jobs wait while none is."""
    return {**_queue(request).worker_status(),
            "how_to_start": "run `teamlore worker` next to the API (`make run` starts one for you)"}


@router.get("/jobs", response_model=list[JobOut])
def list_jobs(admin: AdminDep, session: SessionDep, kind: str | None = None, limit: int = Query(50, ge=1, le=500)):
    stmt = select(Job).order_by(Job.id.desc()).limit(limit)
    if kind:
        stmt = stmt.where(Job.kind == kind)
    return [job_out(j) for j in session.scalars(stmt).all()]


def _job(session, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise APIError(404, f"no job {job_id}", "job_not_found")
    return job


@router.get("/jobs/{job_id}", response_model=JobOut)
def get_job(job_id: int, admin: AdminDep, session: SessionDep):
    return job_out(_job(session, job_id))


@router.get("/jobs/{job_id}/metrics", response_model=list[MetricPoint])
def job_metrics(job_id: int, admin: AdminDep, session: SessionDep, after_step: int = -1):
    _job(session, job_id)
    rows = session.scalars(select(TrainingMetric).where(TrainingMetric.job_id == job_id,
                                                        TrainingMetric.step > after_step)
                           .order_by(TrainingMetric.step)).all()
    return [{"step": r.step, **r.values} for r in rows]


@router.get("/jobs/{job_id}/logs", response_model=JobLogs)
def job_logs(job_id: int, admin: AdminDep, session: SessionDep, settings: SettingsDep, tail: int = 200):
    _job(session, job_id)
    path = settings.runs_dir / f"job-{job_id}.log"
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines() if path.exists() else []
    return {"lines": lines[-max(1, min(tail, 5000)):]}


@router.post("/jobs/{job_id}/cancel", response_model=JobOut)
def cancel_job(job_id: int, request: Request, admin: AdminDep, session: SessionDep):
    _job(session, job_id)
    _queue(request).cancel(job_id)
    audit(session, admin, "job.cancel", f"job:{job_id}")
    session.expire_all()
    return job_out(_job(session, job_id))


@router.post("/jobs/{job_id}/retry", status_code=202, response_model=JobOut)
def retry_job(job_id: int, request: Request, admin: AdminDep, session: SessionDep):
    kind = _job(session, job_id).kind
    run = request.app.state.uploads().submit if kind == "upload" else None  # uploads run in the API process
    try:
        job = _queue(request).retry(job_id, run=run)
    except ValueError as exc:
        raise APIError(409, str(exc), "not_retryable") from exc
    audit(session, admin, "job.retry", f"job:{job_id}")
    return job_out(job)


# -- datasets -------------------------------------------------------------------------------------

def _dataset(session, version: str) -> DatasetVersion:
    dv = session.scalar(select(DatasetVersion).where(DatasetVersion.version == version))
    if dv is None:
        raise APIError(404, f"no dataset version {version!r}", "dataset_not_found")
    return dv


@router.get("/datasets", response_model=list[DatasetOut])
def list_datasets(admin: AdminDep, session: SessionDep):
    rows = session.scalars(select(DatasetVersion).order_by(DatasetVersion.id.desc())).all()
    return [{"version": d.version, "name": d.name, "created_at": d.created_at, "stats": d.stats,
             "settings": d.settings} for d in rows]


def _gone(version: str, exc: Exception) -> APIError:
    """A dataset version the database records whose folder is missing or unreadable (deleted, a partial restore)."""
    return APIError(410, f"the files of dataset version {version} are missing or unreadable ({exc}); build it "
                    "again", "dataset_gone")


@router.get("/datasets/{version}/report", response_model=DatasetReport,
            responses={410: {"model": ErrorResponse, "description": "the dataset's files are missing"}})
def dataset_report(version: str, admin: AdminDep, session: SessionDep, settings: SettingsDep):
    from app.services.datasets import get_report
    _dataset(session, version)
    try:
        return get_report(settings, version)
    except (LookupError, OSError, ValueError) as exc:
        raise _gone(version, exc) from exc


@router.get("/datasets/{version}/plots/{name}", response_class=FileResponse,
            responses={200: {"description": "the plot, a PNG image",
                             "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}}})
def dataset_plot(version: str, name: str, admin: AdminDep, session: SessionDep):
    folder = Path(_dataset(session, version).path)
    safe = Path(name).name  # no path components from the client
    for path in (folder / "plots" / safe, folder / safe):
        if path.suffix.lower() == ".png" and path.is_file():
            return FileResponse(path, media_type="image/png")
    raise APIError(404, f"no plot {name!r} for dataset {version}", "plot_not_found")


@router.get("/datasets/{version}/examples", response_model=ExamplePage)
def dataset_examples(version: str, admin: AdminDep, session: SessionDep, settings: SettingsDep,
                     split: str = "train", offset: int = Query(0, ge=0), limit: int = Query(20, ge=1, le=200)):
    from app.services.datasets import list_examples
    _dataset(session, version)
    try:
        return list_examples(settings, version, split=split, offset=offset, limit=limit)
    except LookupError as exc:
        raise _gone(version, exc) from exc
    except (ValueError, FileNotFoundError) as exc:
        raise APIError(400, str(exc), "bad_split") from exc


class Review(BaseModel):
    accept: bool


@router.post("/datasets/{version}/examples/{example_id}/review", response_model=ReviewOut)
def review(version: str, example_id: str, body: Review, admin: AdminDep, session: SessionDep,
           settings: SettingsDep):
    from app.services.datasets import review_example
    _dataset(session, version)
    try:
        out = review_example(settings, version, example_id, body.accept)
    except KeyError as exc:
        raise APIError(404, f"no example {example_id} in {version}", "example_not_found") from exc
    except LookupError as exc:
        raise _gone(version, exc) from exc
    audit(session, admin, "dataset.review", f"{version}:{example_id}", accept=body.accept)
    return out if isinstance(out, dict) else {"example_id": example_id, "accept": body.accept}
