"""`teamlore train`: LoRA SFT (or pretraining) on a dataset version, with a live progress bar.

Runs in this process (the same code path as the job worker: app.workflows.training.run_training); re-running the
same command with --run-id of an interrupted run resumes from its last checkpoint.
"""
from __future__ import annotations

import json
from typing import List, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from app.db import migrate
from app.settings import get_settings

console = Console()


def _parse_sets(items: list[str]) -> dict:
    from finetune.config import parse_overrides
    try:
        return parse_overrides(items)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def register(cli: typer.Typer) -> None:
    @cli.command()
    def train(
        dataset: str = typer.Option(..., "--dataset", help="dataset version (folder under <data_dir>/datasets)"),
        base: Optional[str] = typer.Option(None, "--base", help="base model dir or hub id (default: settings "
                                                                "model_path; none: pretrain a small model)"),
        steps: Optional[int] = typer.Option(None, "--steps", min=1, help="optimizer steps (default: one epoch)"),
        epochs: float = typer.Option(1.0, "--epochs"),
        name: Optional[str] = typer.Option(None, "--name", help="model version name"),
        pretrain: bool = typer.Option(False, "--pretrain", help="pretrain from scratch even if a base is set"),
        size: str = typer.Option("auto", "--size", help="pretraining size: auto|demo|tiny|small|base"),
        no_eval: bool = typer.Option(False, "--no-eval", help="skip the held-out evaluation gate"),
        qlora: bool = typer.Option(False, "--qlora", help="LoRA on a 4-bit NF4 base model (QLoRA): ~1/4 of the "
                                                          "base model's memory"),
        set_: List[str] = typer.Option([], "--set", help="recipe option KEY=VALUE (JSON), e.g. lr=1e-4"),
        recipe: str = typer.Option("sft", "--recipe", help="sft (LoRA SFT) or dpo (DPO on feedback pairs)"),
        feedback_since: Optional[str] = typer.Option(None, "--feedback-since", help="include the team's feedback "
                                                     "given since this model version ('all': all of it)"),
        parent: Optional[str] = typer.Option(None, "--parent", help="continue from this model version's adapter "
                                             "('live': the live one; 'none': a new adapter on the base model). "
                                             "Default: live for --recipe dpo, none for sft"),
        no_promote: bool = typer.Option(False, "--no-promote", help="register only, even if it passes the gate"),
    ) -> None:
        """Train on a dataset version and register the result as a candidate model version."""
        if not epochs > 0:
            raise typer.BadParameter("must be more than 0", param_hint="--epochs")
        from app.workflows.training import TrainingRequestError, run_training
        from finetune.data import DatasetError
        from finetune.loop import TrainingError
        from finetune.models import ModelLoadError
        settings = get_settings()
        settings.ensure_dirs()
        migrate(settings.db_url)
        params = {"dataset": dataset, "epochs": epochs, "pretrain": pretrain, "size": size,
                  "evaluate": not no_eval, "config": _parse_sets(set_)}
        if qlora:
            if pretrain:
                console.print("[red]error:[/] --qlora adapts a base model; it cannot be combined with --pretrain")
                raise typer.Exit(2)
            params["config"]["quantize_4bit"] = True
        params["recipe"], params["promote"] = recipe, "never" if no_promote else "if_better"
        if feedback_since:
            params["feedback_since"] = feedback_since
        if parent:
            params["parent"] = parent
        if base:
            params["base"] = base
        if steps:
            params["steps"] = steps
        if name:
            params["name"] = name
        with Progress(TextColumn("[bold]train"), BarColumn(), TaskProgressColumn(), TextColumn("{task.fields[info]}"),
                      TimeElapsedColumn(), console=console) as bar:
            task = bar.add_task("train", total=1.0, info="loading")

            def on_metrics(step: int, values: dict) -> None:
                info = f"step {step} loss {values['loss']:.4f} {values['tokens_per_s']:.0f} tok/s"
                if values.get("gpu_mem_gib") is not None:
                    info += f" {values['gpu_mem_gib']:.1f} GiB"
                for a in values.get("alerts", []):
                    console.print(f"[yellow]alert[/] {a['message']}")
                bar.update(task, completed=values.get("progress", 0.0), info=info)
            try:
                result = run_training(settings, params, on_metrics=on_metrics)
            except (TrainingRequestError, DatasetError, ModelLoadError, TrainingError, ValueError) as exc:
                bar.stop()
                console.print(f"[red]error:[/] {exc}")
                raise typer.Exit(2)
        mv = result.get("model_version")
        console.print(f"status: {result['status']} · steps {result['steps']} · final loss {result['final_loss']:.4f}")
        console.print(f"setup: {json.dumps(result['setup'])}")
        held = (result.get("metrics") or {}).get("heldout")
        if held:
            parts = [f"{k} loss {v['loss']:.4f} (ppl {v['perplexity']:.2f})" for k, v in held.items()
                     if isinstance(v, dict) and "loss" in v and v["loss"] is not None]
            console.print(f"held-out ({held['split']}): " + "; ".join(parts))
        lineage = result.get("lineage") or {}
        console.print(f"started from {lineage.get('starts_from')}"
                      + (f" of {lineage['parent']}" if lineage.get("parent") else "")
                      + (f"; DPO reference: {lineage['reference']}" if lineage.get("reference") else "")
                      + (f" ({lineage['note']})" if lineage.get("note") else ""))
        if mv:
            console.print(f"registered candidate model version [bold]{mv['name']}[/] (id {mv['id']}) at {mv['path']}")
            gate = (result.get("metrics") or {}).get("gate") or {}
            if result.get("promoted"):
                console.print(f"it passed the evaluation gate against {gate.get('compared_with')} and is now live")
            else:
                console.print("not promoted: " + ("; ".join(gate.get("reasons") or []) or "promotion not requested"))


if __name__ == "__main__":  # `python -m app.cli.train ...`: this command alone, without the other stages' imports
    _app = typer.Typer(add_completion=False)
    register(_app)

    @_app.callback()
    def _root() -> None:
        """Teamlore training."""
    _app()
