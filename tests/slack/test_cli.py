"""`teamlore slack` refuses to start without the tokens Socket Mode needs, and says which."""
from __future__ import annotations

from typer.testing import CliRunner

from app.cli import cli


def test_teamlore_slack_names_the_missing_tokens(sqlite_settings, monkeypatch):
    monkeypatch.delenv("TEAMLORE_SLACK_BOT_TOKEN", raising=False)
    monkeypatch.delenv("TEAMLORE_SLACK_APP_TOKEN", raising=False)
    result = CliRunner().invoke(cli, ["slack"])
    assert result.exit_code == 2
    assert "TEAMLORE_SLACK_BOT_TOKEN and TEAMLORE_SLACK_APP_TOKEN not set" in result.output

    from app.settings import get_settings
    monkeypatch.setenv("TEAMLORE_SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("TEAMLORE_SLACK_APP_TOKEN", "xoxb-not-an-app-token")
    get_settings.cache_clear()
    result = CliRunner().invoke(cli, ["slack"])
    assert result.exit_code == 2 and "app-level token (xapp-" in result.output


def test_http_events_are_mounted_only_when_configured(sqlite_settings):
    from fastapi.testclient import TestClient
    from app.api.main import create_app
    with TestClient(create_app(sqlite_settings)) as client:
        assert client.post("/slack/events", content=b"{}").status_code == 404
    configured = sqlite_settings.model_copy(update={"slack_bot_token": "xoxb-1", "slack_signing_secret": "s",
                                                    "slack_api_url": "http://127.0.0.1:9/api/"})
    with TestClient(create_app(configured)) as client:
        for path in ("/slack/events", "/slack/interactions", "/slack/commands"):
            # mounted, and an unsigned request is refused before anything talks to Slack
            assert client.post(path, content=b"{}", headers={"Content-Type": "application/json"}).status_code == 401
