"""Model versions: exactly one live version per deployment; promote and roll back atomically, audited."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.db.models import ModelVersion
from app.security import Principal, audit


class RegistryError(ValueError):
    pass


def live_version(session: Session, deployment: str = "default") -> ModelVersion | None:
    return session.scalar(select(ModelVersion).where(ModelVersion.deployment == deployment,
                                                     ModelVersion.status == "live"))


def register_version(session: Session, *, name: str, base_model: str, adapter_path: str | None = None,
                     adapter_hash: str | None = None, dataset_version: str | None = None, job_id: int | None = None,
                     metrics: dict | None = None, deployment: str = "default") -> ModelVersion:
    if session.scalar(select(ModelVersion).where(ModelVersion.name == name)) is not None:
        raise RegistryError(f"a model version named {name!r} exists already")
    mv = ModelVersion(name=name, base_model=base_model, adapter_path=adapter_path, adapter_hash=adapter_hash,
                      dataset_version=dataset_version, job_id=job_id, metrics=metrics or {},
                      deployment=deployment, status="candidate")
    session.add(mv)
    session.flush()
    return mv


def promote(session: Session, version_id: int, actor: Principal | None) -> ModelVersion:
    """Make `version_id` live; the previous live version is retired in the same transaction."""
    mv = session.get(ModelVersion, version_id, with_for_update=True)
    if mv is None:
        raise RegistryError(f"no model version {version_id}")
    if mv.status == "live":
        return mv
    previous = live_version(session, mv.deployment)
    session.execute(update(ModelVersion)
                    .where(ModelVersion.deployment == mv.deployment, ModelVersion.status == "live")
                    .values(status="retired"))
    mv.status = "live"
    mv.promoted_at = datetime.now(timezone.utc)
    audit(session, actor, "model.promote", mv.name, previous=previous.name if previous else None)
    session.flush()
    return mv


def rollback(session: Session, actor: Principal | None, deployment: str = "default") -> ModelVersion:
    """Return to the version that was live before the current one."""
    current = live_version(session, deployment)
    if current is None:
        raise RegistryError("no live model version to roll back from")
    previous = session.scalar(select(ModelVersion)
                              .where(ModelVersion.deployment == deployment, ModelVersion.status == "retired",
                                     ModelVersion.promoted_at.is_not(None))
                              .order_by(ModelVersion.promoted_at.desc()).limit(1))
    if previous is None:
        raise RegistryError(f"{current.name} is the only version that has been live; nothing to roll back to")
    current.status = "retired"
    current.promoted_at = None  # so a second rollback goes further back, not forth
    previous.status = "live"
    audit(session, actor, "model.rollback", previous.name, from_version=current.name)
    session.flush()
    return previous
