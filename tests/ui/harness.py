"""Real processes for the UI tests: the API (`teamlore serve`), the job worker, and the Streamlit UI, each on a
free port with its own temporary data directory."""
from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.upload_jobs import finished

REPO = Path(__file__).resolve().parents[2]
UI_APP = REPO / "ui" / "app.py"
CLI = [sys.executable, "-c", "from app.cli import main; main()"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: process exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not up after {timeout} s:\n{log.read_text()[-4000:]}")


def stop(proc: subprocess.Popen | None) -> None:
    """Stop one process we started (its own process group, so its children go too)."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=5)


@dataclass
class Stack:
    root: Path
    admin_key: str = field(default_factory=lambda: "tl_admin_" + secrets.token_urlsafe(24))
    rate_limit: str = "100000/minute"
    extra_env: dict[str, str] = field(default_factory=dict)
    # Exported ONNX embedding models, shared by every stack of a test session (the export is the slow part).
    onnx_cache: Path | None = None
    api_port: int = 0
    ui_port: int = 0
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    database_url: str | None = None  # None: the embedded SQLite default under data_dir
    _pg_admin_url: str | None = None

    def use_fresh_postgres(self, admin_url: str) -> Stack:
        """Run on a new PostgreSQL database (dropped by stop_all) instead of SQLite."""
        from sqlalchemy import create_engine, text
        name = "teamlore_ui_" + secrets.token_hex(5)
        eng = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with eng.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        eng.dispose()
        self._pg_admin_url = admin_url
        self.database_url = admin_url.rsplit("/", 1)[0] + "/" + name
        return self

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'teamlore.db'}"

    @property
    def data_dir(self) -> Path:
        return self.root / "var"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.ui_port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TEAMLORE_")}
        env.update({
            "TEAMLORE_DATA_DIR": str(self.data_dir),
            "TEAMLORE_ADMIN_API_KEY": self.admin_key,
            "TEAMLORE_GENERATOR": "extractive",
            "TEAMLORE_RATE_LIMIT": self.rate_limit,
            "TEAMLORE_METRICS_PORT": "0",  # the worker's Prometheus port: off, never the fixed default 9400
            "TEAMLORE_CONFIG": str(self.root / "teamlore.yaml"),  # none: settings come from env only
            "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
            "PYTHONPATH": str(REPO),
        })
        if self.database_url:
            env["TEAMLORE_DATABASE_URL"] = self.database_url
        env.update(self.extra_env)
        return env

    def _spawn(self, name: str, cmd: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = self.root / f"{name}.log"
        proc = subprocess.Popen(cmd, cwd=self.root, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start_api(self, timeout: float = 90) -> Stack:
        self.root.mkdir(parents=True, exist_ok=True)
        if self.onnx_cache is not None:
            self.onnx_cache.mkdir(parents=True, exist_ok=True)
            (self.data_dir / "models").mkdir(parents=True, exist_ok=True)
            link = self.data_dir / "models" / "onnx"
            if not link.exists():
                link.symlink_to(self.onnx_cache, target_is_directory=True)
        self.api_port = free_port()
        proc = self._spawn("api", [*CLI, "serve", "--host", "127.0.0.1", "--port", str(self.api_port)], self.env())
        wait_http(self.api_url + "/healthz", proc, timeout, self.root / "api.log")
        # The lifespan has run (migrations, bootstrap admin) once a keyed request works.
        httpx.get(self.api_url + "/v1/me", headers={"Authorization": f"Bearer {self.admin_key}"},
                  timeout=10).raise_for_status()
        return self

    def start_worker(self) -> Stack:
        self._spawn("worker", [*CLI, "worker"], self.env())
        return self

    def start_ui(self, timeout: float = 60, port: int | None = None) -> Stack:
        """`port`: restart on the port it had (a browser reload after a UI restart)."""
        self.ui_port = port or free_port()
        env = {**self.env(), "TEAMLORE_API_URL": self.api_url}
        cmd = [sys.executable, "-m", "streamlit", "run", str(UI_APP), "--server.headless", "true",
               "--server.port", str(self.ui_port), "--server.address", "127.0.0.1",
               "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
        proc = self._spawn("ui", cmd, env)
        wait_http(self.ui_url + "/_stcore/health", proc, timeout, self.root / "ui.log")
        return self

    def stop_ui(self) -> None:
        stop(self.procs.pop("ui", None))

    def stop_all(self) -> None:
        for name in list(self.procs)[::-1]:
            stop(self.procs.pop(name))
        if self._pg_admin_url and self.database_url:
            from sqlalchemy import create_engine, text
            name = self.database_url.rsplit("/", 1)[1]
            eng = create_engine(self._pg_admin_url, isolation_level="AUTOCOMMIT")
            with eng.connect() as c:
                c.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            eng.dispose()
            self.database_url = None

    # --- setup through the real API / database -------------------------------------------------
    def admin(self) -> httpx.Client:
        return httpx.Client(base_url=self.api_url, headers={"Authorization": f"Bearer {self.admin_key}"},
                            timeout=300)

    def create_key(self, user: str, role: str = "user", password: str | None = None) -> str:
        body = {"name": f"{user}-test", "user": user, "role": role}
        if password:
            body["password"] = password
        with self.admin() as c:
            r = c.post("/v1/keys", json=body)
            r.raise_for_status()
            return r.json()["key"]

    def upload(self, *paths: Path) -> dict:
        with self.admin() as c:
            files = [("files", (p.name, p.read_bytes(), "application/octet-stream")) for p in paths]
            r = finished(c, c.post("/v1/documents", files=files))  # the upload job, once done
            r.raise_for_status()
            return r.json()
