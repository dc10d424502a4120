"""docker/compose.yaml: validated by the compose CLI, by the Compose Specification schema, and structurally."""
from __future__ import annotations

import json
import re
import subprocess

import jsonschema
import pytest
import yaml

from ._util import COMPOSE, DOCKER, ENV_EXAMPLE, REPO, clean_env, compose_cli, missing_tool

ALL_PROFILES = ["gpu", "slack", "train", "observability"]
# The Compose Specification schema as shipped by docker-compose 1.29.2 (Apache-2.0), vendored so the schema check
# runs on any machine.
SPEC = json.loads((REPO / "tests" / "deploy" / "compose_spec.json").read_text())


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _config_cmd(cli: list[str], compose_file, env_file) -> list[str]:
    profiles = [a for p in ALL_PROFILES for a in ("--profile", p)]
    return [*cli, "-f", str(compose_file), "--env-file", str(env_file), *profiles, "config"]


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    """The three `config` runs, started together (the v1 CLI takes ~2 s just to start)."""
    cli = compose_cli()
    if cli is None:
        missing_tool("docker compose / docker-compose", "apt-get install --no-install-recommends docker-compose")
    tmp = tmp_path_factory.mktemp("compose")
    # Without POSTGRES_PASSWORD the `:?` interpolation must stop with a message naming it.
    no_pg = tmp / "no-pg.env"
    no_pg.write_text("\n".join(line for line in ENV_EXAMPLE.read_text().splitlines()
                               if not line.startswith("POSTGRES_PASSWORD=")) + "\n")
    # A misspelt key must be refused by the CLI's own validation (so the positive run can fail).
    broken = yaml.safe_load(COMPOSE.read_text())
    broken["services"]["api"]["helthcheck"] = broken["services"]["api"].pop("healthcheck")
    bad_file = tmp / "compose.yaml"
    bad_file.write_text(yaml.safe_dump(broken))
    cmds = {"ok": _config_cmd(cli, COMPOSE, ENV_EXAMPLE), "no_pg": _config_cmd(cli, COMPOSE, no_pg),
            "bad_key": _config_cmd(cli, bad_file, ENV_EXAMPLE)}
    procs = {k: subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env())
             for k, c in cmds.items()}
    out = {}
    for key, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=60)
        out[key] = subprocess.CompletedProcess(cmds[key], proc.returncode, stdout, stderr)
    return out


def test_compose_config_with_the_cli(cli_runs):
    done = cli_runs["ok"]
    assert done.returncode == 0, done.stderr
    rendered = yaml.safe_load(done.stdout)
    assert {"postgres", "redis", "migrate", "api", "worker", "ui", "vllm", "slack", "trainer",
            "prometheus", "grafana"} <= set(rendered["services"])
    # Interpolation happened: the database URL carries the example password, not the ${...} expression.
    db_url = rendered["services"]["api"]["environment"]["TEAMLORE_DATABASE_URL"]
    assert db_url == "postgresql+psycopg://teamlore:change-me-postgres@postgres:5432/teamlore"


def test_compose_cli_rejects_a_missing_secret_and_a_bad_key(cli_runs):
    assert cli_runs["no_pg"].returncode != 0 and "POSTGRES_PASSWORD" in cli_runs["no_pg"].stderr
    assert cli_runs["bad_key"].returncode != 0 and "helthcheck" in cli_runs["bad_key"].stderr


def test_compose_matches_the_compose_spec_schema(compose):
    validator = jsonschema.Draft201909Validator(SPEC)
    errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(compose)]
    assert not errors, errors
    compose["services"]["worker"]["restart_policy"] = "always"
    assert list(validator.iter_errors(compose)), "the schema check must reject unknown service keys"


def test_services_have_health_checks_and_ordered_start(compose):
    services = compose["services"]
    for name in ("postgres", "redis", "api", "worker", "ui", "vllm", "prometheus", "grafana"):
        test = services[name].get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name} needs a healthcheck"
    # The Socket Mode bot has no port: its healthcheck is disabled on purpose, and it restarts on failure.
    assert services["slack"]["healthcheck"] == {"disable": True}
    assert services["slack"]["restart"] == "unless-stopped"
    for name in ("api", "worker"):
        deps = services[name]["depends_on"]
        assert deps["postgres"]["condition"] == "service_healthy"
        assert deps["redis"]["condition"] == "service_healthy"
        assert deps["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["command"] == ["init"]
    assert services["ui"]["depends_on"]["api"]["condition"] == "service_healthy"
    # The API's compose healthcheck is readiness, so the UI starts against a working API.
    assert "/readyz" in " ".join(services["api"]["healthcheck"]["test"])


def test_gpu_profile_reserves_gpus_and_mounts_models(compose):
    services = compose["services"]
    for name in ("vllm", "trainer"):
        devices = services[name]["deploy"]["resources"]["reservations"]["devices"]
        assert any(d["driver"] == "nvidia" and "gpu" in d["capabilities"] for d in devices), name
    assert services["vllm"]["profiles"] == ["gpu"]
    assert "models:/models" in services["vllm"]["volumes"]
    # The core services run without a GPU and without a profile.
    for name in ("postgres", "redis", "api", "worker", "ui", "migrate"):
        assert "profiles" not in services[name], name


def test_volumes_and_images(compose):
    services = compose["services"]
    for name in ("api", "worker", "ui", "migrate", "slack"):
        assert "data:/data" in services[name]["volumes"], name
    assert "pgdata:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert {"pgdata", "redisdata", "data", "models"} <= set(compose["volumes"])
    for name, svc in services.items():
        image = svc["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin the image tag ({image})"
        if "build" in svc:
            dockerfile = (DOCKER / svc["build"]["context"] / svc["build"]["dockerfile"]).resolve()
            assert dockerfile.is_file(), f"{name}: {dockerfile} missing"
    # Third-party images are pinned to a version, never a floating tag.
    for name in ("postgres", "redis", "prometheus", "grafana"):
        assert re.search(r":v?\d+\.\d+", services[name]["image"]), name


def test_ports_bind_loopback_by_default(compose):
    for name, svc in compose["services"].items():
        for port in svc.get("ports", []):
            assert port.startswith("${TEAMLORE_BIND:-127.0.0.1}:"), f"{name}: {port} would listen on every interface"


def test_env_example_covers_every_variable_and_holds_no_secret():
    example = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            example[key.strip()] = value.strip()
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", COMPOSE.read_text()))
    assert used - set(example) == set(), f"variables used in compose.yaml but not in .env.example: {used - set(example)}"
    for key, value in example.items():
        if re.search(r"PASSWORD|TOKEN|SECRET|_KEY$", key):
            assert value == "" or "change-me" in value, f"{key} must be a placeholder, not a value"
    ignored = subprocess.run(["git", "check-ignore", "-q", str(DOCKER / ".env")], cwd=REPO).returncode == 0
    assert ignored, \
        "docker/.env holds real secrets: it must be git-ignored"
