"""Shared loading for the dataset benchmarks: a Slack export parsed and cleaned by the real ingestion code,
as the dataset builder's records."""
from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared" / "data"
OLAKE = SHARED / "slack" / "olake-community-export"
SAMPLE = REPO / "sample" / "slack" / "acme-export"
SAMPLE_GOLD = REPO / "sample" / "slack" / "engineering_conversations.json"

from ingest.cleaning import clean_message  # noqa: E402
from ingest.datasets.build import WorkspaceSnapshot  # noqa: E402
from ingest.datasets.records import Channel, Msg, Person  # noqa: E402
from ingest.slack_export import read_export  # noqa: E402


def load_export(path: Path) -> WorkspaceSnapshot:
    exp = read_export(path)
    labels = {u.user_id: u.label for u in exp.users}
    names = {c.channel_id: c.name for c in exp.channels}
    bots = {u.user_id for u in exp.users if u.is_bot}
    msgs = []
    for m in exp.messages:
        clean_message(m, labels, names, bots)
        msgs.append(Msg(channel_id=m.channel_id, ts=m.ts, user_id=m.user_id, text=m.text, thread_ts=m.thread_ts,
                        user_name=labels.get(m.user_id or "") or m.user_name, is_bot=m.user_id in bots,
                        subtype=m.subtype, filtered=m.filtered, reactions=dict(m.reactions), raw_text=m.raw_text,
                        permalink=f"https://example.slack.com/archives/{m.channel_id}/p{m.ts.replace('.', '')}"))
    return WorkspaceSnapshot([Channel(c.channel_id, c.name, c.kind) for c in exp.channels],
                    [Person(u.user_id, u.name, u.display_name, u.title, u.is_bot) for u in exp.users], msgs,
                    source=str(path))
