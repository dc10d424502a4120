"""The locks (requirements/*.txt, written by `make lock` with pip-tools) agree with what they are locked from:
every requirement of pyproject.toml (and of requirements/vllm.in) is pinned, to a version it allows, with hashes.
When this fails after a dependency change, run `make lock` and commit the result."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parent.parent
REQ = REPO / "requirements"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def read_lock(path: Path) -> dict[str, Version]:
    """name -> pinned version; every pin must carry at least one --hash (pip's --require-hashes mode)."""
    pins: dict[str, Version] = {}
    entries = re.split(r"\n(?=\S)", path.read_text())
    for entry in entries:
        m = PIN.match(entry)
        if m is None:
            assert not entry.strip() or entry.lstrip().startswith("#"), f"{path.name}: not a pin: {entry[:80]!r}"
            continue
        assert "--hash=sha256:" in entry, f"{path.name}: {m.group(1)} has no hash"
        pins[canonicalize_name(m.group(1))] = Version(m.group(2))
    assert pins, f"{path.name} pins nothing"
    return pins


def unmet(requirements: list[str], pins: dict[str, Version]) -> list[str]:
    problems = []
    for line in requirements:
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate():
            continue
        name = canonicalize_name(req.name)
        if name not in pins:
            problems.append(f"{line}: not in the lock")
        elif not req.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{line}: the lock pins {pins[name]}")
    return problems


PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
EXTRAS = PROJECT.get("optional-dependencies", {})
LOCKS = {  # lock file -> what it must satisfy
    "main.txt": PROJECT["dependencies"] + EXTRAS.get("dev", []),
    "runtime.txt": PROJECT["dependencies"],
    "gpu.txt": PROJECT["dependencies"] + EXTRAS.get("dev", []) + EXTRAS.get("gpu", []),
    "vllm.txt": [line.split("#")[0].strip() for line in (REQ / "vllm.in").read_text().splitlines()
                 if line.split("#")[0].strip()],
}


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_lock_satisfies_its_requirements(lock):
    problems = unmet(LOCKS[lock], read_lock(REQ / lock))
    assert not problems, f"requirements/{lock} is out of date ({'; '.join(problems)}): run `make lock`"


@pytest.mark.parametrize("lock", ["runtime.txt", "gpu.txt"])
def test_derived_locks_keep_the_main_pins(lock):
    """runtime.txt and gpu.txt are seeded from main.txt: a package they share has one version everywhere, except
    torch, whose CPU build (+cpu, this machine's wheel) main pins and whose CUDA build the gpu lock pins."""
    main, other = read_lock(REQ / "main.txt"), read_lock(REQ / lock)
    differ = {n: (str(main[n]), str(v)) for n, v in other.items()
              if n in main and main[n] != v and not (n == "torch" and main[n].public == v.public)}
    assert not differ, f"requirements/{lock} moved pins of main.txt (main, {lock}): {differ}; run `make lock`"


def test_lock_checker_catches_drift():
    pins = {"openai": Version("3.63.0"), "torch": Version("2.13.0+cpu")}
    assert unmet(["openai>=1.50", "torch==2.13.0"], pins) == []
    assert unmet(["openai<3"], pins) == ["openai<3: the lock pins 3.63.0"]
    assert unmet(["newpkg>=1"], pins) == ["newpkg>=1: not in the lock"]
    assert unmet(['onlywin>=1; sys_platform == "win32"'], pins) == []
