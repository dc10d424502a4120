"""Pure functions that shape API payloads for display (tables, charts, captions). No Streamlit, no HTTP:
pages call these so that what they show is testable on its own."""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from ui.safe_render import escape_markdown, label_text, safe_markdown

# --- chat ------------------------------------------------------------------------------------------

def history_for_request(messages: Sequence[dict[str, Any]], question: str,
                        max_messages: int = 20) -> list[dict[str, str]]:
    """OpenAI-style messages for /v1/chat/completions: the recent turns of the conversation, then the question.
    Only user/assistant turns with text are sent; the server adds its own system prompt and passages."""
    turns = [{"role": m["role"], "content": m["content"]} for m in messages
             if m.get("role") in ("user", "assistant") and m.get("content")]
    return turns[-max_messages:] + [{"role": "user", "content": question}]


def conversation_label(title: str | None, width: int = 60) -> str:
    """A conversation's title (the first question, as its asker typed it) for a button or heading, which Streamlit
    renders as Markdown: one line, shortened, and shown as typed (no image fetched, no link made)."""
    text = " ".join(str(title or "").split()) or "Untitled"
    return label_text(text if len(text) <= width else text[: width - 1].rstrip() + "…")


def feedback_widget_value(rating: int | None) -> int | None:
    """API rating (+1/-1) -> st.feedback('thumbs') index (1 = 👍, 0 = 👎)."""
    return {1: 1, -1: 0}.get(rating) if rating is not None else None


def rating_from_widget(value: int | None) -> int | None:
    """st.feedback('thumbs') index -> API rating."""
    return {1: 1, 0: -1}.get(value) if value is not None else None


def citation_place(cit: dict[str, Any]) -> str:
    """Where a cited passage is: file or channel, page, heading, date ("leave.md · Annual leave · 2026-01-10")."""
    parts = [f"#{cit['channel']}" if cit.get("channel") else cit.get("file"),
             f"page {cit['page']}" if cit.get("page") else None, cit.get("heading"), cit.get("date")]
    return " · ".join(str(p) for p in parts if p)


def mode_notice(mode: str | None) -> tuple[str, str] | None:
    if mode == "no_answer":
        return ("warning", "Your team's sources don't answer this, so Teamlore didn't guess. The closest sources "
                           "are listed below; try rephrasing, or upload the document that has the answer.")
    if mode == "extractive":
        return ("info", "Extractive answer: these are the most relevant passages, quoted as they are — no model "
                        "wrote this text.")
    return None


def latency_caption(model_version: str | None, mode: str | None, latency: dict[str, Any] | None) -> str:
    parts = [f"Answered by **{model_version}**" if model_version
             else ("Answered by the extractive answerer" if mode in ("extractive", "no_answer")
                   else "Answered by the live model")]
    total = (latency or {}).get("total_ms")
    if isinstance(total, (int, float)):
        parts.append(f"{total / 1000:.1f} s" if total >= 1000 else f"{total:.0f} ms")
    return " · ".join(parts)


# --- upload ----------------------------------------------------------------------------------------

UPLOAD_STATUSES = ("ingested", "updated", "unchanged", "rejected")


def upload_progress(jobs: Sequence[dict[str, Any]]) -> float:
    """How far a set of upload jobs is, 0..1 (a finished job counts as whole whatever its outcome)."""
    if not jobs:
        return 1.0
    done = ("succeeded", "failed", "cancelled")
    return sum(1.0 if j.get("status") in done else float(j.get("progress") or 0.0) for j in jobs) / len(jobs)


def upload_results(entries: Sequence[dict[str, Any]], jobs: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """Per-file results in the order the files were sent: `entries` are {"filename", "job": id} for an upload the
    API took, or {"filename", "result"} for one it refused; `jobs` the finished upload jobs by id. A job that failed
    or was cancelled gives each of its files a rejection that says so."""
    out: list[dict[str, Any]] = []
    for e in entries:
        if "result" in e:
            out.append(e["result"])
            continue
        job = jobs.get(e["job"]) or {}
        if job.get("status") == "succeeded":
            out.extend(job.get("results") or [])
        else:
            why = job.get("error") or job.get("status") or "unknown"
            out.append({"filename": e["filename"], "status": "rejected", "reason": f"ingestion did not finish: {why}"})
    return out


def upload_summary(results: Iterable[dict[str, Any]]) -> dict[str, int]:
    counts = Counter(r.get("status", "rejected") for r in results)
    return {s: counts.get(s, 0) for s in UPLOAD_STATUSES}


FILE_KINDS = {
    "application/pdf": "PDF",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "Word",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "PowerPoint",
    "text/html": "HTML", "text/markdown": "Markdown", "text/plain": "Text", "text/csv": "CSV",
    "application/zip": "Slack export", "application/json": "JSON",
}


def file_kind(mime: str | None) -> str:
    """A MIME type as a reader names it ("Word", not "application/vnd.openxmlformats-…"); unknown ones as they are."""
    mime = (mime or "").split(";", 1)[0].strip().lower()
    return FILE_KINDS.get(mime, mime)


def documents_frame(documents: Sequence[dict[str, Any]]) -> pd.DataFrame:
    # The file's name only (the server's folders are nobody's business), and blanks instead of "None".
    def name(d: dict[str, Any]) -> str:
        return str(d.get("path") or "").replace("\\", "/").rsplit("/", 1)[-1]

    rows = [{
        "Title": d.get("title") or name(d) or "Untitled",
        "File": name(d),
        "Source": d.get("source") or "",
        "Visibility": d.get("visibility") or "everyone",
        "Type": file_kind(d.get("mime")),
        # text, not a nullable number: the table shows a missing page count (HTML, Markdown) as "None" otherwise
        "Pages": str(d["pages"]) if isinstance(d.get("pages"), int) and not isinstance(d.get("pages"), bool) else "",
        "Size (KB)": round((d.get("size_bytes") or 0) / 1024, 1),
        "Updated": pd.to_datetime(d.get("updated_at"), utc=True, errors="coerce"),
    } for d in documents]
    return pd.DataFrame(rows, columns=["Title", "File", "Source", "Visibility", "Type", "Pages", "Size (KB)", "Updated"])


# --- training ------------------------------------------------------------------------------------

def metrics_frame(points: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Training metric points -> one row per step (the last point wins when a step repeats)."""
    cols = ["loss", "lr", "grad_norm", "tokens_per_s", "gpu_mem"]
    if not points:
        return pd.DataFrame(columns=cols, index=pd.Index([], name="step"))
    df = pd.DataFrame([{"step": p.get("step"), **{c: p.get(c) for c in cols}} for p in points])
    df = df.dropna(subset=["step"]).drop_duplicates("step", keep="last").set_index("step").sort_index()
    return df.apply(pd.to_numeric, errors="coerce")


def axis_domain(values: Iterable[float], pad: float = 0.05) -> tuple[float, float]:
    """A y-axis range that holds every value (a loss of 6.4 is never clipped to a 1–5 axis), padded a little."""
    xs = [float(v) for v in values if v is not None and v == v]
    if not xs:
        return (0.0, 1.0)
    lo, hi = min(xs), max(xs)
    span = hi - lo or abs(hi) or 1.0
    return (lo - pad * span, hi + pad * span)


def merge_metrics(known: list[dict[str, Any]], new: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Append newly fetched points (fetched with after_step=last known step) without duplicating steps."""
    seen = {p.get("step") for p in known}
    return known + [p for p in new if p.get("step") not in seen]


def last_step(points: Sequence[dict[str, Any]]) -> int:
    """The after_step to poll with: the API returns points with step > after_step (-1 = all)."""
    steps = [p["step"] for p in points if isinstance(p.get("step"), int)]
    return max(steps) if steps else -1


def fmt_gpu_mem(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "— (CPU)"
    value = float(value)
    return f"{value / 2**30:.2f} GiB" if value > 2**20 else f"{value:.0f} MiB"


_SERVER_PATH = re.compile(r"(?<![\w:/.])(?:/[\w.@+-]+){2,}/?|[A-Za-z]:\\(?:[\w .@+-]+\\)*[\w .@+-]*")


def job_error_text(error: str | None, fallback: str = "see the logs") -> str:
    """A failed job's error for its page: the server's folders left out (a file is named by its own name; the full
    path stays in the job's logs, which admins can read), and Markdown/HTML shown as typed."""
    if not error or not str(error).strip():
        return fallback
    text = _SERVER_PATH.sub(lambda m: m.group(0).rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1] or "…",
                            " ".join(str(error).split()))
    return safe_markdown(text if len(text) <= 300 else text[:299] + "…")


# --- models ---------------------------------------------------------------------------------------

def flatten_metrics(metrics: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"eval": {"loss": 1.2}, "retrieval": {...}} -> {"eval.loss": 1.2, ...}; only numbers and short strings."""
    flat: dict[str, Any] = {}
    for key, value in (metrics or {}).items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten_metrics(value, name + "."))
        elif isinstance(value, bool):
            flat[name] = "yes" if value else "no"
        elif isinstance(value, (int, float)):
            flat[name] = value
        elif isinstance(value, str) and len(value) <= 40:
            flat[name] = value
    return flat


QUALITY_WORDS = ("eval", "loss", "perplexity", "f1", "accuracy", "exact", "rouge", "bleu", "recall", "faithful")


def models_comparison_frame(versions: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Evaluation figures side by side: one row per metric, one column per model version."""
    columns = {}
    for v in versions:
        label = v.get("name") or f"#{v.get('id')}"
        if v.get("status") == "live":
            label += " (live)"
        columns[label] = flatten_metrics(v.get("metrics") or {})
    df = pd.DataFrame(columns)
    if not df.empty:
        df.index.name = "metric"
        # Quality figures first, then the run's setup details.
        def rank(name: str) -> tuple[int, str]:
            return (0 if any(w in name.lower() for w in QUALITY_WORDS) else 1, name)
        df = df.loc[sorted(df.index, key=rank)]
    return df


GATE_FIGURES = (("answer_f1", "answer F1"), ("keyword_hits", "keyword hits"),
                ("citation_hit_rate", "citations pointing at the answer"), ("citation_precision", "citation precision"),
                ("abstention_rate", "abstains when the sources do not answer"), ("questions", "held-out questions"))


def gate_figures_frame(gate: dict[str, Any]) -> pd.DataFrame:
    """The gate's figures: one row per figure, the candidate beside the live answerer it was compared with and,
    when a version is live, beside the extractive answerer too (the gate's floor)."""
    cand, live = gate.get("candidate") or {}, gate.get("live") or {}
    other = f"live ({gate.get('compared_with') or '—'})"
    cols = [("candidate", cand), (other, live)]
    if gate.get("compared_with") not in (None, "extractive") and gate.get("extractive"):
        cols.append(("extractive (floor)", gate["extractive"]))
    rows = {label: {name: figs.get(key) for name, figs in cols} for key, label in GATE_FIGURES
            if any(figs.get(key) is not None for _, figs in cols)}
    df = pd.DataFrame(rows).T
    if not df.empty:
        df.index.name = "figure"
    return df


CHANNEL_NAMES = {"web": "web chat", "api": "web chat or API", "slack": "Slack"}
MODE_NAMES = {"extractive": "quoted passages", "no_answer": "no answer found", "generative": "written by the model"}


def worst_answer_heading(item: dict[str, Any]) -> str:
    """The line above a badly rated answer on the Feedback page ("**-2** from 3 ratings · Slack · answered by
    **v3** (written by the model) · corrected"), in words, not the API's field values."""
    ratings = int(item.get("ratings") or 0)
    parts = [f"**{int(item.get('score') or 0):+d}** from {ratings} rating{'s' if ratings != 1 else ''}"]
    channel = item.get("channel")
    if channel:
        parts.append(escape_markdown(CHANNEL_NAMES.get(channel, str(channel))))
    mode = item.get("mode")
    how = MODE_NAMES.get(mode, str(mode).replace("_", " ")) if mode else None
    if item.get("model_version"):
        parts.append(f"answered by **{escape_markdown(str(item['model_version']))}**" + (f" ({how})" if how else ""))
    else:
        parts.append("extractive answer" + (f" ({how})" if how and mode != "extractive" else ""))
    if item.get("corrected"):
        parts.append("corrected")
    return " · ".join(parts)


def shorten(text: str | None, width: int = 400) -> str:
    """One paragraph of at most `width` characters (a question of 300 words filled the Feedback page)."""
    flat = " ".join(str(text or "").split())
    return flat if len(flat) <= width else flat[: width - 1].rstrip() + "…"


# --- usage ------------------------------------------------------------------------------------------

def questions_frame(usage: dict[str, Any], min_days: int = 7) -> pd.DataFrame:
    rows = usage.get("questions_per_day") or []
    df = pd.DataFrame([{"day": pd.to_datetime(r.get("day"), errors="coerce"), "questions": r.get("count", 0)}
                       for r in rows], columns=["day", "questions"])
    df = df.dropna(subset=["day"]).groupby("day").sum().sort_index()
    if df.empty:
        return df
    # every day from the first (at least a week back) to the last: a day without questions is a 0, not a gap
    # the chart closes, and one day's bar is not a hairline across the whole chart
    days = pd.date_range(min(df.index.min(), df.index.max() - pd.Timedelta(days=min_days - 1)), df.index.max(),
                         freq="D", name="day")
    return df.reindex(days, fill_value=0)


def feedback_ratio(usage: dict[str, Any]) -> float | None:
    fb = usage.get("feedback") or {}
    up, down = int(fb.get("up") or 0), int(fb.get("down") or 0)
    return up / (up + down) if up + down else None


def latency_frame(usage: dict[str, Any]) -> pd.DataFrame:
    lat = usage.get("latency_ms") or {}
    rows = [{"percentile": p, "ms": lat.get(p)} for p in ("p50", "p95", "p99") if lat.get(p) is not None]
    return pd.DataFrame(rows, columns=["percentile", "ms"]).set_index("percentile")


# --- datasets -------------------------------------------------------------------------------------

def example_preview(example: dict[str, Any], width: int = 90) -> str:
    """The first user turn of an instruct example, shortened, for a list label."""
    for m in example.get("messages") or []:
        if m.get("role") == "user" and m.get("content"):
            text = " ".join(str(m["content"]).split())
            return text if len(text) <= width else text[: width - 1] + "…"
    return f"example {example.get('id')}"


def _total(value: Any) -> Any:
    """A figure that is either a number or a breakdown dict with a "total"."""
    return value.get("total") if isinstance(value, dict) else value


def dataset_example_count(stats: dict[str, Any] | None) -> int | None:
    total = _total((stats or {}).get("examples"))
    return int(total) if isinstance(total, (int, float)) else None


def dataset_figures(report: dict[str, Any]) -> dict[str, str]:
    """The headline figures of a dataset report, for metric tiles (missing ones are left out)."""
    stats = report.get("stats") or {}
    reviews = report.get("reviews") or {}
    quality = stats.get("quality")
    candidates = {
        "Examples": dataset_example_count(stats),
        "Conversations": _total(stats.get("conversations")),
        "Channels": len(stats["channels"]) if isinstance(stats.get("channels"), (dict, list)) else None,
        "Mean quality": quality.get("mean") if isinstance(quality, dict) else None,
        "Accepted": reviews.get("accepted"),
        "Rejected": reviews.get("rejected"),
    }
    out = {}
    for name, value in candidates.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        out[name] = f"{value:.2f}" if isinstance(value, float) else f"{value:,}"
    return out


def example_meta(example: dict[str, Any]) -> dict[str, Any]:
    """Quality, reasons, channel and kind of an example, wherever the API puts them (top level or `meta`)."""
    meta = example.get("meta") or {}
    return {key: example.get(key, meta.get(key)) for key in ("quality", "reasons", "channel", "kind", "permalinks")}


def review_label(review: Any) -> str:
    return {True: "✅ accepted", False: "❌ rejected", "accepted": "✅ accepted",
            "rejected": "❌ rejected"}.get(review, "🕒 not reviewed")


def live_version_warning(models: Sequence[dict[str, Any]], live_name: str | None) -> str | None:
    """What the Model versions page says when the registry's live version is not the one answering (its files are
    gone): `note` of the "teamlore" card of GET /v1/models, and what the admin can do."""
    card = next((m for m in models if m.get("id") == "teamlore"), None)
    if not card or not card.get("note"):
        return None
    return (f"{card['note']}. The registry still says **{live_name or '—'}** is live: roll back, or promote "
            f"another version (answers now say who answered: {card.get('answered_by') or 'extractive'}).")
