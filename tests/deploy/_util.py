"""Paths and small helpers shared by the deployment tests."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
K8S = DOCKER / "k8s"
COMPOSE = DOCKER / "compose.yaml"
ENV_EXAMPLE = DOCKER / ".env.example"
IN_CI = os.environ.get("CI") == "true"


def missing_tool(what: str, how: str) -> None:
    """A validator that is not installed: skip on a developer machine, fail in CI (which must have it)."""
    message = f"{what} is not installed ({how})"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def compose_cli() -> list[str] | None:
    """`docker compose` (v2 plugin) when present, else `docker-compose` (v1, Debian's package); neither needs
    a Docker engine for `config`."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def clean_env(**extra: str) -> dict[str, str]:
    """The process environment without variables that compose would interpolate instead of the env file's."""
    keep = {k: v for k, v in os.environ.items()
            if not (k.startswith(("TEAMLORE_", "POSTGRES_", "REDIS_", "VLLM_", "GRAFANA_", "COMPOSE_")))}
    keep.update(extra)
    return keep
