"""Permalink domains come from the export's own metadata, per channel — never from links people pasted."""
import json

from ingest.slack_export import read_export


def _day(folder, channel, messages):
    (folder / channel).mkdir(parents=True, exist_ok=True)
    (folder / channel / "2024-05-01.json").write_text(json.dumps(messages))


def _file(team, domain, uid="U1"):
    return {"id": "F1", "name": "log.txt", "user_team": team,
            "permalink": f"https://{domain}.slack.com/files/{uid}/F1/log.txt",
            "url_private": "https://files.slack.com/files-pri/T1-F1/log.txt"}


def test_multi_workspace_export_gets_one_domain_per_channel(tmp_path):
    (tmp_path / "users.json").write_text(json.dumps([{"id": "U1", "name": "ana"}, {"id": "U2", "name": "ben"}]))
    (tmp_path / "channels.json").write_text(json.dumps([
        {"id": "C1", "name": "alpha-help", "context_team_id": "T1"},
        {"id": "C2", "name": "beta-help", "context_team_id": "T2"},
        {"id": "C3", "name": "beta-random"}]))  # no team in channels.json: its messages carry one
    pasted = " ".join(f"https://gamma.slack.com/archives/C9/p{i}" for i in range(20))  # links in text: ignored
    _day(tmp_path, "alpha-help", [
        {"type": "message", "ts": "1714550000.000100", "user": "U1", "team": "T1", "text": "log attached",
         "files": [_file("T1", "alpha")]},
        {"type": "message", "ts": "1714550001.000100", "user": "U2", "team": "T1", "text": pasted}])
    _day(tmp_path, "beta-help", [
        {"type": "message", "ts": "1714550000.000200", "user": "U2", "team": "T2", "text": "see file",
         "files": [_file("T2", "beta", "U2")]},
        {"type": "message", "ts": "1714550003.000200", "user": "U2", "team": "T2", "text": pasted}])
    _day(tmp_path, "beta-random", [
        {"type": "message", "ts": "1714550000.000300", "user": "U2", "team": "T2", "text": pasted}])
    e = read_export(tmp_path)
    assert e.channel_domains == {"C1": "alpha", "C2": "beta", "C3": "beta"}
    assert e.team_domain is None  # two workspaces: no single domain to guess


def test_export_without_metadata_has_no_guessed_domain(tmp_path):
    (tmp_path / "channels.json").write_text(json.dumps([{"id": "C1", "name": "general"}]))
    _day(tmp_path, "general", [{"type": "message", "ts": "1714550000.000100", "user": "U1",
                                "text": "see https://other.slack.com/archives/C1/p1714550000000100"}])
    e = read_export(tmp_path)
    assert e.channel_domains == {} and e.team_domain is None
