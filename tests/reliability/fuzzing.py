"""Fuzz targets for the untrusted-input parsers: Slack exports (ingest/slack_export.py + cleaning) and
documents (ingest/documents.py).

The contract under test: a parser either returns a result or raises `IngestError` (a clean rejection whose
message is shown to the user). Any other exception, or one input taking longer than `SLOW_S`, is a finding.

Inputs are built three ways, because purely random bytes never get past the format sniffing:
  * structured: a valid container (zip export, DOCX, PPTX, PDF, HTML, Markdown, CSV) filled with
    hypothesis-generated JSON/text, odd member names (traversal, absolute, unicode), wrong types;
  * mutated: real sample files (sample/handbook, sample/slack/acme-export) with random byte flips,
    truncations and splices;
  * raw: arbitrary bytes with arbitrary names.

Used by tests/reliability/test_fuzz_parsers.py (bounded) and benchmarks/fuzz_ingest.py (minutes).
"""
from __future__ import annotations

import io
import json
import tempfile
import time
import traceback
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from ingest.cleaning import clean_message
from ingest.documents import parse_bytes
from ingest.slack_export import ExportLimits, read_export
from ingest.types import IngestError

REPO = Path(__file__).resolve().parents[2]
HANDBOOK = REPO / "sample" / "handbook"
ACME = REPO / "sample" / "slack" / "acme-export"
SLOW_S = 10.0
# Small limits so a generated bomb is caught by the guard rather than eating the fuzzing time.
LIMITS = ExportLimits(max_zip_bytes=8 << 20, max_unpacked_bytes=16 << 20, max_files=2000, max_ratio=200)


@dataclass
class FuzzStats:
    examples: int = 0
    accepted: int = 0
    rejected: int = 0
    crashes: list[dict] = field(default_factory=list)
    slow: list[dict] = field(default_factory=list)
    max_seconds: float = 0.0
    rejection_kinds: dict[str, int] = field(default_factory=dict)

    def record(self, fn, describe: str) -> None:
        self.examples += 1
        t0 = time.perf_counter()
        try:
            fn()
            self.accepted += 1
        except IngestError as exc:
            self.rejected += 1
            kind = str(exc).split(":")[0][:60] if ":" in str(exc)[:60] else str(exc)[:40]
            self.rejection_kinds[kind] = self.rejection_kinds.get(kind, 0) + 1
        except Exception as exc:  # noqa: BLE001 - the finding we are looking for
            if len(self.crashes) < 50:
                self.crashes.append({"input": describe[:300], "error": f"{type(exc).__name__}: {exc}"[:500],
                                     "trace": traceback.format_exc()[-1500:]})
        dt = time.perf_counter() - t0
        self.max_seconds = max(self.max_seconds, dt)
        if dt > SLOW_S and len(self.slow) < 20:
            self.slow.append({"input": describe[:300], "seconds": round(dt, 2)})

    def summary(self) -> dict:
        top = sorted(self.rejection_kinds.items(), key=lambda kv: -kv[1])[:8]
        return {"examples": self.examples, "accepted": self.accepted, "rejected_cleanly": self.rejected,
                "crashes": len(self.crashes), "slow_inputs": len(self.slow),
                "max_seconds_per_input": round(self.max_seconds, 3), "top_rejections": dict(top),
                "first_crashes": self.crashes[:5]}


# -- strategies ----------------------------------------------------------------------------------------------

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                         st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40))
json_values = st.recursive(json_scalars, lambda kids: st.one_of(st.lists(kids, max_size=5),
                                                                st.dictionaries(st.text(max_size=12), kids,
                                                                                max_size=5)), max_leaves=25)
slack_markup = st.lists(st.one_of(
    st.text(max_size=30), st.sampled_from(["<@U1>", "<@U1|lena>", "<#C1|general>", "<!here>", "<!subteam^S1|@sup>",
                                           "<https://x.slack.com/archives/C1/p1|link>", "<mailto:a@b.c|mail>",
                                           "```code <https://a.b>```", "&lt;&gt;&amp;", "<", ">", "`", "*b*",
                                           ":tada:", "<<@U2>>", "<!date^1392734382^{date}|x>", "\u202e", "\x00"])),
    max_size=12).map("".join)
ts_values = st.one_of(st.from_regex(r"\A1[0-9]{9}\.[0-9]{6}\Z"), st.text(max_size=12), st.integers(), st.none())


@st.composite
def slack_messages(draw):
    msg = {"type": "message", "ts": draw(ts_values), "text": draw(st.one_of(slack_markup, json_values))}
    for key, strat in (("user", st.one_of(st.sampled_from(["U1", "U2", "USLACKBOT"]), json_values)),
                       ("thread_ts", ts_values), ("subtype", st.one_of(st.sampled_from(
                           ["bot_message", "channel_join", "thread_broadcast", "file_share", "tombstone"]), json_values)),
                       ("reactions", json_values), ("files", json_values), ("file", json_values),
                       ("attachments", json_values), ("user_profile", json_values), ("edited", json_values),
                       ("bot_profile", json_values), ("reply_count", json_values), ("bot_id", json_values)):
        if draw(st.booleans()):
            msg[key] = draw(strat)
    return msg if draw(st.integers(0, 9)) else draw(json_values)


member_names = st.one_of(
    st.sampled_from(["channels.json", "users.json", "groups.json", "dms.json", "mpims.json", "general/2024-01-01.json",
                     "export/channels.json", "export/general/2024-01-02.json", "../evil.json", "/etc/passwd",
                     "general/../../x.json", "C:\\win.json", "general/2024-13-45.json", "U1/2024-01-01.json"]),
    # zipfile itself cannot write a name that is empty once cut at a NUL byte; such names never reach us
    st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30).filter(
        lambda n: n.split("\x00")[0] not in ("", "/")))


@st.composite
def slack_exports(draw) -> tuple[bytes, str]:
    """A zip archive shaped like a Slack export, with hostile contents."""
    buf = io.BytesIO()
    desc = []
    warnings.filterwarnings("ignore", "Duplicate name", UserWarning)  # duplicate members are part of the test
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        channels = draw(st.one_of(
            st.lists(st.fixed_dictionaries({"id": st.one_of(st.just("C1"), json_values),
                                            "name": st.one_of(st.just("general"), json_values)},
                                           optional={"members": json_values, "is_private": json_values,
                                                     "topic": json_values, "created": json_values}), max_size=3),
            json_values))
        zf.writestr("channels.json", json.dumps(channels, allow_nan=True))
        if draw(st.booleans()):
            users = draw(st.one_of(st.lists(st.fixed_dictionaries(
                {"id": st.one_of(st.just("U1"), json_values)},
                optional={"name": json_values, "profile": json_values, "is_bot": json_values,
                          "deleted": json_values, "real_name": json_values}), max_size=3), json_values))
            zf.writestr("users.json", json.dumps(users, allow_nan=True))
        for _ in range(draw(st.integers(0, 3))):
            day = draw(st.one_of(st.lists(slack_messages(), max_size=6), json_values))
            raw = json.dumps(day, allow_nan=True).encode()
            if draw(st.integers(0, 5)) == 0:
                raw = raw[:draw(st.integers(0, len(raw)))]  # truncated day file
            if draw(st.integers(0, 9)) == 0:
                raw = draw(st.binary(max_size=64))
            zf.writestr(draw(st.one_of(st.just("general/2024-01-01.json"), member_names)), raw)
        for _ in range(draw(st.integers(0, 2))):
            name = draw(member_names)
            desc.append(name)
            zf.writestr(name, draw(st.binary(max_size=64)))
    return buf.getvalue(), "structured export " + repr(desc)[:200]


def _acme_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(ACME.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(ACME).as_posix())
    return buf.getvalue()


@st.composite
def mutated(draw, seeds: list[tuple[bytes, str]]):
    """A real file with byte flips, a truncation, a splice from another seed, or a repeated block."""
    data, name = draw(st.sampled_from(seeds))
    data = bytearray(data)
    ops = []
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "truncate", "splice", "repeat", "insert"]))
        ops.append(op)
        if not data:
            break
        if op == "flip":
            for _ in range(draw(st.integers(1, 16))):
                i = draw(st.integers(0, len(data) - 1))
                data[i] = draw(st.integers(0, 255))
        elif op == "truncate":
            data = data[:draw(st.integers(0, len(data)))]
        elif op == "splice":
            other, _ = draw(st.sampled_from(seeds))
            i, j = draw(st.integers(0, len(data))), draw(st.integers(0, len(other)))
            data = data[:i] + other[j:j + draw(st.integers(0, 4096))]
        elif op == "repeat":
            i = draw(st.integers(0, len(data) - 1))
            block = data[i:i + draw(st.integers(1, 256))]
            data[i:i] = block * draw(st.integers(1, 50))
        else:
            i = draw(st.integers(0, len(data)))
            data[i:i] = draw(st.binary(max_size=64))
    return bytes(data), name, f"mutated {name} by {ops}"


def _office_seeds() -> list[tuple[bytes, str]]:
    seeds = [(p.read_bytes(), p.name) for p in sorted(HANDBOOK.iterdir()) if p.is_file()]
    seeds.append((b"a,b,c\n1,2,3\n\"x,\"\"y\",z,\n", "t.csv"))
    seeds.append((b"<html><head><title>T</title><script>x</script></head><body><h1>H</h1><table><tr><td>c</td>"
                   b"</tr></table></body></html>", "t.html"))
    return seeds


@st.composite
def text_documents(draw):
    """Markdown / HTML / CSV / text built from hostile structure."""
    kind = draw(st.sampled_from(["md", "html", "csv", "txt", ""]))
    pieces = st.sampled_from(["# H\n", "###### deep\n", "```\n", "~~~\n", "---\ntitle: x\n---\n", "<h1>", "</h1>",
                              "<script>", "<!--", "-->", "<table><tr><td>", "\"", ",", "\r\n", "\t", "\x00",
                              "\ufeff", "<?xml version='1.0'?>", "<!DOCTYPE html>", "&#0;", "&#xD800;", "%PDF-1.4",
                              "PK\x03\x04", "\u202e", "é", "𝔘"])
    text = draw(st.lists(st.one_of(pieces, st.text(max_size=50)), max_size=40).map("".join))
    encoding = draw(st.sampled_from(["utf-8", "utf-16", "latin-1", "utf-8-sig"]))
    data = text.encode(encoding, errors="replace")
    return data, f"doc.{kind}" if kind else "README", f"text {kind or 'noext'} {encoding} {text[:120]!r}"


# -- runners -------------------------------------------------------------------------------------------------

def _slack_target(stats: FuzzStats, data: bytes, describe: str, workdir: Path) -> None:
    path = workdir / "export.zip"
    path.write_bytes(data)

    def run():
        export = read_export(path, LIMITS)
        users = {u.user_id: u.name for u in export.users}
        channels = {c.channel_id: c.name for c in export.channels}
        for m in export.messages[:200]:
            clean_message(m, users, channels)
    stats.record(run, describe)


def run_slack(deadline_s: float, max_examples: int | None = None, seed: int | None = None) -> FuzzStats:
    stats = FuzzStats()
    seeds = [(_acme_zip(), "acme.zip")]
    strategy = st.one_of(slack_exports(), mutated(seeds).map(lambda t: (t[0], t[2])),
                         st.binary(max_size=2048).map(lambda b: (b, "raw bytes " + b[:40].hex())))
    _drive(strategy, lambda item, wd: _slack_target(stats, item[0], item[1], wd), deadline_s, max_examples, seed)
    return stats


def run_documents(deadline_s: float, max_examples: int | None = None, seed: int | None = None) -> FuzzStats:
    stats = FuzzStats()
    seeds = _office_seeds()
    names = st.sampled_from(["a.pdf", "a.docx", "a.pptx", "a.html", "a.md", "a.csv", "a.txt", "noext", "a.xlsx",
                             "a.png", "a.zip", "a.msg"])
    strategy = st.one_of(mutated(seeds), text_documents(),
                         st.tuples(st.binary(max_size=4096), names).map(lambda t: (t[0], t[1], "raw " + t[1])))

    def target(item, _wd):
        data, name, describe = item
        stats.record(lambda: parse_bytes(data, name), describe)
    _drive(strategy, target, deadline_s, max_examples, seed)
    return stats


def _drive(strategy, target, deadline_s: float, max_examples: int | None, seed: int | None) -> None:
    """Feed hypothesis examples to `target` in rounds until the time or example budget runs out. Findings are
    recorded, not raised, so one crash does not stop the search for others. The budget is this process's CPU
    time, not wall time: on a loaded machine (8 jobs on 2 cores) wall time ran out before the first example."""
    clock = time.process_time
    end = clock() + deadline_s
    remaining = max_examples if max_examples is not None else 10**12
    round_no = 0
    with tempfile.TemporaryDirectory() as tmp:
        wd = Path(tmp)
        while clock() < end and remaining > 0:
            n = min(200, remaining)
            hyp = hsettings(max_examples=n, deadline=None, database=None, derandomize=False,
                            suppress_health_check=list(HealthCheck), phases=["generate"])

            @hyp
            @given(strategy)
            def one(item):
                if clock() < end:
                    target(item, wd)

            if seed is not None:
                one = _seeded(one, seed + round_no)
            one()
            remaining -= n
            round_no += 1


def _seeded(fn, seed: int):
    from hypothesis import seed as hseed
    return hseed(seed)(fn)
