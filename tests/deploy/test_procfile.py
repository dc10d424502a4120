"""The bare-metal path: the Procfile's processes really start, answer their health checks and stop on SIGTERM."""
from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ._util import REPO, clean_env

EXPECTED = {"api": "teamlore serve", "ui": "teamlore ui", "worker": "teamlore worker", "slack": "teamlore slack"}


def _procfile() -> dict[str, str]:
    entries = {}
    for line in (REPO / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, sep, command = line.partition(":")
            assert sep and name.strip().isidentifier(), f"bad Procfile line: {line!r}"
            entries[name.strip()] = command.strip()
    return entries


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_procfile_names_the_cli_processes():
    assert _procfile() == EXPECTED


@pytest.fixture
def bare_metal_env(tmp_path):
    bin_dir = str(Path(sys.executable).parent)  # the venv's `teamlore` console script
    env = clean_env(PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
                    TEAMLORE_DATA_DIR=str(tmp_path / "var"), TEAMLORE_HOST="127.0.0.1",
                    TEAMLORE_PORT=str(_free_port()), TEAMLORE_UI_PORT=str(_free_port()),
                    HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    # The documented first step: data directory and schema.
    init = subprocess.run(["teamlore", "init"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert init.returncode == 0, init.stderr
    return env


def _wait_ok(url: str, proc: subprocess.Popen, deadline: float) -> httpx.Response:
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{proc.args} exited with {proc.returncode} before {url} answered")
        try:
            r = httpx.get(url, timeout=2)
            if r.status_code == 200:
                return r
            last = f"HTTP {r.status_code}"
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        time.sleep(0.3)
    raise AssertionError(f"{url} not healthy in time ({last})")


def test_api_ui_and_worker_start_and_stop(bare_metal_env, tmp_path):
    env = bare_metal_env
    procs = {}
    logs = {}
    try:
        for name in ("api", "ui", "worker"):
            logs[name] = open(tmp_path / f"{name}.log", "w+")
            # Its own process group, so SIGTERM reaches Streamlit's child too and nothing outlives the test.
            procs[name] = subprocess.Popen(shlex.split(_procfile()[name]), env=env, cwd=tmp_path,
                                           stdout=logs[name], stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 90
        api = f"http://127.0.0.1:{env['TEAMLORE_PORT']}"
        _wait_ok(f"{api}/healthz", procs["api"], deadline)
        metrics = _wait_ok(f"{api}/metrics", procs["api"], deadline).text
        assert "teamlore_http_requests_total" in metrics
        _wait_ok(f"http://127.0.0.1:{env['TEAMLORE_UI_PORT']}/_stcore/health", procs["ui"], deadline)
        assert procs["worker"].poll() is None, "the worker exited: " + (tmp_path / "worker.log").read_text()[-2000:]
        # Graceful stop: every process exits promptly on SIGTERM (what systemd, honcho and Kubernetes send).
        for proc in procs.values():
            os.killpg(proc.pid, signal.SIGTERM)
        for name, proc in procs.items():
            try:
                code = proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                raise AssertionError(f"{name} ignored SIGTERM for 20 s") from None
            assert code in (0, -signal.SIGTERM, 128 + signal.SIGTERM), \
                f"{name} exited {code}: " + (tmp_path / f"{name}.log").read_text()[-2000:]
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for f in logs.values():
            f.close()


def test_slack_process_refuses_to_start_without_tokens(tmp_path):
    # No `teamlore init` here: the bot must refuse before it touches the database.
    env = clean_env(PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
                    TEAMLORE_DATA_DIR=str(tmp_path / "var"), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    done = subprocess.run(shlex.split(_procfile()["slack"]), env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "TEAMLORE_SLACK_BOT_TOKEN" in done.stderr + done.stdout, \
        f"the error must name the missing setting: {(done.stderr + done.stdout)[-1500:]}"


def test_sigterm_to_the_ui_process_alone_stops_streamlit(bare_metal_env, tmp_path):
    """`kill PID` of `teamlore ui` (no process group): Streamlit used to run on as an orphan holding the port."""
    env = bare_metal_env
    port = int(env["TEAMLORE_UI_PORT"])
    with open(tmp_path / "ui.log", "w+") as log:
        proc = subprocess.Popen([sys.executable, "-m", "app.cli", "ui"], env=env, cwd=REPO, stdout=log,
                                stderr=subprocess.STDOUT)
        try:
            _wait_ok(f"http://127.0.0.1:{port}/_stcore/health", proc, time.monotonic() + 90)
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                with socket.socket() as s:
                    if s.connect_ex(("127.0.0.1", port)) != 0:
                        break
                time.sleep(0.2)
            else:
                raise AssertionError(f"port {port} still answers after the UI process exited: an orphaned Streamlit")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
