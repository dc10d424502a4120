"""`teamlore eval answers QUESTIONS.jsonl`: cited@3, key-fact hit, abstention and latency through the engine."""
from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Optional

import typer

from app.settings import get_settings


def register(ev: typer.Typer) -> None:
    @ev.command("answers")
    def eval_answers(
        questions: Path = typer.Argument(..., help="JSONL: question, answerable, gold_pages, key_facts, split"),
        docs: Optional[Path] = typer.Option(None, help="corpus folder to ingest when the data directory has no "
                                            "documents (gold_pages are relative to it)"),
        data_dir: Optional[Path] = typer.Option(None, help="data directory to use (default: with --docs, a cached "
                                                "one under the temp folder; else the configured one)"),
        split: Optional[str] = typer.Option(None, help="only this split (e.g. tune); default: all, reported per split"),
        out: Optional[Path] = typer.Option(None, help="write the full report (every answer) as JSON here"),
    ) -> None:
        """Answer quality of the configured answerer (extractive unless a model is served) on labelled questions."""
        from app.answering.quality import (QuestionFileError, document_paths, ensure_corpus,
                                                 evaluate_questions, load_questions)
        from app.services.search import reset_searchers
        from app.wiring import build_engine
        settings = get_settings()
        if data_dir is None and docs is not None:
            key = hashlib.sha256(str(docs.resolve()).encode()).hexdigest()[:12]
            data_dir = Path(tempfile.gettempdir()) / f"teamlore-eval-{key}"
        if data_dir is not None:
            settings = settings.model_copy(update={"data_dir": data_dir, "database_url": None})
            reset_searchers()
        try:
            qs = load_questions(questions)
            if split:
                qs = [q for q in qs if q.split == split]
                if not qs:
                    raise QuestionFileError(f"no questions in split {split!r}")
            ensure_corpus(settings, docs, progress=lambda s: typer.echo(f"  {s}…"))
        except QuestionFileError as exc:
            typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
            raise typer.Exit(2)
        engine = build_engine(settings)
        report = evaluate_questions(engine, qs, document_paths(settings),
                                    progress=lambda i, n: typer.echo(f"  {i}/{n}") if i % 20 == 0 else None)
        typer.echo(f"data directory: {settings.data_dir}  answerer: {settings.generator}")
        typer.echo(f"{'split':8s} {'n':>4s} {'cited@3':>8s} {'key-fact':>9s} {'abstain':>8s} {'false-abst':>10s}"
                   f" {'p50 ms':>8s} {'p95 ms':>8s}")
        for name, s in [*report["splits"].items(), ("all", report["all"])]:
            def f(v):
                return "-" if v is None else f"{v:.3f}"
            typer.echo(f"{name:8s} {s['questions']:4d} {f(s['cited_at_3']):>8s} {f(s['key_fact_hit']):>9s} "
                       f"{f(s['abstention']):>8s} {f(s['false_abstention']):>10s} {s['latency_ms_p50']:>8} "
                       f"{s['latency_ms_p95']:>8}")
        if out:
            out.write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
            typer.echo(f"report: {out}")
