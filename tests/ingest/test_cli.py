"""`teamlore ingest ...` end to end through the Typer app (SQLite)."""
import pytest
from rich.console import Console
from typer.testing import CliRunner

from app.cli import cli
from tests.conftest import shared_data


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    import app.cli.ingest as mod
    monkeypatch.setattr(mod, "console", Console(width=250))  # no wrapping inside table cells


def test_ingest_slack_and_docs_commands(sqlite_settings, tmp_path):
    runner = CliRunner()
    res = runner.invoke(cli, ["ingest", "slack", str(shared_data("slack", "slack-export-viewer-testarchive.zip"))])
    assert res.exit_code == 0, res.output
    assert "158" in res.output and "system:channel_join" in res.output

    (tmp_path / "a.md").write_text("# A\ntext")
    (tmp_path / "b.pdf").write_bytes(b"not a pdf")
    res = runner.invoke(cli, ["ingest", "docs", str(tmp_path / "a.md"), str(tmp_path / "b.pdf")])
    assert res.exit_code == 0, res.output
    assert "Rejected" in res.output and "content is not PDF" in res.output

    res = runner.invoke(cli, ["ingest", "slack", str(tmp_path / "a.md")])
    assert res.exit_code == 1 and "not a zip archive" in res.output
    # nothing named could be read (a mistyped path, only broken files): a failure a script can see
    res = runner.invoke(cli, ["ingest", "docs", str(tmp_path / "no-such-folder")])
    assert res.exit_code == 1 and "no such file or folder" in res.output
    res = runner.invoke(cli, ["ingest", "docs", str(tmp_path / "b.pdf")])
    assert res.exit_code == 1 and "content is not PDF" in res.output


def test_ingest_slack_needs_path_or_live(sqlite_settings, monkeypatch):
    runner = CliRunner()
    res = runner.invoke(cli, ["ingest", "slack"])
    assert res.exit_code == 2 and "either an export PATH or --live" in res.output
    monkeypatch.delenv("TEAMLORE_SLACK_BOT_TOKEN", raising=False)
    res = runner.invoke(cli, ["ingest", "slack", "--live"])
    assert res.exit_code == 2 and "TEAMLORE_SLACK_BOT_TOKEN" in res.output


def test_ingest_slack_live_against_fake(sqlite_settings, monkeypatch):
    from app.settings import get_settings
    from tests.fakes.fake_slack import FakeSlack
    with FakeSlack() as fake:
        fake.add_user("U1", "lena")
        fake.add_channel("C1", "general", members=["U1"])
        fake.post("C1", "U1", "hello team")
        monkeypatch.setenv("TEAMLORE_SLACK_BOT_TOKEN", fake.token)
        monkeypatch.setenv("TEAMLORE_SLACK_API_URL", fake.url)
        get_settings.cache_clear()
        res = CliRunner().invoke(cli, ["ingest", "slack", "--live", "--source", "acme-live"])
    assert res.exit_code == 0, res.output
    assert "acme-live" in res.output and fake.calls_to("conversations.history")
