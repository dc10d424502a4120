"""Model versions: exactly one live version per deployment; promote and roll back atomically, audited."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.db import lock_rows
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


class GateRefused(RegistryError):
    """The version did not pass the evaluation gate; only a forced promotion (audited) makes it live."""


def gate_of(mv: ModelVersion) -> dict | None:
    """The evaluation gate's verdict recorded at training time ({"passed", "reasons", figures}), if any."""
    gate = (mv.metrics or {}).get("gate")
    return gate if isinstance(gate, dict) else None


def promote(session: Session, version_id: int, actor: Principal | None, *, force: bool = False,
            reason: str | None = None) -> ModelVersion:
    """Make `version_id` live; the previous live version is retired in the same transaction. A version that failed
    the gate is refused unless `force` (an admin's override, recorded in the audit log with the gate's reasons)."""
    deployment = session.scalar(select(ModelVersion.deployment).where(ModelVersion.id == version_id))
    if deployment is None:
        raise RegistryError(f"no model version {version_id}")
    lock_rows(session, ModelVersion, ModelVersion.deployment == deployment)  # two at once never leave two live
    mv = session.get(ModelVersion, version_id, populate_existing=True)
    if mv is None:
        raise RegistryError(f"no model version {version_id}")
    if mv.status == "live":
        return mv
    gate = gate_of(mv)
    failed = gate is not None and not gate.get("passed", False)
    if failed and not force:
        raise GateRefused(f"{mv.name} did not pass the evaluation gate ({'; '.join(gate.get('reasons') or [])}); "
                          "an admin can force the promotion, which is recorded in the audit log")
    previous = live_version(session, mv.deployment)
    session.execute(update(ModelVersion)
                    .where(ModelVersion.deployment == mv.deployment, ModelVersion.status == "live")
                    .values(status="retired"))
    mv.status = "live"
    mv.promoted_at = datetime.now(timezone.utc)
    if failed:
        audit(session, actor, "model.force_promote", mv.name, previous=previous.name if previous else None,
              gate_reasons=list(gate.get("reasons") or []), reason=reason)
    else:
        audit(session, actor, "model.promote", mv.name, previous=previous.name if previous else None,
              gate="passed" if gate is not None else "not evaluated")
    session.flush()
    return mv


def rollback(session: Session, actor: Principal | None, deployment: str = "default") -> ModelVersion | None:
    """Return to the version that was live before the current one; when there was none, to extractive answers
    (returns None: no version is live)."""
    lock_rows(session, ModelVersion, ModelVersion.deployment == deployment)  # two at once never leave two live
    current = live_version(session, deployment)
    if current is None:
        raise RegistryError("no live model version to roll back from")
    previous = session.scalar(select(ModelVersion)
                              .where(ModelVersion.deployment == deployment, ModelVersion.status == "retired",
                                     ModelVersion.promoted_at.is_not(None))
                              .order_by(ModelVersion.promoted_at.desc()).limit(1))
    current.status = "retired"
    current.promoted_at = None  # so a second rollback goes further back, not forth
    if previous is not None:
        previous.status = "live"
    audit(session, actor, "model.rollback", previous.name if previous else "extractive", from_version=current.name)
    session.flush()
    return previous
