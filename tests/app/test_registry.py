"""Model registry: one live version per deployment; promote / roll back atomic and audited (API and service)."""
from sqlalchemy import select

from app.db import session_scope
from app.db.models import AuditEvent, ModelVersion
from app.services import registry
from tests.app.conftest import auth


def _register(settings, name):
    with session_scope(settings.db_url) as s:
        return registry.register_version(s, name=name, base_model="/m/base", adapter_path=f"/m/{name}").id


def _statuses(settings):
    with session_scope(settings.db_url) as s:
        return {v.name: v.status for v in s.scalars(select(ModelVersion)).all()}


def test_promote_and_rollback_through_the_api(client, admin_key, settings):
    a, b, c = (_register(settings, n) for n in ("v1", "v2", "v3"))
    h = auth(admin_key)
    assert client.post("/v1/model-versions/rollback", headers=h).status_code == 409  # nothing live yet
    for vid in (a, b, c):
        assert client.post(f"/v1/model-versions/{vid}/promote", headers=h).json()["status"] == "live"
    assert _statuses(settings) == {"v1": "retired", "v2": "retired", "v3": "live"}
    assert client.post("/v1/model-versions/rollback", headers=h).json()["name"] == "v2"
    assert client.post("/v1/model-versions/rollback", headers=h).json()["name"] == "v1"
    assert _statuses(settings) == {"v1": "live", "v2": "retired", "v3": "retired"}
    r = client.post("/v1/model-versions/rollback", headers=h)  # before v1 nothing was live: extractive
    assert r.status_code == 200 and r.json()["answerer"] == "extractive"
    assert list(_statuses(settings).values()).count("live") == 0
    r = client.post("/v1/model-versions/rollback", headers=h)
    assert r.status_code == 409 and "no live model version" in r.json()["error"]["message"]
    assert client.post("/v1/model-versions/999/promote", headers=h).status_code == 404
    models = client.get("/v1/models", headers=h).json()["data"]
    assert models[0]["id"] == "teamlore" and models[0]["answered_by"] == "extractive"
    assert not {"v1", "v2", "v3"} & {m["id"] for m in models}  # all retired
    with session_scope(settings.db_url) as s:
        actions = [e.action for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()]
    assert actions == ["model.promote"] * 3 + ["model.rollback"] * 3


def test_exactly_one_live_version(settings):
    ids = [_register(settings, f"m{i}") for i in range(4)]
    for vid in ids + ids[::-1]:
        with session_scope(settings.db_url) as s:
            registry.promote(s, vid, None)
        assert list(_statuses(settings).values()).count("live") == 1


def test_duplicate_version_name_is_refused(settings):
    import pytest
    _register(settings, "dup")
    with pytest.raises(registry.RegistryError, match="exists already"):
        _register(settings, "dup")


def test_which_version_a_retrain_continues_from(settings, tmp_path):
    """resolve_parent: DPO continues from the live version by default (its adapter, or a pretrained version's own
    model with a new adapter); a named parent that cannot be continued is an error, an implicit one falls back to a
    new adapter on the base model with a note; SFT starts a new adapter unless a parent is named."""
    import pytest

    from app.workflows.training import TrainingRequestError, resolve_parent
    model_dir, adapter = tmp_path / "demo-model", tmp_path / "adapter"
    model_dir.mkdir()
    adapter.mkdir()
    with session_scope(settings.db_url) as s:
        pre = registry.register_version(s, name="demo-pretrained", base_model=str(model_dir), adapter_path=None)
        lora = registry.register_version(s, name="lora-1", base_model="/models/base", adapter_path=str(adapter))
        pre_id, lora_id = pre.id, lora.id
    assert resolve_parent(settings, {}, "dpo", "default") == (None, "no version is live: started a new adapter on "
                                                                    "the base model")
    with session_scope(settings.db_url) as s:
        registry.promote(s, pre_id, None, force=True, reason="test")
    parent, note = resolve_parent(settings, {}, "dpo", "default")
    assert parent["name"] == "demo-pretrained" and parent["adapter_path"] is None and note is None
    assert resolve_parent(settings, {}, "sft", "default") == (None, None)
    parent, _ = resolve_parent(settings, {"parent": "lora-1"}, "sft", "default")
    assert parent["id"] == lora_id and parent["adapter_path"] == str(adapter)
    # an implicit parent on another base model: a new adapter on the requested base, said so
    parent, note = resolve_parent(settings, {"base": "/models/other"}, "dpo", "default")
    assert parent is None and "not the requested base /models/other" in note
    with pytest.raises(TrainingRequestError, match="cannot continue from lora-1"):
        resolve_parent(settings, {"parent": "lora-1", "base": "/models/other"}, "dpo", "default")
    with pytest.raises(TrainingRequestError, match="no model version 'ghost'"):
        resolve_parent(settings, {"parent": "ghost"}, "dpo", "default")
    adapter.rename(tmp_path / "gone")
    with pytest.raises(TrainingRequestError, match="adapter folder .* is gone"):
        resolve_parent(settings, {"parent": "lora-1"}, "dpo", "default")
    assert resolve_parent(settings, {"parent": "none"}, "dpo", "default") == (None, None)


def test_concurrent_promotions_and_rollbacks_leave_exactly_one_live_version(settings):
    """Promotions and rollbacks at once (two admins, a retried click): the registry is never left with two live
    versions. On PostgreSQL two promotions each retired the old live version and set their own live, so both
    were live (each locked only its own row)."""
    import threading
    ids = [_register(settings, f"c{i}") for i in range(6)]
    with session_scope(settings.db_url) as s:
        registry.promote(s, ids[0], None)
    for round_ in range(3):
        barrier = threading.Barrier(6)
        errors: list[BaseException] = []

        def act(i: int) -> None:
            try:
                barrier.wait()
                with session_scope(settings.db_url) as s:
                    if i % 3 == 2:
                        try:
                            registry.rollback(s, None)
                        except registry.RegistryError:
                            pass  # nothing live any more: a fair answer to a late rollback
                    else:
                        registry.promote(s, ids[(i + round_) % len(ids)], None)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=act, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
        assert list(_statuses(settings).values()).count("live") <= 1, _statuses(settings)
