"""The `teamlore` command. Each stage's commands live in their own module and are registered here."""
from __future__ import annotations

import importlib
import sys

import typer

from app.settings import SettingsError

cli = typer.Typer(help="Teamlore: learn a team's knowledge from Slack and documents, answer with citations.",
                  no_args_is_help=True, pretty_exceptions_enable=False)



@cli.callback()
def _root() -> None:
    """Teamlore: learn a team's knowledge from Slack and documents, answer with citations."""


# module -> attribute; a module adds commands to `cli` when imported via register(cli)
_COMMAND_MODULES = ["app.cli.core", "app.cli.ingest", "app.cli.index", "app.cli.dataset", "app.cli.train",
                    "app.cli.serve", "app.cli.demo", "app.cli.slack"]

for _name in _COMMAND_MODULES:
    importlib.import_module(_name).register(cli)


def main() -> None:
    try:
        cli()
    except SettingsError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
