"""`teamlore init`: create the data directory and bring the database to the newest schema."""
from __future__ import annotations

import typer
from sqlalchemy.engine import make_url

from app.db import migrate
from app.settings import get_settings


def register(cli: typer.Typer) -> None:
    @cli.command()
    def init() -> None:
        """Create the data directory and migrate the database."""
        settings = get_settings()
        settings.ensure_dirs()
        migrate(settings.db_url)
        typer.echo(f"data directory: {settings.data_dir}")
        typer.echo(f"database: {make_url(settings.db_url).render_as_string(hide_password=True)}")
