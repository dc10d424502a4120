"""`teamlore ingest slack PATH | --live` and `teamlore ingest docs PATH...`: progress bars and a summary table."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from app.db import migrate
from app.settings import get_settings

console = Console()


class _Bars:
    """Adapts the ingestion service's progress(description, done, total) calls to one rich task per stage."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self.tasks: dict[str, int] = {}

    def __call__(self, desc: str, done: int, total: int | None) -> None:
        stage = desc.split(" ", 1)[0]
        task = self.tasks.get(stage)
        if task is None:
            task = self.tasks[stage] = self.progress.add_task(desc, total=total)
        self.progress.update(task, description=desc, completed=done, total=total)


def _progress() -> Progress:
    return Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=False)


def _summary_table(summary) -> None:
    table = Table(title=f"Ingestion run {summary.run_id} — {summary.source_name} ({summary.status})")
    for col in ("added", "updated", "skipped", "rejected", "deleted"):
        table.add_column(col, justify="right")
    table.add_row(*(str(getattr(summary, c)) for c in ("added", "updated", "skipped", "rejected", "deleted")))
    console.print(table)
    if summary.filtered:
        ft = Table(title="Kept out of the corpus")
        ft.add_column("reason")
        ft.add_column("messages", justify="right")
        for reason, n in sorted(summary.filtered.items(), key=lambda kv: -kv[1]):
            ft.add_row(reason, str(n))
        console.print(ft)
    if summary.masked:
        console.print("masked: " + ", ".join(f"{k} {v}" for k, v in sorted(summary.masked.items())))
    if summary.rejections:
        rt = Table(title="Rejected")
        rt.add_column("item", overflow="fold")
        rt.add_column("reason", overflow="fold")
        for item, reason in summary.rejections[:50]:
            rt.add_row(item, reason)
        console.print(rt)
        if len(summary.rejections) > 50:
            console.print(f"… and {len(summary.rejections) - 50} more (see the run's report)")


def register(cli: typer.Typer) -> None:
    app = typer.Typer(help="Bring Slack and documents into the corpus.", no_args_is_help=True)

    @app.command("slack")
    def slack(path: Optional[Path] = typer.Argument(None, help="export .zip or folder"),
              live: bool = typer.Option(False, "--live", help="sync through the Slack Web API instead"),
              source: Optional[str] = typer.Option(None, "--source", help="source name (default: from the export, "
                                                                          "or 'slack' for --live)")) -> None:
        """Ingest a Slack export (zip or folder), or sync a workspace live with --live."""
        from app.services.ingestion import ingest_slack_export, sync_slack_live
        if live == (path is not None):
            raise typer.BadParameter("give either an export PATH or --live, not both and not neither")
        settings = get_settings()
        settings.ensure_dirs()
        migrate(settings.db_url)
        with _progress() as progress:
            bars = _Bars(progress)
            if live:
                token = settings.slack_bot_token
                if not token:
                    console.print("[red]error:[/] set TEAMLORE_SLACK_BOT_TOKEN to sync live")
                    raise typer.Exit(2)
                from slack_sdk import WebClient
                client = WebClient(token=token, base_url=settings.slack_api_url)
                summary = sync_slack_live(settings, client, source_name=source or "slack", progress=bars)
            else:
                summary = ingest_slack_export(settings, path, source_name=source, progress=bars)
        _summary_table(summary)
        if summary.status != "done":
            raise typer.Exit(1)

    @app.command("docs")
    def docs(paths: list[Path] = typer.Argument(..., help="files or folders (recursively)"),
             source: str = typer.Option("documents", "--source", help="source name"),
             visibility: str = typer.Option("everyone", "--visibility", help="everyone | group:<name>")) -> None:
        """Ingest documents: PDF, DOCX, PPTX, HTML, Markdown, text, CSV."""
        from app.services.ingestion import ingest_documents
        settings = get_settings()
        settings.ensure_dirs()
        migrate(settings.db_url)
        try:
            with _progress() as progress:
                summary = ingest_documents(settings, paths, source_name=source, visibility=visibility,
                                           progress=_Bars(progress))
        except ValueError as exc:
            console.print(f"[red]error:[/] {exc}")
            raise typer.Exit(2) from None
        _summary_table(summary)
        nothing_read = summary.rejected and not (summary.added or summary.updated or summary.skipped)
        if summary.status != "done" or nothing_read:  # e.g. a mistyped path: a script must see it failed
            raise typer.Exit(1)

    cli.add_typer(app, name="ingest")
