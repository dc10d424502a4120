"""A kill -9 during an upload leaves its staging folder behind: the next start removes it at once (its lock is no
longer held), and never a folder a live upload still holds."""
from __future__ import annotations

import fcntl

import pytest

from app.api.main import _remove_stale_upload_dirs
from app.settings import load_settings
from app.workflows.uploads import staging_lock


@pytest.mark.parametrize("where", ["beside", "inside"])  # inside: the folders of older versions
def test_staging_dirs_of_dead_uploads_are_removed_on_start_live_ones_kept(tmp_path, where):
    settings = load_settings(data_dir=tmp_path / "var")
    settings.ensure_dirs()
    dead, live = settings.uploads_dir / "tmpdead", settings.uploads_dir / "tmplive"
    lock = (lambda d: staging_lock(d)) if where == "beside" else (lambda d: d / ".lock")
    for d in (dead, live):
        d.mkdir()
        lock(d).touch()
        (d / "half-written.pdf").write_bytes(b"%PDF-1.4 ...")
    with open(lock(live), "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # an upload in flight (another process, in production)
        _remove_stale_upload_dirs(settings)
        assert not dead.exists() and not lock(dead).exists()
        assert (live / "half-written.pdf").exists() and lock(live).exists()
