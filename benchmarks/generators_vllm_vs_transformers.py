"""Side by side: the same tiny Llama served by vLLM (CPU, through OpenAIGenerator) and by the in-process
transformers generator, under N concurrent streaming clients.

    .venv/bin/python benchmarks/generators_vllm_vs_transformers.py --clients 1 8 32 --seconds 15 --repeats 3

Needs `make vllm`. Each client loops (closed loop) sending a chat request and streaming the answer until the
time is up; we record time to first token, generated tokens and failures.
The two engines never run at the same time; their runs are interleaved and repeated, and medians reported. Greedy decoding on the same weights gives both engines the same text: every answer is checked against a
reference (a mismatch counts as a failure) and credited with vLLM's exact generated-token count for it.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from benchmarks.report import write_json  # noqa: E402
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from model.base import GenerationParams  # noqa: E402
from model.openai_generator import OpenAIGenerator  # noqa: E402
from model.vllm_server import VLLMServer, free_port  # noqa: E402
from tests.model.tiny_llama import build_tiny_llama  # noqa: E402

QUESTIONS = ["What is the on-call rotation?", "Who owns the billing service?",
             "How do I request access to the warehouse?", "When does the deploy run?",
             "Where are the database backups kept?", "How do I rotate a secret?"]


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def reference_answers(base_url: str, max_new_tokens: int) -> dict[str, tuple[str, int]]:
    """Each question's greedy answer and its exact generated-token count (vLLM's usage figure). Both engines
    must reproduce these texts; a finished request is then credited with the exact count, not a re-encoding
    of its text (a random model emits partial UTF-8 tokens, which re-encode into more tokens)."""
    import openai
    client = openai.OpenAI(base_url=base_url, api_key="EMPTY", max_retries=0)
    ref = {}
    for q in QUESTIONS:
        r = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": q}],
                                           max_tokens=max_new_tokens, temperature=0.0)
        ref[q] = (r.choices[0].message.content, r.usage.completion_tokens)
    return ref


def run_load(gen, reference: dict[str, tuple[str, int]], clients: int, seconds: float, max_new_tokens: int) -> dict:
    params = GenerationParams(max_new_tokens=max_new_tokens, temperature=0.0)
    records: list[dict] = []
    lock = threading.Lock()
    start = time.monotonic()
    deadline = start + seconds

    def client(i: int) -> None:
        k = 0
        while time.monotonic() < deadline:
            question = QUESTIONS[(i + k) % len(QUESTIONS)]
            messages = [{"role": "user", "content": question}]
            k += 1
            t0 = time.monotonic()
            first = None
            text = ""
            try:
                for piece in gen.stream(messages, params):
                    if first is None:
                        first = time.monotonic() - t0
                    text += piece
                # The transformers streamer flushes a trailing partial UTF-8 token as U+FFFD; vLLM holds it back.
                same = text.rstrip("\ufffd") == reference[question][0].rstrip("\ufffd")
                rec = {"client": i, "ok": same, "ttft": first, "seconds": time.monotonic() - t0,
                       "tokens": reference[question][1]}
                if not same:
                    rec["error"] = f"answer differs from the reference: {text[:40]!r}"
            except Exception as exc:  # counted, and shown below
                rec = {"client": i, "ok": False, "error": f"{type(exc).__name__}: {exc}"[:200]}
            with lock:
                records.append(rec)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    ok = [r for r in records if r["ok"]]
    per_client = [sum(r["tokens"] for r in ok if r["client"] == i) / elapsed for i in range(clients)]
    ttfts = [r["ttft"] for r in ok if r["ttft"] is not None]
    return {"clients": clients, "seconds": round(elapsed, 1), "requests": len(records),
            "failed": len(records) - len(ok), "errors": sorted({r["error"] for r in records if not r["ok"]})[:3],
            "tokens": sum(r["tokens"] for r in ok),
            "tokens_per_s": round(sum(r["tokens"] for r in ok) / elapsed, 1),
            "per_client_tokens_per_s": round(statistics.mean(per_client), 2),
            "ttft_p50_ms": round(1000 * pct(ttfts, 0.5), 1), "ttft_p95_ms": round(1000 * pct(ttfts, 0.95), 1),
            "mean_tokens_per_request": round(statistics.mean([r["tokens"] for r in ok]), 1) if ok else 0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--torch-threads", type=int, default=1,
                    help="intra-op threads for the transformers engine (vLLM's CPU worker also runs on 1; with 2 on "
                         "a loaded 2-core machine OpenMP barriers stall: see BENCHMARKS.md)")
    ap.add_argument("--out", default=str(REPO / "var" / "bench" / "generators.json"))
    args = ap.parse_args()

    from model.transformers_generator import TransformersGenerator

    import torch
    torch.set_num_threads(args.torch_threads)
    results: dict = {"machine": f"{os.cpu_count()}-core CPU", "load_avg_at_start": os.getloadavg(),
                     "torch_threads": args.torch_threads,
                     "max_new_tokens": args.max_new_tokens, "seconds_per_run": args.seconds,
                     "repeats": args.repeats, "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        base = build_tiny_llama(Path(tmp) / "tiny")
        server = VLLMServer(model_path=str(base), port=free_port(), served_model_name="tiny",
                            max_model_len=512, log_path=Path(tmp) / "vllm.log")
        server.start(timeout_s=600)
        results["vllm_server_start_s"] = round(server.started_in_s, 1)
        print(f"vLLM healthy after {server.started_in_s:.1f} s", flush=True)
        try:
            t0 = time.monotonic()
            engines = {"vllm": OpenAIGenerator(server.base_url), "transformers": TransformersGenerator(str(base))}
            results["transformers_load_s"] = round(time.monotonic() - t0, 1)
            for gen in engines.values():
                list(gen.stream([{"role": "user", "content": "warm up"}], GenerationParams(max_new_tokens=8)))
            reference = reference_answers(server.base_url, args.max_new_tokens)
            results["reference_tokens"] = {q: n for q, (_, n) in reference.items()}
            # Interleaved (vLLM idles at ~0.05 core while transformers runs), so load from other jobs on a
            # shared machine hits both engines alike; medians over the repeats.
            for rep in range(args.repeats):
                for n in args.clients:
                    for name, gen in engines.items():
                        r = run_load(gen, reference, n, args.seconds, args.max_new_tokens)
                        r.update(engine=name, repeat=rep, load_avg=os.getloadavg()[0])
                        print(json.dumps(r), flush=True)
                        results["runs"].append(r)
        finally:
            server.stop()

    summary: dict = {}
    for name in ("vllm", "transformers"):
        for n in args.clients:
            runs = [r for r in results["runs"] if r["engine"] == name and r["clients"] == n]
            summary[f"{name}/{n}"] = {
                "requests": sum(r["requests"] for r in runs), "failed": sum(r["failed"] for r in runs),
                **{k: round(statistics.median(r[k] for r in runs), 1)
                   for k in ("tokens_per_s", "per_client_tokens_per_s", "ttft_p50_ms", "ttft_p95_ms")}}
    results["median"] = summary
    results["load_avg_at_end"] = os.getloadavg()
    print(f"\nload average at start {results['load_avg_at_start'][0]:.1f}, at end {results['load_avg_at_end'][0]:.1f}")
    print("\n| clients | engine | requests (failed) | tokens/s total | tokens/s per client | TTFT p50 / p95 ms |")
    print("|---:|---|---:|---:|---:|---:|")
    for n in args.clients:
        for name in ("vllm", "transformers"):
            r = summary[f"{name}/{n}"]
            print(f"| {n} | {name} | {r['requests']} ({r['failed']}) | {r['tokens_per_s']} | "
                  f"{r['per_client_tokens_per_s']} | {r['ttft_p50_ms']} / {r['ttft_p95_ms']} |")
        v, t = summary[f"vllm/{n}"], summary[f"transformers/{n}"]
        print(f"| {n} | vLLM / transformers | | {v['tokens_per_s'] / max(t['tokens_per_s'], 1e-9):.2f}x | "
              f"{v['per_client_tokens_per_s'] / max(t['per_client_tokens_per_s'], 1e-9):.2f}x | "
              f"{v['ttft_p50_ms'] / max(t['ttft_p50_ms'], 1e-9):.2f}x / "
              f"{v['ttft_p95_ms'] / max(t['ttft_p95_ms'], 1e-9):.2f}x |")
    out = write_json(args.out, results)
    print(f"\nwritten {out}")


if __name__ == "__main__":
    main()
