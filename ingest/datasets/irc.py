"""IRC logs in the layout of Kummerfeld et al.'s Ubuntu disentanglement corpus, read as dataset `Msg` records.

A log line is `[HH:MM] <nick> text`, `[HH:MM] * nick action` or a system line (`=== … has joined`). An
annotation file lists reply links `a b -` between 0-based line numbers: the later line replies to the earlier one,
`a a -` starts a conversation. A conversation is a connected component of the links.

Slack-like channels from the same gold (`retimed_channel`): the annotated conversations laid out again on a slower
clock, optionally without the leading `nick:` address (`strip_address`) — the training augmentation of the
reply-link model and the proxies of benchmarks/disentangle_proxies.py.

IRC timestamps have minute resolution; the messages of one minute are spread evenly over it (`ts` in seconds,
like Slack's) so time gaps are continuous. System lines are skipped: Slack channels used by the builder have none.
"""
from __future__ import annotations

import dataclasses
import math
import random
import re
from dataclasses import dataclass
from pathlib import Path

from ingest.datasets.records import Msg

LINE_RE = re.compile(r"^\[(\d\d):(\d\d)\] (?:<([^>]+)>|\* (\S+)) ?(.*)$")
ADDRESS_RE = re.compile(r"^\s*([^\s:,]+)[:,]\s+")


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


def irc_conversations(folder: Path) -> list[list[Msg]]:
    """The gold conversations of a split folder (annotated lines only), each time-ordered."""
    out = []
    for name, log in read_split(folder):
        gold = log.gold()
        groups: dict[int, list[Msg]] = {}
        for ln in sorted(gold):
            groups.setdefault(gold[ln], []).append(log.lines[ln])
        out += [sorted(g, key=lambda m: m.time) for g in groups.values()]
    return out


def strip_address(convs: list[list[Msg]]) -> list[list[Msg]]:
    """Every line without its leading `nick:` / `nick,` address (when the nick is a speaker of the split)."""
    nicks = {m.speaker.lower() for c in convs for m in c}

    def bare(m: Msg) -> Msg:
        a = ADDRESS_RE.match(m.text)
        if a and a.group(1).lower() in nicks:
            text = m.text[a.end():] or m.text
            return dataclasses.replace(m, text=text, raw_text=text)
        return m
    return [[bare(m) for m in c] for c in convs]


def retimed_channel(convs: list[list[Msg]], stretch: float, arrival_s: float, seed: int,
                    with_origin: bool = False, stretch_max: float | None = None, answer_wait_s: float = 0.0):
    """All conversations in a random order, each starting an exponential pause (mean `arrival_s`) after the
    previous start, with the gaps inside it multiplied by `stretch`. Returns the time-ordered messages and their
    gold labels (and, `with_origin`, each message's (conversation, position in it)).

    Help-channel shape (`stretch_max`, `answer_wait_s`; off by default): each conversation gets its own stretch,
    log-uniform between `stretch` and `stretch_max` (some threads go back and forth quickly, some slowly), and its
    first message by someone other than the opener — the first answer — and everything after it come an extra
    exponential wait (mean `answer_wait_s`) later: a question sits in the channel until a helper turns up."""
    rng = random.Random(seed)
    order = list(range(len(convs)))
    rng.shuffle(order)
    t = 1.5e9
    msgs, gold, origin = [], [], []
    for ci in order:
        c = convs[ci]
        t += rng.expovariate(1.0 / arrival_s)
        s = stretch
        if stretch_max is not None and stretch_max > stretch:
            s = math.exp(rng.uniform(math.log(stretch), math.log(stretch_max)))
        wait = rng.expovariate(1.0 / answer_wait_s) if answer_wait_s > 0 else 0.0
        answered = False
        for k, m in enumerate(c):
            answered = answered or m.speaker != c[0].speaker
            off = (m.time - c[0].time) * s + (wait if answered else 0.0)
            msgs.append(dataclasses.replace(m, ts=f"{t + off:.3f}", channel_id="proxy"))
            gold.append(ci)
            origin.append((ci, k))
    idx = sorted(range(len(msgs)), key=lambda i: (msgs[i].time, origin[i]))
    out = [msgs[i] for i in idx], [gold[i] for i in idx]
    return (*out, [origin[i] for i in idx]) if with_origin else out
