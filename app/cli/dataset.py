"""`teamlore dataset build | list | show`: versioned instruct datasets from the ingested Slack data."""
from __future__ import annotations

from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from app.db import migrate
from app.settings import get_settings

console = Console()


def _summary(info: dict) -> Table:
    st = info["stats"]
    t = Table(title=f"dataset {info['name']} · version {info['version']}", show_lines=False)
    t.add_column("kind")
    for split in ("train", "validation", "test"):
        t.add_column(split, justify="right")
    for kind, by_split in sorted(st["examples"]["by_kind_split"].items()):
        t.add_row(kind, *(str(by_split.get(s, 0)) for s in ("train", "validation", "test")))
    return t


def _details(info: dict) -> Table:
    st = info["stats"]
    t = Table(show_header=False, box=None)
    conv = st["conversations"]
    t.add_row("path", str(info["path"]))
    t.add_row("messages", f"{st['inputs']['messages']} in {st['inputs']['channels']} channel(s)")
    excluded = st["inputs"].get("channels_excluded_private") or {}
    if excluded:
        t.add_row("excluded (privacy)", ", ".join(f"{v} {k}" for k, v in excluded.items()))
    t.add_row("conversations", f"{conv['total']} ({', '.join(f'{v} {k}' for k, v in conv['by_method'].items())}); "
                               f"{conv['unanswered']} unanswered, {conv['threads_split']} long thread(s) split")
    dropped = st["examples"]["dropped"]
    if dropped:
        t.add_row("dropped", ", ".join(f"{k} {v}" for k, v in dropped.items()))
    if st.get("masked"):
        t.add_row("masked", ", ".join(f"{k} {v}" for k, v in st["masked"].items()))
    t.add_row("languages", ", ".join(f"{k} {v}" for k, v in st["languages"].items()))
    t.add_row("quality (mean)", str(st["quality"]["mean"]))
    t.add_row("held-out eval", f"{st['heldout']['examples']} Q&A pairs ({st['heldout']['file']})")
    t.add_row("top topics", ", ".join(w for w, _ in st["top_topics"][:10]))
    if "throughput" in st:
        t.add_row("build", f"{st['build_seconds']} s ({st['throughput']['messages_per_s']} messages/s, "
                           f"{st['throughput']['examples_per_s']} examples/s)")
    return t


def register(cli: typer.Typer) -> None:
    app = typer.Typer(help="Instruct datasets from Slack conversations.", no_args_is_help=True)
    cli.add_typer(app, name="dataset")

    @app.command("build")
    def build_cmd(include_private: bool = typer.Option(False, "--include-private",
                                                       help="also train on private channels and DMs"),
                  persona: Optional[str] = typer.Option(None, "--persona", help="also build a set in this "
                                                        "person's style (user id, handle or display name)"),
                  name: str = typer.Option("slack-qa", "--name"),
                  channel: Optional[list[str]] = typer.Option(None, "--channel", help="only these channels")) -> None:
        """Build a versioned dataset from the ingested Slack data (same data + options = same version)."""
        from app.services.datasets import DatasetBuildError, build_dataset
        settings = get_settings()
        settings.ensure_dirs()
        migrate(settings.db_url)
        with Progress(TextColumn("{task.description:<14}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
                      console=console, transient=True) as bar:
            tasks: dict[str, int] = {}

            def on_progress(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(stage, total=max(total, 1))
                bar.update(tasks[stage], completed=done, total=max(total, 1))
            try:
                info = build_dataset(settings, name=name, include_private=include_private, channels=channel,
                                     persona=persona, progress=on_progress)
            except DatasetBuildError as exc:
                console.print(f"[red]error:[/red] {exc}")
                raise typer.Exit(1)
        console.print(_summary(info))
        console.print(_details(info))
        console.print("new version" if info.get("created") else "this version existed already: nothing rebuilt")

    @app.command("list")
    def list_cmd() -> None:
        """Dataset versions, newest first."""
        from app.services.datasets import list_datasets
        settings = get_settings()
        migrate(settings.db_url)
        rows = list_datasets(settings)
        if not rows:
            console.print("no dataset versions yet: run `teamlore dataset build`")
            return
        t = Table(title="dataset versions")
        t.add_column("version", no_wrap=True)
        t.add_column("name")
        t.add_column("created", no_wrap=True)
        for col in ("examples", "conversations", "channels"):
            t.add_column(col, justify="right")
        for r in rows:
            st = r["stats"]
            t.add_row(r["version"], r["name"], (r["created_at"] or "")[:16].replace("T", " "), str(st["examples"]["total"]),
                      str(st["conversations"]["total"]), str(st["inputs"]["channels"]))
        console.print(t)

    @app.command("show")
    def show_cmd(version: str) -> None:
        """Statistics and files of one dataset version."""
        from app.services.datasets import get_report
        settings = get_settings()
        migrate(settings.db_url)
        try:
            rep = get_report(settings, version)
        except LookupError as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(1)
        info = {"name": rep["name"], "version": version, "path": rep["path"], "stats": rep["stats"]}
        console.print(_summary(info))
        console.print(_details(info))
        console.print(f"plots: {', '.join(rep['plots']) or 'none'} · reviews: {rep['reviews']['accepted']} accepted, "
                      f"{rep['reviews']['rejected']} rejected")
