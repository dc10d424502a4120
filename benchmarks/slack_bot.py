"""Slack bot: acknowledgement latency and answer throughput over HTTP Events, against the engine called directly.

    .venv/bin/python benchmarks/slack_bot.py [--mentions 50] [--workers 8]

Builds the sample Acme workspace (ingest + index, real services), serves the API with HTTP Events against the fake
Slack Web API (no rate limits, so the bot's own cost is measured), and reports:
  - direct: engine.answer() sequentially for the same questions (the floor: retrieval + extractive answer + store)
  - slack: a burst of N signed app_mention events; ack latency (p50/p95) and wall time until every answer's final
    chat.update, plus Slack API calls per answer.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mentions", type=int, default=50)
    ap.add_argument("--workers", type=int, default=8)
    args = ap.parse_args()

    import os
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from fastapi.testclient import TestClient

    from app.api.main import create_app
    from app.db import migrate
    from app.services.indexing import sync_index
    from app.services.ingestion import ingest_slack_export
    from app.settings import load_settings
    from retrieval.types import Access
    from tests.fakes.fake_slack import FakeSlack
    from tests.slack.conftest import BOT, EXPORT, SECRET, TOKEN, SlackHarness, load_workspace

    questions = [json.loads(x)["question"] for x in (REPO / "sample" / "questions.jsonl").read_text().splitlines()
                 if x.strip()]
    asked = [questions[i % len(questions)] for i in range(args.mentions)]
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(data_dir=Path(tmp), database_url=f"sqlite:///{tmp}/teamlore.db",
                                 slack_bot_token=TOKEN, slack_signing_secret=SECRET,
                                 slack_workspace_url="https://acme.slack.com/", slack_workers=args.workers,
                                 slack_user_rate_limit="100000/minute", slack_channel_rate_limit="100000/minute")
        settings.ensure_dirs()
        migrate(settings.db_url)
        t = time.perf_counter()
        ingest_slack_export(settings, EXPORT, source_name="acme")
        sync_index(settings)
        print(f"corpus built in {time.perf_counter() - t:.1f} s")

        with FakeSlack() as fake:
            load_workspace(fake)
            s = settings.model_copy(update={"slack_api_url": fake.url})
            app = create_app(s)
            with TestClient(app) as client:
                engine = app.state.engine()
                engine.answer("warm up", access=Access(all_of=(Access(slack_user_ids=frozenset({"U0ACME001"})),)))
                t = time.perf_counter()
                for q in asked:
                    engine.answer(q, access=Access(all_of=(Access(slack_user_ids=frozenset({"U0ACME001"})),)),
                                  channel="api")
                direct_s = time.perf_counter() - t

                harness = SlackHarness(client, fake, s)
                harness.mention("U0ACME001", "C0ACMEHRH", "warm up the bot")  # builds the bolt app
                harness.wait(lambda: len(harness.finals()) == 1, timeout=60, what="warm-up answer")
                fake.calls.clear()
                acks = []
                t = time.perf_counter()
                for q in asked:
                    t1 = time.perf_counter()
                    _, resp = harness.mention("U0ACME002", "C0ACMEHRH", q)
                    acks.append(time.perf_counter() - t1)
                    assert resp.status_code == 200
                harness.wait(lambda: len(harness.finals()) >= len(asked), timeout=600, what="all answers")
                slack_s = time.perf_counter() - t
                calls = len([c for c in fake.calls if c.method in ("chat.postMessage", "chat.update")])
                app.state.slack_handler.app.teamlore_executor.shutdown(wait=True)
    acks.sort()
    p95 = acks[min(len(acks) - 1, int(0.95 * len(acks)))]
    print(json.dumps({
        "mentions": args.mentions, "workers": args.workers, "bot_user": BOT,
        "direct_answers_per_s": round(args.mentions / direct_s, 2),
        "slack_answers_per_s": round(args.mentions / slack_s, 2),
        "slack_vs_direct_throughput": round(direct_s / slack_s, 2),
        "ack_p50_ms": round(statistics.median(acks) * 1000, 1), "ack_p95_ms": round(p95 * 1000, 1),
        "mean_answer_ms_direct": round(direct_s / args.mentions * 1000, 1),
        "slack_calls_per_answer": round(calls / args.mentions, 2),
    }, indent=2))


if __name__ == "__main__":
    main()
