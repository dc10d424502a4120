"""A kill -9 during an upload leaves its staging folder behind: the next start removes it at once (its lock is no
longer held), and never a folder a live upload still holds."""
from __future__ import annotations

import fcntl

from app.api.main import _remove_stale_upload_dirs
from app.settings import load_settings


def test_staging_dirs_of_dead_uploads_are_removed_on_start_live_ones_kept(tmp_path):
    settings = load_settings(data_dir=tmp_path / "var")
    settings.ensure_dirs()
    dead, live = settings.uploads_dir / "tmpdead", settings.uploads_dir / "tmplive"
    for d in (dead, live):
        d.mkdir()
        (d / ".lock").touch()
        (d / "half-written.pdf").write_bytes(b"%PDF-1.4 ...")
    with open(live / ".lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # an upload in flight (another process, in production)
        _remove_stale_upload_dirs(settings)
        assert not dead.exists()
        assert (live / "half-written.pdf").exists()


def test_the_lock_of_a_dead_upload_beside_its_folder_goes_with_it(tmp_path):
    from app.workflows.uploads import staging_lock
    settings = load_settings(data_dir=tmp_path / "var")
    settings.ensure_dirs()
    dead, live = settings.uploads_dir / "tmpdead2", settings.uploads_dir / "tmplive2"
    for d in (dead, live):
        d.mkdir()
        staging_lock(d).touch()
        (d / ".lock").write_text("a user's file named .lock")  # an upload's own file, not the lock
    with open(staging_lock(live), "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        _remove_stale_upload_dirs(settings)
        assert not dead.exists() and not staging_lock(dead).exists()
        assert (live / ".lock").exists() and staging_lock(live).exists()
