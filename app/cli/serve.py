"""Processes: `teamlore serve` (API), `teamlore ui` (Streamlit), `teamlore worker` (jobs), `teamlore keys`."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import typer

from app.settings import get_settings

UI_APP = Path(__file__).resolve().parents[2] / "ui" / "app.py"


def api_url(settings) -> str:
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    return f"http://{host}:{settings.port}"


def ui_command(settings, api: str | None = None) -> tuple[list[str], dict]:
    cmd = [sys.executable, "-m", "streamlit", "run", str(UI_APP), "--server.headless", "true",
           "--server.port", str(settings.ui_port), "--server.address", settings.host,
           "--browser.gatherUsageStats", "false"]
    # an explicit --api, then the api_url setting (containers: http://api:8000), then our own address
    env = {**os.environ, "TEAMLORE_API_URL": api or settings.api_url or api_url(settings)}
    return cmd, env


def register(cli: typer.Typer) -> None:
    @cli.command()
    def serve(host: str = typer.Option(None, help="bind address (default TEAMLORE_HOST)"),
              port: int = typer.Option(None, min=0, max=65535, help="port (default TEAMLORE_PORT)")) -> None:
        """Run the HTTP API (OpenAI-compatible chat, corpus, jobs, admin)."""
        import uvicorn
        from app.api.main import create_app
        settings = get_settings()
        uvicorn.run(create_app(settings), host=host or settings.host, port=port or settings.port,
                    log_level="info", proxy_headers=True, timeout_graceful_shutdown=10,
                    log_config=None)  # uvicorn's loggers go to our JSON handler (request ids, redaction)

    @cli.command()
    def ui(api: str = typer.Option(None, help="API base URL (default from TEAMLORE_HOST/PORT)")) -> None:
        """Run the Streamlit web UI (a client of the API)."""
        cmd, env = ui_command(get_settings(), api)
        # Streamlit takes this process's place: a SIGTERM to it (`kill PID`, a supervisor that signals one process)
        # stops the UI. As a child it kept running, orphaned, holding the port, after its parent was stopped.
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(cmd[0], cmd, env)

    @cli.command()
    def worker(burst: bool = typer.Option(False, help="run what is queued, then exit"),
               threads: int = typer.Option(1, min=1, help="jobs run at once"),
               metrics_port: int = typer.Option(None, min=0, max=65535,
                                                help="Prometheus port (default TEAMLORE_METRICS_PORT; 0 = off)")
               ) -> None:
        """Run the durable job worker (training, dataset builds, index rebuilds, Slack syncs)."""
        from app.db import migrate
        from app.workflows.jobs import JobQueue
        settings = get_settings()
        settings.ensure_dirs()
        migrate(settings.db_url)
        queue = JobQueue(settings)
        if burst:
            queue.requeue_stale()
            typer.echo(f"ran {queue.drain()} job(s)")
            return
        port = settings.metrics_port if metrics_port is None else metrics_port
        if port:
            queue.serve_metrics(port)
            typer.echo(f"worker metrics on :{port}/metrics")
        queue.run_worker(workers=threads)

    keys = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
    cli.add_typer(keys, name="keys")

    @keys.command("create")
    def keys_create(user: str = typer.Option(..., help="user name (created if new)"),
                    role: Optional[str] = typer.Option(None, help="user | admin: a new user's role (default user); "
                                                                   "for an existing user it changes the role"),
                    name: str = typer.Option("cli", help="a label for the key")) -> None:
        """Create an API key; it is printed once and stored only as a hash."""
        from app.db import migrate, session_scope
        from app.security import ROLES, audit, create_api_key, get_or_create_user
        if role is not None and role not in ROLES:
            raise typer.BadParameter(f"{role!r} is not one of {', '.join(ROLES)}", param_hint="--role")
        if not user.strip() or len(user) > 200 or any(ord(c) < 32 or ord(c) == 127 for c in user):
            raise typer.BadParameter("a user name is 1 to 200 characters, no control characters", param_hint="--user")
        settings = get_settings()
        settings.ensure_dirs()
        migrate(settings.db_url)
        with session_scope(settings.db_url) as s:
            u = get_or_create_user(s, user, role=role or "user")
            u.role = role or u.role  # left out, an existing user keeps their role (a second key never demotes)
            row, key = create_api_key(s, u, name)
            audit(s, None, "key.create", f"key:{row.id}", user=user, role=u.role, via="cli")
        typer.echo(key)

    @keys.command("list")
    def keys_list() -> None:
        """List keys (prefixes only; keys themselves are never stored)."""
        from sqlalchemy import select
        from app.db import session_scope
        from app.db.models import ApiKey
        with session_scope(get_settings().db_url) as s:
            for k in s.scalars(select(ApiKey).order_by(ApiKey.id)).all():
                state = "revoked" if k.revoked_at else "active"
                typer.echo(f"{k.id}\t{k.prefix}…\t{k.user.name}\t{k.user.role}\t{k.name}\t{state}")

    @keys.command("revoke")
    def keys_revoke(key_id: int = typer.Argument(..., min=1, max=2**63 - 1)) -> None:
        """Revoke a key by id."""
        from app.db import session_scope
        from app.security import audit, revoke_api_key
        with session_scope(get_settings().db_url) as s:
            if revoke_api_key(s, key_id) is None:
                typer.secho(f"no key {key_id}", fg=typer.colors.RED, err=True)
                raise typer.Exit(1)
            audit(s, None, "key.revoke", f"key:{key_id}", via="cli")
        typer.echo(f"revoked key {key_id}")
