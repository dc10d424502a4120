"""The one helper for ../shared/data: skip with a reason when it is absent, fail under CI=true."""
import pytest

import tests.conftest as conftest


def test_absent_shared_data_skips_with_a_reason(tmp_path, monkeypatch):
    monkeypatch.setattr(conftest, "SHARED_DATA", tmp_path / "nowhere")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"needs .*nowhere/slack.* absent"):
        conftest.shared_data("slack")


def test_absent_shared_data_fails_under_ci(tmp_path, monkeypatch):
    monkeypatch.setattr(conftest, "SHARED_DATA", tmp_path / "nowhere")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true but needs"):
        conftest.shared_data("docs", "18f-handbook")


def test_present_shared_data_is_returned(tmp_path, monkeypatch):
    (tmp_path / "docs").mkdir()
    monkeypatch.setattr(conftest, "SHARED_DATA", tmp_path)
    monkeypatch.setenv("CI", "true")
    assert conftest.shared_data("docs") == tmp_path / "docs"
