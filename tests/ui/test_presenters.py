"""ui.presenters: shaping API payloads for display."""
from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import pytest

from ui.common import fmt_ago, fmt_bytes, parse_time
from ui.presenters import (citation_place, documents_frame, feedback_ratio, feedback_widget_value, history_for_request,
                           last_step, latency_caption, latency_frame, merge_metrics, metrics_frame, mode_notice,
                           models_comparison_frame, questions_frame, rating_from_widget, upload_summary)


def test_history_keeps_recent_turns_then_the_question():
    msgs = [{"role": "user", "content": f"q{i}"} if i % 2 == 0 else {"role": "assistant", "content": f"a{i}"}
            for i in range(30)] + [{"role": "assistant", "content": ""}, {"role": "system", "content": "x"}]
    out = history_for_request(msgs, "new?", max_messages=4)
    assert out == [{"role": "user", "content": "q26"}, {"role": "assistant", "content": "a27"},
                   {"role": "user", "content": "q28"}, {"role": "assistant", "content": "a29"},
                   {"role": "user", "content": "new?"}]


@pytest.mark.parametrize("rating", [1, -1, None])
def test_feedback_mapping_round_trips(rating):
    assert rating_from_widget(feedback_widget_value(rating)) == rating


def test_mode_notices_and_caption():
    assert mode_notice("generative") is None
    assert mode_notice("no_answer")[0] == "warning"
    assert "Extractive" in mode_notice("extractive")[1]
    assert latency_caption("tiny-v2", "generative", {"total_ms": 1520}) == "Answered by **tiny-v2** · 1.5 s"
    assert latency_caption(None, "extractive", {"total_ms": 42.4}) == "Answered by the extractive answerer · 42 ms"


def test_metrics_frame_dedupes_and_orders_steps():
    known = [{"step": 1, "loss": 3.0, "lr": 1e-4}, {"step": 2, "loss": 2.5, "lr": 2e-4}]
    merged = merge_metrics(known, [{"step": 2, "loss": 9.9, "lr": 0.0}, {"step": 3, "loss": 2.0, "lr": 2e-4}])
    assert [p["step"] for p in merged] == [1, 2, 3] and merged[1]["loss"] == 2.5
    df = metrics_frame(merged)
    assert list(df.index) == [1, 2, 3] and df.loc[3, "loss"] == 2.0 and df["gpu_mem"].isna().all()
    assert last_step(merged) == 3 and last_step([]) == -1
    assert metrics_frame([]).empty


def test_models_comparison_side_by_side():
    df = models_comparison_frame([
        {"id": 2, "name": "v2", "status": "candidate", "metrics": {"eval": {"loss": 1.5}, "f1": 0.6, "note": "ok"}},
        {"id": 1, "name": "v1", "status": "live", "metrics": {"eval": {"loss": 2.0}, "f1": 0.5, "blob": [1, 2]}},
    ])
    assert list(df.columns) == ["v2", "v1 (live)"]
    assert df.loc["eval.loss", "v2"] == 1.5 and df.loc["f1", "v1 (live)"] == 0.5
    assert "blob" not in df.index


def test_usage_frames():
    usage = {"questions_per_day": [{"day": "2026-11-22", "count": 3}, {"day": "2026-11-21", "count": 1}],
             "feedback": {"up": 3, "down": 1}, "latency_ms": {"p50": 120.0, "p95": 480.0, "p99": None}}
    q = questions_frame(usage)
    assert q["questions"].tolist() == [0, 0, 0, 0, 0, 1, 3]  # a week, the days without questions as 0
    assert q.index[0] == pd.Timestamp("2026-11-16") and q.index[-1] == pd.Timestamp("2026-11-22")
    q = questions_frame({"questions_per_day": [{"day": "2026-11-01", "count": 2}, {"day": "2026-11-10", "count": 1}]})
    assert len(q) == 10 and q["questions"].sum() == 3 and q.loc["2026-11-05", "questions"] == 0
    assert questions_frame({}).empty
    assert feedback_ratio(usage) == 0.75 and feedback_ratio({"feedback": {"up": 0, "down": 0}}) is None
    assert latency_frame(usage)["ms"].to_dict() == {"p50": 120.0, "p95": 480.0}


def test_upload_summary_and_documents_frame():
    assert upload_summary([{"status": "ingested"}, {"status": "rejected"}, {"status": "ingested"}]) == \
        {"ingested": 2, "updated": 0, "unchanged": 0, "rejected": 1}
    df = documents_frame([{"id": 1, "title": "Handbook", "source": "uploads", "mime": "text/markdown",
                           "pages": None, "size_bytes": 2048, "updated_at": "2026-11-23T10:00:00", "path": "h.md"}])
    assert df.loc[0, "Size (KB)"] == 2.0 and df.loc[0, "Title"] == "Handbook"
    # no server folders and no literal "None" in what the corpus table shows
    df = documents_frame([{"id": 2, "title": None, "source": None, "mime": None, "pages": None, "size_bytes": None,
                           "updated_at": None, "path": "/srv/teamlore/var/uploads/documents/leave policy.pdf"}])
    shown = df.astype(str).to_string()
    assert "/srv" not in shown and "uploads" not in shown and "None" not in shown
    assert df.loc[0, "Title"] == "leave policy.pdf" and df.loc[0, "File"] == "leave policy.pdf"


def test_citation_place_names_file_heading_and_date():
    assert citation_place({"source": "document", "file": "leave.md", "heading": "Leave › Annual leave",
                           "date": "2026-01-10", "page": None}) == "leave.md · Leave › Annual leave · 2026-01-10"
    assert citation_place({"source": "slack", "channel": "hr-help", "date": "2026-02-16"}) == "#hr-help · 2026-02-16"


def test_formatters():
    now = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
    assert fmt_ago("2026-11-23T11:00:00", now=now) == "1 hour ago"
    assert fmt_ago("2026-11-21T12:00:00Z", now=now) == "2 days ago"
    assert fmt_ago(None) == "never" and parse_time("not a time") is None
    assert fmt_bytes(512) == "512 B" and fmt_bytes(3 * 1024 * 1024) == "3.0 MB"


def test_axis_domain_holds_every_value():
    from ui.presenters import axis_domain
    lo, hi = axis_domain([6.4, 3.2, 1.1])
    assert lo < 1.1 and hi > 6.4 and hi < 7.0
    assert axis_domain([]) == (0.0, 1.0)
    lo, hi = axis_domain([2.0, float("nan")])  # one point still gets a visible range
    assert lo < 2.0 < hi


def test_upload_results_follow_the_files_order_and_say_when_a_job_did_not_finish():
    from ui.presenters import upload_progress, upload_results
    entries = [{"filename": "a.md", "job": 1}, {"filename": "b.md", "result": {"filename": "b.md", "status": "rejected",
                                                                                "reason": "too large"}},
               {"filename": "c.md", "job": 2}]
    jobs = {1: {"status": "succeeded", "results": [{"filename": "a.md", "status": "ingested"}]},
            2: {"status": "failed", "error": "OSError: disk full"}}
    got = upload_results(entries, jobs)
    assert [(r["filename"], r["status"]) for r in got] == [("a.md", "ingested"), ("b.md", "rejected"),
                                                           ("c.md", "rejected")]
    assert "disk full" in got[2]["reason"]
    assert upload_progress([{"status": "running", "progress": 0.5}, {"status": "failed", "progress": 0.2}]) == 0.75
    assert upload_progress([]) == 1.0


def test_gate_figures_show_the_extractive_floor_beside_a_live_version():
    from ui.presenters import gate_figures_frame
    gate = {"compared_with": "forced-v1", "candidate": {"answer_f1": 0.3}, "live": {"answer_f1": 0.05},
            "extractive": {"answer_f1": 0.51}}
    df = gate_figures_frame(gate)
    assert list(df.columns) == ["candidate", "live (forced-v1)", "extractive (floor)"]
    assert df.loc["answer F1", "extractive (floor)"] == 0.51
    # with nothing live the extractive answerer IS the live answerer: no second column
    df = gate_figures_frame({"compared_with": "extractive", "candidate": {"answer_f1": 0.3},
                             "live": {"answer_f1": 0.51}, "extractive": {"answer_f1": 0.51}})
    assert list(df.columns) == ["candidate", "live (extractive)"]


def test_live_version_warning_names_who_answers_when_the_live_files_are_gone():
    from ui.presenters import live_version_warning
    ok = [{"id": "teamlore", "answered_by": "v2"}, {"id": "v2", "status": "live"}]
    assert live_version_warning(ok, "v2") is None
    broken = [{"id": "teamlore", "answered_by": "v1", "note": "model version v2 cannot be loaded (ValueError: gone); "
                                                             "v1 answers instead"}, {"id": "v2", "status": "live"}]
    text = live_version_warning(broken, "v2")
    assert "v2 cannot be loaded" in text and "**v2** is live: roll back" in text and "who answered: v1" in text


def test_documents_frame_names_file_kinds_and_leaves_unknown_page_counts_blank():
    """What the browser showed: "application/vnd.openxmlformats-officedocument…" cut off in the Type column, and a
    literal "None" (the table's rendering of a missing number) under Pages for HTML and Markdown documents."""
    df = documents_frame([
        {"id": 1, "title": "Travel", "mime": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
         "pages": 1, "path": "travel.docx"},
        {"id": 2, "title": "Office", "mime": "text/html; charset=utf-8", "pages": None, "path": "office.html"},
        {"id": 3, "title": "Odd", "mime": "application/x-thing", "path": "odd.bin"},
    ])
    assert df["Type"].tolist() == ["Word", "HTML", "application/x-thing"]
    assert df["Pages"].tolist() == ["1", "", ""]
    assert not df["Pages"].isna().any()  # nothing the table would write as "None"


def test_safe_markdown_ends_a_bare_url_before_the_next_character():
    """A bare URL followed by an escaped character ("<img src=http://x/p.png>", "(map: <http://x>)") linked to
    "http://x/p.png%5C%3E" and showed a backslash: GFM ends a bare URL's link at whitespace or "<", not at an escape.
    Written as an autolink, the link ends with the URL and still shows its own address."""
    from markdown_it import MarkdownIt

    from ui.safe_render import safe_markdown
    md = safe_markdown("<img src=http://example.com/x.png> and [click](http://evil.example) and "
                       "https://en.wikipedia.org/wiki/PDF_(disambiguation). see http://a.example/?a=1&b=2! "
                       "(map: <http://maps.example/zeta>)")
    tokens = [t for block in MarkdownIt("commonmark").parse(md) for t in [block, *(block.children or [])]]
    assert not [t for t in tokens if t.type in ("image", "html_inline", "html_block")]
    links = [t.attrs["href"] for t in tokens if t.type == "link_open"]
    assert links == ["http://example.com/x.png", "http://evil.example",
                     "https://en.wikipedia.org/wiki/PDF_(disambiguation)", "http://a.example/?a=1&b=2",
                     "http://maps.example/zeta"]
    text = "".join(t.content for t in tokens if t.type == "text")
    assert "<img src=http://example.com/x.png>" in text and "click (http://evil.example)" in text
    assert "(disambiguation). see" in text and "a=1&b=2! (map: <http://maps.example/zeta>)" in text


def test_safe_markdown_keeps_the_extractive_answers_block_quotes():
    """The extractive answerer writes "> quote [1]" lines; the chat showed a literal ">" before each quote."""
    from markdown_it import MarkdownIt

    from ui.safe_render import safe_markdown
    md = safe_markdown("> You may carry over up to 5 unused days. [1]\n\n> Small correction: a > b <b>x</b> [2]")
    types = [t.type for t in MarkdownIt("commonmark").parse(md)]
    assert types.count("blockquote_open") == 2 and "html_block" not in types
    assert "a \\> b \\<b\\>x\\</b\\>" in md  # a ">" inside a line is still shown as typed
    assert safe_markdown("a\n> b").splitlines()[1] == "> b"


def test_a_failed_jobs_error_names_no_server_folder_and_renders_as_typed():
    from ui.presenters import job_error_text
    shown = job_error_text("FileNotFoundError: [Errno 2] No such file or directory: "
                           "'/srv/teamlore/var/models/tiny-v3/adapter_config.json' <b>x</b>")
    assert "/srv" not in shown and "var/models" not in shown and "'adapter_config.json'" in shown
    assert "\\<b\\>" in shown and "\\[Errno 2\\]" in shown
    assert "Users" not in job_error_text(r"OSError: C:\Users\bob\data\x.bin is locked")
    assert job_error_text("see http://x.example/a/b and 3/4") == "see <http://x.example/a/b> and 3/4"
    assert job_error_text(None) == job_error_text("  ") == "see the logs"


def test_conversation_titles_show_as_typed_on_one_short_line():
    """The title (the first question) labels a sidebar button and the chat's heading, both rendered as Markdown:
    a question with an image made the sidebar fetch it, and a long one filled the sidebar."""
    from ui.presenters import conversation_label
    label = conversation_label("what is ![x](http://evil.example/p.png) <b>this</b>")
    assert "](" not in label and "\\!\\[x\\]" in label and "\\<b\\>" in label
    assert conversation_label("meal expenses\n" * 50).endswith("…") and len(conversation_label("a " * 100)) <= 60
    assert "\n" not in conversation_label("a\nb") and conversation_label(None) == conversation_label("  ") == "Untitled"
    # no link in a button (it would be followed instead of pressing the button), and no stray backslash
    assert conversation_label("<see http://x.example/a.png>") == "\\<see http\\://x.example/a.png\\>"


def test_worst_answer_heading_in_words():
    """The Feedback page read "-1 from 1 rating(s) · api · answered by **extractive** (extractive)" and "(no_answer)"."""
    from ui.presenters import shorten, worst_answer_heading
    assert worst_answer_heading({"score": -1, "ratings": 1, "channel": "slack", "mode": "extractive",
                                 "model_version": None}) == "**-1** from 1 rating · Slack · extractive answer"
    assert worst_answer_heading({"score": -2, "ratings": 3, "channel": "web", "mode": "no_answer",
                                 "model_version": None, "corrected": True}) == \
        "**-2** from 3 ratings · web chat · extractive answer (no answer found) · corrected"
    head = worst_answer_heading({"score": -1, "ratings": 2, "channel": None, "mode": None, "model_version": "v3"})
    assert head == "**-1** from 2 ratings · answered by **v3**" and "None" not in head
    assert shorten("meal expenses " * 300).endswith("…") and len(shorten("x " * 1000)) == 400
