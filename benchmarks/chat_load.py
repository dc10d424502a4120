"""Load generator: N concurrent streaming chat clients against a running Teamlore API for T seconds.

Reports failures, time to first token and per-client pieces/s, latency percentiles, and the server's RSS
growth (when --pid is given). Loopback only.

  python benchmarks/chat_load.py --url http://127.0.0.1:8000 --key tl_... --clients 32 --seconds 60
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time

import httpx

QUESTIONS = [
    "How many days of annual leave do we get?", "What is the meal expense limit per day?",
    "How often are laptops refreshed?", "How long is parental leave?", "Who do I ask about payroll?",
    "Can I carry over unused vacation days?", "What is the remote work stipend?", "How do I book travel?",
    "What should I do if I lose my laptop?", "When is the deploy freeze?",
]


def rss_mb(pid: int | None) -> float | None:
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


async def client_loop(i: int, url: str, key: str, deadline: float, out: dict, stream: bool) -> None:
    rnd = random.Random(i)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=600) as http:
        while time.perf_counter() < deadline:
            body = {"model": "teamlore", "stream": stream,
                    "messages": [{"role": "user", "content": rnd.choice(QUESTIONS)}]}
            t0 = time.perf_counter()
            ttft, pieces = None, 0
            try:
                if stream:
                    async with http.stream("POST", "/v1/chat/completions", json=body) as r:
                        if r.status_code != 200:
                            await r.aread()
                            out["errors"].append(f"HTTP {r.status_code} {r.text[:160]}")
                            continue
                        async for line in r.aiter_lines():
                            if not line.startswith("data: ") or line == "data: [DONE]":
                                continue
                            chunk = json.loads(line[6:])
                            if "error" in chunk:
                                out["errors"].append(chunk["error"]["message"])
                                break
                            if chunk["choices"][0]["delta"].get("content"):
                                pieces += 1
                                ttft = ttft or time.perf_counter() - t0
                else:
                    r = await http.post("/v1/chat/completions", json=body)
                    if r.status_code != 200:
                        out["errors"].append(f"HTTP {r.status_code} {r.text[:160]}")
                        continue
                    ttft, pieces = time.perf_counter() - t0, 1
            except httpx.HTTPError as exc:
                out["errors"].append(type(exc).__name__)
                continue
            total = time.perf_counter() - t0
            out["latency"].append(total)
            if ttft is not None:
                out["ttft"].append(ttft)
                if pieces > 1 and total > ttft:
                    out["pieces_per_s"].append((pieces - 1) / (total - ttft))


def pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q / 100 * len(xs)))]


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:8000")
    ap.add_argument("--key", required=True)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--no-stream", action="store_true")
    ap.add_argument("--pid", type=int, help="server pid, to report its memory growth")
    args = ap.parse_args()
    out = {"errors": [], "latency": [], "ttft": [], "pieces_per_s": []}
    rss0 = rss_mb(args.pid)
    deadline = time.perf_counter() + args.seconds
    t0 = time.perf_counter()
    await asyncio.gather(*(client_loop(i, args.url, args.key, deadline, out, not args.no_stream)
                           for i in range(args.clients)))
    wall = time.perf_counter() - t0
    rss1 = rss_mb(args.pid)
    report = {
        "clients": args.clients, "seconds": round(wall, 1), "requests": len(out["latency"]),
        "failed": len(out["errors"]), "error_kinds": sorted(set(out["errors"]))[:5],
        "req_per_s": round(len(out["latency"]) / wall, 2),
        "latency_s": {"p50": round(pct(out["latency"], 50), 3), "p95": round(pct(out["latency"], 95), 3),
                      "p99": round(pct(out["latency"], 99), 3)},
        "ttft_s": {"p50": round(pct(out["ttft"], 50), 3), "p95": round(pct(out["ttft"], 95), 3)},
        "pieces_per_s_per_client": round(statistics.median(out["pieces_per_s"]), 1) if out["pieces_per_s"] else None,
        "server_rss_mb": {"start": rss0, "end": rss1},
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
