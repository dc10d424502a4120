import pytest

from app.settings import SettingsError, load_settings


def test_env_overrides_and_derived_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TEAMLORE_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("TEAMLORE_TOP_K", "7")
    s = load_settings()
    assert s.top_k == 7
    assert s.db_url == f"sqlite:///{tmp_path / 'd' / 'teamlore.db'}"
    assert s.index_dir == tmp_path / "d" / "index"


def test_yaml_file_is_read_and_env_wins(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "teamlore.yaml").write_text("top_k: 9\ngenerator: transformers\nmodel_path: /m\n")
    assert load_settings().top_k == 9
    monkeypatch.setenv("TEAMLORE_TOP_K", "3")
    s = load_settings()
    assert s.top_k == 3 and s.generator == "transformers"


@pytest.mark.parametrize("yaml_text, needle", [
    ("top_k: [1, 2", "not valid YAML"),
    ("- a\n- b\n", "mapping"),
    ("topk: 3\n", "unknown setting(s) topk"),
    ("top_k: lots\n", "TEAMLORE_TOP_K"),
    ("generator: gpt9\n", "TEAMLORE_GENERATOR"),
])
def test_malformed_yaml_fails_fast_naming_the_setting(tmp_path, monkeypatch, yaml_text, needle):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "teamlore.yaml").write_text(yaml_text)
    with pytest.raises(SettingsError, match=needle.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        load_settings()


def test_bad_env_var_names_the_setting(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TEAMLORE_PORT", "eighty")
    with pytest.raises(SettingsError, match="TEAMLORE_PORT"):
        load_settings()
