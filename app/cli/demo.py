"""`teamlore demo` (what `make run` runs): the whole loop on the sample workspace, offline, then serve.

ingest sample Slack export + handbook -> index -> instruct dataset -> demo-size model trained on CPU ->
register it -> start the API and the web UI and print their URLs and keys. A second run reuses what exists.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import typer
from rich.console import Console
from rich.table import Table

from app.settings import get_settings

REPO = Path(__file__).resolve().parents[2]
SAMPLE_SLACK = REPO / "sample" / "slack" / "acme-export"
SAMPLE_HANDBOOK = REPO / "sample" / "handbook"
console = Console()


def _step(title: str):
    console.rule(f"[bold]{title}")
    return time.perf_counter()


def _ensure_key(settings, user: str, role: str) -> str:
    """One demo key per role, kept in the data dir so a second run prints the same working key."""
    from sqlalchemy import select
    from app.db import session_scope
    from app.db.models import ApiKey
    from app.security import create_api_key, get_or_create_user, hash_key
    path = settings.data_dir / f"demo-{role}.key"
    with session_scope(settings.db_url) as s:
        if path.exists():
            key = path.read_text().strip()
            row = s.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key)))
            if row is not None and row.revoked_at is None:
                return key
        u = get_or_create_user(s, user, role=role)
        _, key = create_api_key(s, u, "demo")
    tmp = path.with_suffix(".tmp")
    tmp.write_text(key)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return key


def _wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline and (proc is None or proc.poll() is None):
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return False


def register(cli: typer.Typer) -> None:
    @cli.command()
    def demo(serve: bool = typer.Option(True, help="start the API and UI at the end"),
             train: bool = typer.Option(True, help="train the demo-size model"),
             train_steps: int = typer.Option(30, min=1, help="training steps for the demo model")) -> None:
        """Run the whole loop on the sample workspace, then serve the API, the job worker and the UI."""
        # SIGINT (Ctrl-C), SIGTERM and SIGHUP stop the demo at any stage: children stopped, no traceback.
        previous = {sig: signal.signal(sig, _raise_stop) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        try:
            _demo(serve, train, train_steps)
        except _Stop as stop:
            console.print(f"{stop}: Teamlore stopped")
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _demo(serve: bool, train: bool, train_steps: int) -> None:
    from app.db import migrate
    settings = get_settings()
    settings.ensure_dirs()
    migrate(settings.db_url)
    timings: dict[str, float] = {}

    t = _step("1/5 Ingest the sample workspace")
    from app.services.ingestion import ingest_documents, ingest_slack_export
    s1 = ingest_slack_export(settings, SAMPLE_SLACK, source_name="sample-slack")
    s2 = ingest_documents(settings, [SAMPLE_HANDBOOK], source_name="sample-handbook")
    table = Table("source", "added", "updated", "skipped", "rejected")
    for name, s in (("slack export", s1), ("handbook", s2)):
        table.add_row(name, str(s.added), str(s.updated), str(s.skipped), str(s.rejected))
    console.print(table)
    timings["ingest"] = time.perf_counter() - t

    t = _step("2/5 Index (chunk, embed, FAISS + BM25)")
    from app.services.indexing import sync_index
    report = sync_index(settings)
    console.print(report)
    timings["index"] = time.perf_counter() - t

    t = _step("3/5 Build the instruct dataset from Slack threads")
    from app.services.datasets import build_dataset
    ds = build_dataset(settings)
    version = ds["version"] if isinstance(ds, dict) else ds.version
    console.print(f"dataset version {version}")
    timings["dataset"] = time.perf_counter() - t

    if train:
        t = _step("4/5 Train the demo-size model on CPU")
        from sqlalchemy import select
        from app.db import session_scope
        from app.db.models import ModelVersion
        with session_scope(settings.db_url) as s:
            existing = s.scalar(select(ModelVersion).where(ModelVersion.dataset_version == version))
        if existing is not None:
            console.print(f"model version {existing.name} already trained on {version}; reusing it")
        else:
            from app.workflows.training import run_training
            # demo-size: small steps so CPU training fits `make run`'s time budget
            params = {"dataset": version, "pretrain": True, "size": "demo",
                      "config": {"tokens_per_step": 2048, "micro_batch_tokens": 2048}}
            if train_steps:
                params["steps"] = train_steps
            # the same gate as every retrain: promoted only if it answers no worse than the live answerer
            result = run_training(settings, params, on_metrics=lambda step, v: None)
            console.print({k: v for k, v in result.items() if not isinstance(v, (dict, list))})
            gate = (result.get("metrics") or {}).get("gate") or {}
            if result.get("promoted"):
                console.print("the model passed the evaluation gate and is live")
            else:
                console.print("[yellow]the model is registered but not promoted: "
                              + ("; ".join(gate.get("reasons") or []) or "it did not pass the gate")
                              + " — answers stay extractive (see the admin page's Models view)")
        timings["train"] = time.perf_counter() - t

    admin_key = _ensure_key(settings, "admin", "admin")
    user_key = _ensure_key(settings, "demo-user", "user")
    console.print("timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))
    if not serve:
        return

    _step("5/5 Serve")
    _serve_all(settings, admin_key, user_key)


class _Stop(BaseException):
    """SIGTERM/SIGINT/SIGHUP arrived. A BaseException, like KeyboardInterrupt, so no `except Exception` on the
    way (a training step, a database session) takes it for an error of its own."""


def _raise_stop(signum, frame) -> None:
    raise _Stop(signal.Signals(signum).name)


try:  # resolved here, in the parent: the child between fork and exec should only call it
    import ctypes
    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux
    _PRCTL = None


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM if the demo itself dies (even by SIGKILL), so nothing is orphaned."""
    if _PRCTL is not None:
        _PRCTL(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG


def _spawn(cmd: list[str], env: dict[str, str], **kw) -> subprocess.Popen:
    # Its own process group: a terminal's Ctrl-C reaches only the demo, which then stops each child (and whatever
    # the child started) in order, instead of every process racing to print its own KeyboardInterrupt.
    return subprocess.Popen(cmd, env=env, start_new_session=True, preexec_fn=_die_with_parent, **kw)


def _stop_children(procs: dict[str, subprocess.Popen], timeout: float = 15) -> None:
    for proc in procs.values():
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)  # uvicorn, huey and streamlit all shut down cleanly on it
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + timeout
    for proc in procs.values():
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # stragglers of the group, if any
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait()


def curl_example(api: str, user_key: str) -> str:
    body = '{"messages":[{"role":"user","content":"How many vacation days do we get?"}]}'
    return (f"curl -s {api}/v1/chat/completions -H 'Authorization: Bearer {user_key}' "
            f"-H 'content-type: application/json' -d '{body}'")


def _serve_all(settings, admin_key: str, user_key: str) -> None:
    """The API, the job worker and the web UI until SIGINT/SIGTERM/SIGHUP; then all three stop."""
    from app.cli.serve import api_url, ui_command
    api = api_url(settings)
    procs: dict[str, subprocess.Popen] = {}
    try:
        env = os.environ.copy()
        procs["api"] = _spawn([sys.executable, "-m", "app.cli", "serve"], env)
        # The worker runs jobs (Retrain on the admin page, dataset builds, index rebuilds).
        procs["worker"] = _spawn([sys.executable, "-m", "app.cli", "worker"], env)
        if not _wait_http(api + "/healthz", 120, procs["api"]):
            console.print("[red]the API did not come up; see its log above")
            raise typer.Exit(1)
        cmd, ui_env = ui_command(settings, api)
        procs["ui"] = _spawn(cmd, ui_env, stdout=subprocess.DEVNULL)
        ui = f"http://{'127.0.0.1' if settings.host in ('0.0.0.0', '::') else settings.host}:{settings.ui_port}"
        _wait_http(ui, 60, procs["ui"])
        console.print(f"\n[bold green]Teamlore is running[/]\n  API: {api}  (OpenAPI docs: {api}/docs)\n"
                      f"  UI:  {ui}\n  job worker: running (pid {procs['worker'].pid})\n"
                      f"  admin key: {admin_key}\n  user key:  {user_key}\n  try:", highlight=False)
        # One unwrapped line, whatever the terminal (or pipe) width, so it pastes as it is.
        console.print(curl_example(api, user_key), soft_wrap=True, markup=False, highlight=False)
        console.print("Press Ctrl-C to stop.")
        while True:
            for name, proc in procs.items():
                if proc.poll() is not None:
                    console.print(f"[red]the {name} process exited (code {proc.returncode}); stopping the rest")
                    raise typer.Exit(1)
            time.sleep(0.5)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not cut the shutdown short
        if procs:
            console.print("stopping the API, the job worker and the UI")
        _stop_children(procs)
