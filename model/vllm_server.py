"""Start and stop a local vLLM OpenAI-compatible server from its own virtual environment (`make vllm`).

Used by the integration tests and the generator benchmark, and usable to serve a model next to Teamlore on one
machine. vLLM lives in a separate venv (it pins its own transformers/fastapi), so it always runs as a subprocess.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from model.base import GeneratorUnavailable

DEFAULT_VENV = Path(__file__).resolve().parent.parent / ".venv-vllm"


def _die_with_parent() -> None:
    """In the child before exec: ask Linux to SIGTERM us when our parent goes away."""
    if sys.platform.startswith("linux"):
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def vllm_python(venv: str | Path | None = None) -> Path:
    """The vLLM venv's interpreter (`venv`, default ./.venv-vllm); raises with the fix when it has not been built."""
    venv = Path(venv or DEFAULT_VENV)
    py = venv / "bin" / "python"
    if not py.exists():
        raise GeneratorUnavailable(f"no vLLM virtual environment at {venv}: run `make vllm` first")
    return py


@dataclass
class VLLMServer:
    """A running `vllm.entrypoints.openai.api_server` child process. Use as a context manager, or call stop()."""
    model_path: str
    port: int
    host: str = "127.0.0.1"
    served_model_name: str | None = None
    max_model_len: int = 512
    enable_lora: bool = False
    max_lora_rank: int = 8
    max_loras: int = 2
    dtype: str = "float32"
    kv_cache_gib: int = 1
    extra_args: list[str] = field(default_factory=list)
    # SIGTERM the server when the thread that launched it dies (a killed test run must not leave vLLM behind).
    die_with_parent: bool = True
    log_path: Path | None = None
    venv: str | Path | None = None
    process: subprocess.Popen | None = None
    started_in_s: float | None = None
    _t0: float = 0.0

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def command(self) -> list[str]:
        cmd = [str(vllm_python(self.venv)), "-m", "vllm.entrypoints.openai.api_server",
               "--model", self.model_path, "--host", self.host, "--port", str(self.port),
               "--max-model-len", str(self.max_model_len), "--dtype", self.dtype,
               # Eager mode: no torch.compile warm-up, which costs minutes on 2 cores for a model this small.
               "--enforce-eager"]
        if self.served_model_name:
            cmd += ["--served-model-name", self.served_model_name]
        if self.enable_lora:
            cmd += ["--enable-lora", "--max-lora-rank", str(self.max_lora_rank), "--max-loras", str(self.max_loras)]
        return cmd + list(self.extra_args)

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        # Teamlore's venv must not leak into vLLM's interpreter.
        for key in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"):
            env.pop(key, None)
        env.update({
            "VLLM_CPU_KVCACHE_SPACE": str(self.kv_cache_gib),
            "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True",
            "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1",
            "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
        })
        return env

    def launch(self) -> "VLLMServer":
        """Spawn the server and return at once (pair with wait_ready(), to do other work while it boots)."""
        if self.process is not None:
            raise RuntimeError("this VLLMServer is already running")
        self._t0 = time.monotonic()
        log_file = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(self.command(), env=self.environment(), stdout=log_file,
                                            stderr=subprocess.STDOUT, start_new_session=True,
                                            preexec_fn=_die_with_parent if self.die_with_parent else None)
        finally:
            if self.log_path:
                log_file.close()
        return self

    def wait_ready(self, timeout_s: float = 300.0) -> "VLLMServer":
        """Block until GET /health answers 200; raise with the log tail if the server dies or times out."""
        assert self.process is not None, "launch() first"
        health = f"http://{self.host}:{self.port}/health"
        while True:
            if self.process.poll() is not None:
                code = self.process.returncode
                self.process = None
                raise GeneratorUnavailable(f"vLLM exited with code {code} while starting{self._log_tail()}")
            try:
                if httpx.get(health, timeout=2.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() - self._t0 > timeout_s:
                self.stop()
                raise GeneratorUnavailable(f"vLLM did not become healthy within {timeout_s:.0f} s{self._log_tail()}")
            time.sleep(0.25)
        self.started_in_s = time.monotonic() - self._t0
        return self

    def start(self, timeout_s: float = 300.0) -> "VLLMServer":
        return self.launch().wait_ready(timeout_s)

    def _log_tail(self, n: int = 40) -> str:
        if not self.log_path or not Path(self.log_path).exists():
            return ""
        lines = Path(self.log_path).read_text(errors="replace").splitlines()[-n:]
        return "; log tail:\n" + "\n".join(lines)

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM the server's process group (vLLM forks an engine core process), then SIGKILL if it lingers."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        except ProcessLookupError:
            pass

    def __enter__(self) -> "VLLMServer":
        return self if self.process is not None else self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
