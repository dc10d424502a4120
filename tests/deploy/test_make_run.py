"""`make run` is the whole product: `teamlore demo` (what it runs) serves the API, the UI AND the job worker, so
a training job submitted as admin runs to `succeeded` with nothing else started by hand; it prints a curl line
that pastes as it is; and SIGTERM stops every process it started, with no traceback and no port left open."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.ui.harness import free_port

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _processes_with(marker: str) -> dict[int, str]:
    """pid -> command line of every process whose environment holds `marker` (our unique data dir)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:  # gone, or not ours to read
            continue
    return found


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _wait(predicate, timeout: float, what: str, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"{what} not within {timeout} s; demo log:\n{log.read_text(errors='replace')[-4000:]}")


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc to find the processes")
def test_demo_runs_jobs_and_stops_everything_on_sigterm(tmp_path):
    data_dir = tmp_path / "var"
    ports = {"TEAMLORE_PORT": free_port(), "TEAMLORE_UI_PORT": free_port(), "TEAMLORE_METRICS_PORT": free_port()}
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEAMLORE_")}
    env.update({k: str(v) for k, v in ports.items()})
    env.update({"TEAMLORE_DATA_DIR": str(data_dir), "TEAMLORE_CONFIG": str(tmp_path / "none.yaml"),
                "TEAMLORE_EMBEDDING_CACHE_DIR": os.environ["TEAMLORE_EMBEDDING_CACHE_DIR"],
                "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(REPO), "COLUMNS": "60"})
    log = tmp_path / "demo.log"
    # Output to a file, i.e. not a terminal, and a narrow COLUMNS: the curl line must still come out whole.
    demo = subprocess.Popen([sys.executable, "-m", "app.cli", "demo", "--no-train"], cwd=tmp_path, env=env,
                            stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    api = f"http://127.0.0.1:{ports['TEAMLORE_PORT']}"
    try:
        _wait(lambda: demo.poll() is not None or "Press Ctrl-C to stop" in log.read_text(errors="replace"),
              600, "the demo serving", log)
        assert demo.poll() is None, log.read_text(errors="replace")[-4000:]
        text = log.read_text(errors="replace")
        user_key = (data_dir / "demo-user.key").read_text().strip()
        curl = [line for line in text.splitlines() if line.startswith("curl ")]
        assert len(curl) == 1 and f"Bearer {user_key}'" in curl[0] and curl[0].endswith("do we get?\"}]}'"), curl

        admin = {"Authorization": f"Bearer {(data_dir / 'demo-admin.key').read_text().strip()}"}
        _wait(lambda: httpx.get(f"{api}/v1/workers", headers=admin, timeout=10).json()["alive"], 60,
              "the worker's first heartbeat", log)
        version = httpx.get(f"{api}/v1/datasets", headers=admin, timeout=10).json()[0]["version"]
        job = httpx.post(f"{api}/v1/jobs/train", headers=admin, timeout=30,
                         json={"dataset_version": version, "steps": 1, "size": "demo"})
        assert job.status_code == 202, job.text

        def finished():
            status = httpx.get(f"{api}/v1/jobs/{job.json()['id']}", headers=admin, timeout=10).json()
            return status if status["status"] in ("succeeded", "failed", "cancelled") else None
        final = _wait(finished, 600, "the training job finishing", log)
        assert final["status"] == "succeeded", final

        ours = _processes_with(str(data_dir))
        assert len(ours) >= 4, ours  # the demo, the API, the worker, the UI
        assert all(_listening(p) for p in ports.values()), ports
        demo.send_signal(signal.SIGTERM)
        assert demo.wait(60) == 0, log.read_text(errors="replace")[-4000:]
        _wait(lambda: not _processes_with(str(data_dir)), 30, "every Teamlore process gone", log)
        assert not [p for p in ports.values() if _listening(p)], ports
        text = log.read_text(errors="replace")
        assert "SIGTERM: Teamlore stopped" in text
        assert "Traceback" not in text and '"levelname": "ERROR"' not in text, text[-4000:]
    finally:
        for pid in _processes_with(str(data_dir)):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
