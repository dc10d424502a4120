"""The dataset service and CLI over the database (SQLite and PostgreSQL), fed by the real Slack ingestion."""
import json

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from app.db import session_scope
from app.db.models import DatasetVersion, SlackChannel, SlackMessage, SlackUser, Source
from app.services.datasets import (DatasetBuildError, build_dataset, get_report, list_datasets, list_examples,
                                   rejected_examples, review_example)
from app.services.ingestion import ingest_slack_export
from tests.conftest import SAMPLE

EXPORT = SAMPLE / "slack" / "acme-export"


def test_build_from_ingested_sample_workspace(settings):
    ingest_slack_export(settings, EXPORT)
    stages = []
    info = build_dataset(settings, progress=lambda stage, done, total: stages.append(stage))
    assert info["created"] and {"conversations", "examples", "quality", "write"} <= set(stages)
    st = info["stats"]
    assert set(st["examples"]["per_channel"]) >= {"hr-help", "engineering"}
    assert st["inputs"]["channels_excluded_private"] == {"private": 1, "dm": 1}
    assert st["conversations"]["by_method"]["disentangled"] >= 5  # #engineering's un-threaded exchanges
    blob = "".join(p.read_text() for p in (settings.datasets_dir / info["version"]).rglob("*.jsonl"))
    assert "Falcon" not in blob and "84,000" not in blob  # the private channel and the DM stay out
    # every example's permalinks point into the workspace
    rec = json.loads((settings.datasets_dir / info["version"] / "qa.train.jsonl").read_text().splitlines()[0])
    assert rec["meta"]["permalinks"][0].startswith("https://acme-robotics.slack.com/archives/")

    again = build_dataset(settings)
    assert (again["version"], again["created"]) == (info["version"], False)
    with session_scope(settings.db_url) as s:
        assert s.scalar(select(func.count()).select_from(DatasetVersion)) == 1
    assert [d["version"] for d in list_datasets(settings)] == [info["version"]]

    rep = get_report(settings, info["version"])
    assert rep["plots"] == ["examples_per_channel.png", "length_histogram.png", "quality_distribution.png",
                            "top_topics.png"]
    assert rep["stats"]["examples"]["total"] == st["examples"]["total"]
    page = list_examples(settings, info["version"], split="train", limit=5)
    assert page["total"] > 5 and len(page["examples"]) == 5
    ex_id = page["examples"][0]["id"]
    review_example(settings, info["version"], ex_id, accept=True)
    out = review_example(settings, info["version"], ex_id, accept=False)  # the latest decision wins
    assert out["reviews"] == {"rejected": 1}
    assert rejected_examples(settings, info["version"]) == {ex_id}
    assert list_examples(settings, info["version"], limit=1)["examples"][0]["review"] == "rejected"
    with pytest.raises(KeyError):
        review_example(settings, info["version"], "nope", accept=True)
    with pytest.raises(ValueError, match="unknown split"):
        list_examples(settings, info["version"], split="dev")
    with pytest.raises(LookupError):
        get_report(settings, "0000000000000000")



def test_empty_or_bot_only_workspace_is_an_error(settings):
    with pytest.raises(DatasetBuildError, match="no messages"):
        build_dataset(settings)
    with session_scope(settings.db_url) as s:
        src = Source(kind="slack_export", name="bots")
        s.add(src)
        s.flush()
        s.add(SlackChannel(source_id=src.id, channel_id="C1", name="deploys", kind="public"))
        s.add(SlackUser(source_id=src.id, user_id="UB", name="deploybot", is_bot=True))
        for i in range(3):
            s.add(SlackMessage(source_id=src.id, channel_id="C1", ts=f"1700000{i}00.000100", user_id="UB",
                               text=f"deploy {i} done", raw_text=f"deploy {i} done", filtered="bot",
                               content_hash=str(i)))
    with pytest.raises(DatasetBuildError, match="only bot"):
        build_dataset(settings)
    with session_scope(settings.db_url) as s:
        assert s.scalar(select(func.count()).select_from(DatasetVersion)) == 0


def test_cli_build_list_show(sqlite_settings):
    from app.cli import cli
    ingest_slack_export(sqlite_settings, EXPORT)
    runner = CliRunner()
    res = runner.invoke(cli, ["dataset", "build"])
    assert res.exit_code == 0, res.output
    version = list_datasets(sqlite_settings)[0]["version"]
    assert version in res.output and "train" in res.output and "new version" in res.output
    res = runner.invoke(cli, ["dataset", "build"])
    assert res.exit_code == 0 and "existed already" in res.output
    res = runner.invoke(cli, ["dataset", "list"])
    assert res.exit_code == 0 and version in res.output
    res = runner.invoke(cli, ["dataset", "show", version])
    assert res.exit_code == 0 and "held-out eval" in res.output and "quality_distribution.png" in res.output
    res = runner.invoke(cli, ["dataset", "show", "nope"])
    assert res.exit_code == 1 and "no dataset version" in res.output
    res = runner.invoke(cli, ["dataset", "build", "--persona", "nobody"])
    assert res.exit_code == 1 and "persona" in res.output
    res = runner.invoke(cli, ["dataset", "build", "--include-private", "--persona", "Lena"])
    assert res.exit_code == 0 and "persona" in res.output and "new version" in res.output
    private = list_datasets(sqlite_settings)[0]
    assert private["version"] != version and private["stats"]["persona"] == "Lena"
    assert private["settings"]["include_private"] is True
    assert private["stats"]["inputs"]["channels_excluded_private"] == {}
