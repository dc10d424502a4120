"""`teamlore keys create` (Typer app, SQLite): a key for an existing user never changes that user unasked."""
from sqlalchemy import select
from typer.testing import CliRunner

from app.cli import cli
from app.db import session_scope
from app.db.models import User


def role_of(settings, name: str) -> str:
    with session_scope(settings.db_url) as s:
        return s.scalar(select(User.role).where(User.name == name))


def test_a_second_key_keeps_the_users_role_and_a_bad_role_is_a_usage_error(sqlite_settings):
    runner = CliRunner()
    res = runner.invoke(cli, ["keys", "create", "--user", "ops", "--role", "admin"])
    assert res.exit_code == 0 and res.output.strip().startswith("tl_"), res.output
    # a second key for the admin, --role left out: the admin stays an admin (it was silently demoted to user)
    res = runner.invoke(cli, ["keys", "create", "--user", "ops", "--name", "laptop"])
    assert res.exit_code == 0, res.output
    assert role_of(sqlite_settings, "ops") == "admin"
    res = runner.invoke(cli, ["keys", "create", "--user", "new-person"])
    assert res.exit_code == 0 and role_of(sqlite_settings, "new-person") == "user"
    res = runner.invoke(cli, ["keys", "create", "--user", "x", "--role", "god"])
    assert res.exit_code == 2 and "god" in res.output, res.output  # a usage error, not a traceback
    assert role_of(sqlite_settings, "x") is None


def test_out_of_range_numbers_and_empty_names_are_usage_errors_not_tracebacks(sqlite_settings):
    """Each was a traceback (OverflowError from the database or from bind()) or, for --user '', a user without a
    name; each is now a usage error (exit 2) naming the option, before anything runs."""
    runner = CliRunner()
    for args in (["keys", "revoke", str(2**70)], ["keys", "revoke", "0"], ["keys", "create", "--user", ""],
                 ["keys", "create", "--user", "a\tb"], ["keys", "create", "--user", "x" * 201],
                 ["serve", "--port", "99999"], ["serve", "--port", "-1"], ["worker", "--metrics-port", "99999"],
                 ["worker", "--threads", "0"], ["train", "--dataset", "x", "--steps", "-5"],
                 ["train", "--dataset", "x", "--epochs", "0"], ["demo", "--train-steps", "0"]):
        res = runner.invoke(cli, args)
        assert res.exit_code == 2, (args, res.exit_code, res.output, res.exception)
        assert "Invalid value" in res.output, (args, res.output)
    with session_scope(sqlite_settings.db_url) as s:
        assert s.scalar(select(User).where(User.name == "")) is None
