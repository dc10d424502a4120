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


def _wait_http(url: str, timeout: float) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
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
             train_steps: int = typer.Option(30, help="training steps for the demo model")) -> None:
        """Run the whole loop on the sample workspace, then serve the API and UI."""
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
        from app.cli.serve import api_url, ui_command
        api = api_url(settings)
        procs = [subprocess.Popen([sys.executable, "-m", "app.cli", "serve"], env=os.environ.copy())]
        if not _wait_http(api + "/healthz", 120):
            console.print("[red]the API did not come up; see its log above")
            for p in procs:
                p.terminate()
            raise typer.Exit(1)
        cmd, env = ui_command(settings, api)
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL))
        ui = f"http://{'127.0.0.1' if settings.host in ('0.0.0.0', '::') else settings.host}:{settings.ui_port}"
        _wait_http(ui, 60)
        console.print(f"\n[bold green]Teamlore is running[/]\n  API: {api}  (OpenAPI docs: {api}/docs)\n"
                      f"  UI:  {ui}\n  admin key: {admin_key}\n  user key:  {user_key}\n"
                      f"  try: curl -s {api}/v1/chat/completions -H 'Authorization: Bearer {user_key}' "
                      "-H 'content-type: application/json' "
                      "-d '{\"messages\":[{\"role\":\"user\",\"content\":\"How many vacation days do we get?\"}]}'\n"
                      "Press Ctrl-C to stop.")
        try:
            while all(p.poll() is None for p in procs):
                time.sleep(1)
        except KeyboardInterrupt:
            pass
        finally:
            for p in procs:
                p.send_signal(signal.SIGINT)
            for p in procs:
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
