"""`teamlore slack`: run the Slack bot over Socket Mode (no public URL needed)."""
from __future__ import annotations

import typer

from app.settings import get_settings


def register(cli: typer.Typer) -> None:
    @cli.command()
    def slack() -> None:
        """Run the Slack bot in Socket Mode (needs TEAMLORE_SLACK_BOT_TOKEN and TEAMLORE_SLACK_APP_TOKEN).

        For HTTP Events instead, set TEAMLORE_SLACK_SIGNING_SECRET and point the Slack app at
        https://<api host>/slack/events: `teamlore serve` mounts it.
        """
        from app.db import migrate
        from app.slack.socket import socket_mode_handler

        settings = get_settings()
        missing = [name for name, value in (("TEAMLORE_SLACK_BOT_TOKEN", settings.slack_bot_token),
                                            ("TEAMLORE_SLACK_APP_TOKEN", settings.slack_app_token)) if not value]
        if missing:
            typer.secho(f"error: {' and '.join(missing)} not set. Create the app from "
                        "docker/slack-app-manifest.yaml, install it (bot token xoxb-…), and create an app-level "
                        "token with connections:write (xapp-…).", fg=typer.colors.RED, err=True)
            raise typer.Exit(2)
        if not settings.slack_app_token.startswith("xapp-"):
            typer.secho("error: TEAMLORE_SLACK_APP_TOKEN must be an app-level token (xapp-…)",
                        fg=typer.colors.RED, err=True)
            raise typer.Exit(2)
        settings.ensure_dirs()
        migrate(settings.db_url)
        handler = socket_mode_handler(settings)
        typer.echo("Teamlore Slack bot connecting over Socket Mode; Ctrl-C stops it.")
        handler.start()
