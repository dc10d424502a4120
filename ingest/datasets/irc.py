"""IRC logs in the layout of Kummerfeld et al.'s Ubuntu disentanglement corpus, read as dataset `Msg` records.

A log line is `[HH:MM] <nick> text`, `[HH:MM] * nick action` or a system line (`=== … has joined`). An
annotation file lists reply links `a b -` between 0-based line numbers: the later line replies to the earlier one,
`a a -` starts a conversation. A conversation is a connected component of the links.

IRC timestamps have minute resolution; the messages of one minute are spread evenly over it (`ts` in seconds,
like Slack's) so time gaps are continuous. System lines are skipped: Slack channels used by the builder have none.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ingest.datasets.records import Msg

LINE_RE = re.compile(r"^\[(\d\d):(\d\d)\] (?:<([^>]+)>|\* (\S+)) ?(.*)$")


@dataclass
class IrcLog:
    lines: dict[int, Msg]  # line number -> message (system lines left out)
    links: list[tuple[int, int]]  # (child line, parent line); parent == child starts a conversation

    @property
    def messages(self) -> list[Msg]:
        return [self.lines[k] for k in sorted(self.lines)]

    def gold(self) -> dict[int, int]:
        """Annotated line -> conversation id (smallest line of its connected component); system lines left out."""
        parent: dict[int, int] = {}

        def find(x: int) -> int:
            parent.setdefault(x, x)
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for a, b in self.links:
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
        annotated = {a for a, _ in self.links}
        return {a: find(a) for a in annotated if a in self.lines}


def parse_log(text: str, channel_id: str = "irc") -> dict[int, Msg]:
    raw: list[tuple[int, int, str, str]] = []  # (line, minute of the log, nick, text)
    day = 0
    prev_minute = -1
    for no, line in enumerate(text.splitlines()):
        m = LINE_RE.match(line)
        if not m:
            continue
        minute = int(m.group(1)) * 60 + int(m.group(2))
        if prev_minute >= 0 and minute + day * 1440 < prev_minute - 720:
            day += 1  # the log went past midnight
        minute += day * 1440
        prev_minute = minute
        nick = m.group(3) or m.group(4)
        body = m.group(5) if m.group(3) else f"* {m.group(4)} {m.group(5)}".strip()
        raw.append((no, minute, nick, body))
    out: dict[int, Msg] = {}
    k = 0
    while k < len(raw):
        j = k
        while j < len(raw) and raw[j][1] == raw[k][1]:
            j += 1
        n = j - k
        for off, (no, minute, nick, body) in enumerate(raw[k:j]):
            secs = minute * 60 + (off + 0.5) * 60.0 / n
            out[no] = Msg(channel_id=channel_id, ts=f"{secs:.3f}", user_id=nick, user_name=nick, text=body,
                          raw_text=body)
        k = j
    return out


def parse_annotation(text: str) -> list[tuple[int, int]]:
    links = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit():
            a, b = int(parts[0]), int(parts[1])
            links.append((max(a, b), min(a, b)))
    return links


def read_log(ascii_path: Path) -> IrcLog:
    ascii_path = Path(ascii_path)
    ann = ascii_path.with_name(ascii_path.name.replace(".ascii.txt", ".annotation.txt"))
    lines = parse_log(ascii_path.read_text(encoding="utf-8", errors="replace"), channel_id=ascii_path.stem)
    links = parse_annotation(ann.read_text(encoding="utf-8")) if ann.is_file() else []
    return IrcLog(lines, links)


def read_split(folder: Path) -> list[tuple[str, IrcLog]]:
    return [(p.name, read_log(p)) for p in sorted(Path(folder).glob("*.ascii.txt"))]
