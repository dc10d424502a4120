"""Load: N concurrent chat clients for T seconds against a real `teamlore serve` process.

Starts the API on a data directory that already holds an ingested + indexed workspace (e.g. after
`TEAMLORE_DATA_DIR=/tmp/rel/var teamlore demo --no-serve --no-train`), warms it up, then drives the load with
benchmarks/chat_load.py's clients while sampling the server's RSS every second. Pass: 0 errors and RSS growth
(after warm-up) under --rss-bound-mb.

    # 64 clients, 5 minutes, extractive answers (non-streaming requests)
    .venv/bin/python benchmarks/reliability_load.py --data-dir /tmp/rel/var --clients 64 --seconds 300 --no-stream
    # 32 streaming clients, 60 s: TTFT and pieces/s per client
    .venv/bin/python benchmarks/reliability_load.py --data-dir /tmp/rel/var --clients 32 --seconds 60
    # the tiny transformers generator (a 2-layer Llama built like tests/model/tiny_llama.py)
    .venv/bin/python benchmarks/reliability_load.py --data-dir /tmp/rel/var --generator tiny --clients 64 --seconds 300
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from chat_load import client_loop, pct, rss_mb  # noqa: E402
from benchmarks.report import write_json  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data_dir: Path, port: int, extra_env: dict[str, str], log_path: Path) -> subprocess.Popen:
    env = {**os.environ, "TEAMLORE_DATA_DIR": str(data_dir), "TEAMLORE_PORT": str(port),
           "TEAMLORE_RATE_LIMIT": "1000000/minute", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false", **extra_env}
    log = open(log_path, "w")
    return subprocess.Popen([sys.executable, "-m", "app.cli", "serve"], cwd=REPO, env=env, stdout=log,
                            stderr=subprocess.STDOUT)


def wait_ready(url: str, timeout: float = 180) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the API at {url} did not come up in {timeout}s")


def tiny_model(out: Path) -> Path:
    from tests.model.tiny_llama import build_tiny_llama
    if not (out / "config.json").exists():
        build_tiny_llama(out)
    return out


async def drive(url: str, key: str, clients: int, seconds: float, stream: bool) -> dict:
    out = {"errors": [], "latency": [], "ttft": [], "pieces_per_s": []}
    deadline = time.perf_counter() + seconds
    t0 = time.perf_counter()
    await asyncio.gather(*(client_loop(i, url, key, deadline, out, stream) for i in range(clients)))
    out["wall"] = time.perf_counter() - t0
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--warmup", type=float, default=20)
    ap.add_argument("--no-stream", action="store_true")
    ap.add_argument("--generator", choices=["extractive", "tiny"], default="extractive")
    ap.add_argument("--max-tokens", type=int, default=64, help="tiny generator: answer length")
    ap.add_argument("--rss-bound-mb", type=float, default=150.0)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    data_dir = args.data_dir.resolve()
    key = (data_dir / "demo-user.key").read_text().strip()
    env = {}
    if args.generator == "tiny":
        env = {"TEAMLORE_GENERATOR": "transformers", "TEAMLORE_MODEL_PATH": str(tiny_model(data_dir / "tiny-llama")),
               "TEAMLORE_MAX_NEW_TOKENS": str(args.max_tokens)}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = data_dir / f"load-server-{args.generator}.log"
    server = start_server(data_dir, port, env, log_path)
    samples: list[tuple[float, float]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(1.0):
            v = rss_mb(server.pid)
            if v is not None:
                samples.append((time.time(), v))

    try:
        wait_ready(url)
        # warm-up: load the index, embedder and generator and fill the thread pools before measuring memory
        asyncio.run(drive(url, key, min(8, args.clients), args.warmup, not args.no_stream))
        rss_start = rss_mb(server.pid)
        threading.Thread(target=sample, daemon=True).start()
        out = asyncio.run(drive(url, key, args.clients, args.seconds, not args.no_stream))
        stop.set()
        rss_end = rss_mb(server.pid)
        metrics = httpx.get(url + "/metrics", timeout=10).text
    finally:
        stop.set()
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
    rss_values = [v for _, v in samples] or [rss_end or 0]
    # growth over the run: last minute's median against the first minute's, robust to allocator noise
    head = [v for t, v in samples if t - samples[0][0] < 60] if samples else rss_values
    tail = [v for t, v in samples if samples[-1][0] - t < 60] if samples else rss_values
    growth = statistics.median(tail) - statistics.median(head)
    server_5xx = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                     if line.startswith("teamlore_http_requests_total{") and 'status="5' in line)
    report = {
        "generator": args.generator, "clients": args.clients, "stream": not args.no_stream,
        "seconds": round(out["wall"], 1), "requests": len(out["latency"]), "errors": len(out["errors"]),
        "error_kinds": sorted(set(out["errors"]))[:5], "server_5xx": server_5xx,
        "req_per_s": round(len(out["latency"]) / out["wall"], 2),
        "latency_s": {q: round(pct(out["latency"], n), 3) for q, n in (("p50", 50), ("p95", 95), ("p99", 99))},
        "latency_max_s": round(max(out["latency"]), 3) if out["latency"] else None,
        "ttft_s": {q: round(pct(out["ttft"], n), 3) for q, n in (("p50", 50), ("p95", 95), ("p99", 99))},
        "pieces_per_s_per_client": {
            "p50": round(statistics.median(out["pieces_per_s"]), 1) if out["pieces_per_s"] else None,
            "p10": round(pct(out["pieces_per_s"], 10), 1) if out["pieces_per_s"] else None},
        "server_rss_mb": {"after_warmup": round(rss_start or 0, 1), "max": round(max(rss_values), 1),
                          "end": round(rss_end or 0, 1), "growth_first_to_last_minute": round(growth, 1),
                          "bound": args.rss_bound_mb},
        "pass": not out["errors"] and server_5xx == 0 and growth <= args.rss_bound_mb,
        "machine": f"{os.cpu_count()} CPU cores, no GPU",
    }
    print(json.dumps(report, indent=2))
    if args.out:
        write_json(args.out, report)
    return 0 if report["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
