"""The dependency rules of ARCHITECTURE.md, checked on the source.

1. Stages (ingest, retrieval, finetune, model) never import `app` or `ui`, nor each other: ALLOWED_CROSS lists
   the exceptions, and it is empty — stages are independent and `app` composes them.
2. `ui` talks to the API over HTTP only: it imports neither `app` nor a stage.
3. Inside `app/`, imports point down the layers of APP_LAYERS (a module may import its own layer and the layers
   below it, never one above): foundation -> services -> answering -> wiring -> workflows -> surfaces.
4. Only app/settings.py reads the environment (ENV_READERS lists the exceptions, each with its reason).
5. Inside `app/`, modules use each other's and the stages' public interfaces: no `obj._private` on anything but
   `self`/`cls`, no `from x import _private` (the embedder's lock, the searcher's query truncation and the like are
   reached through public names).
"""
import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
STAGES = ["ingest", "retrieval", "finetune", "model"]
ALLOWED_CROSS: set[tuple[str, str]] = set()  # (stage, module it may import from another stage): none

# app/ from the bottom up; the key is the first component under app/ (a package or a module's stem).
APP_LAYERS: list[set[str]] = [
    {"settings"},  # reads the environment and teamlore.yaml; imports nothing of app
    {"db", "migrations", "security", "observability", "ratelimit"},  # foundation
    {"services"},  # ingestion, indexing, search, embeddings, datasets, registry: never imports upward
    {"answering"},  # the engine, the answer generators, answer-quality scoring
    {"wiring"},  # builds the engine, the searcher and the generator for a model version
    {"workflows"},  # long-running work: training, the job queue
    {"api", "slack", "cli"},  # surfaces
]


def imports(package: str):
    for path in (REPO / package).rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield path, alias.name
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                yield path, node.module
                if node.module == "app":  # `from app import wiring`
                    for alias in node.names:
                        yield path, f"app.{alias.name}"


@pytest.mark.parametrize("package", STAGES)
def test_stages_do_not_import_app_ui_or_other_stages(package):
    bad = []
    for path, name in imports(package):
        top = name.split(".")[0]
        if top in ("app", "ui"):
            bad.append(f"{path.relative_to(REPO)} imports {name}")
        elif top in STAGES and top != package and (package, name) not in ALLOWED_CROSS:
            bad.append(f"{path.relative_to(REPO)} imports {name}")
    assert not bad, "\n".join(bad)


def test_ui_talks_to_the_api_over_http_only():
    bad = [f"{p.relative_to(REPO)} imports {n}" for p, n in imports("ui")
           if n.split(".")[0] in ("app", *STAGES)]
    assert not bad, "\n".join(bad)


def _layer(part: str) -> int:
    for i, names in enumerate(APP_LAYERS):
        if part in names:
            return i
    raise AssertionError(f"app/{part} is in no layer of APP_LAYERS: add it where it belongs")


def test_every_part_of_app_has_a_layer():
    for path in (REPO / "app").iterdir():
        if path.name.startswith(("_", ".")) or (path.is_file() and path.suffix != ".py") or path.name == "py.typed":
            continue
        _layer(path.stem)


def test_app_imports_point_down_the_layers():
    bad = []
    for path, name in imports("app"):
        parts = name.split(".")
        if parts[0] != "app" or len(parts) < 2:
            continue
        own = path.relative_to(REPO / "app").parts[0].removesuffix(".py")
        if own in ("__init__", "__main__"):
            continue
        if _layer(parts[1]) > _layer(own):
            bad.append(f"{path.relative_to(REPO)} (layer {_layer(own)}: {own}) imports {name} "
                       f"(layer {_layer(parts[1])})")
    assert not bad, "imports pointing up the layers of app/:\n" + "\n".join(bad)


# --- the environment ---------------------------------------------------------------------------------------------
# Only app/settings.py reads (or sets) environment variables: everything else takes settings or plain arguments.
# Passing the whole environment on to a child process (`dict(os.environ)`, `{**os.environ}`) is not reading it.
ENV_READERS = {
    "app/settings.py": "the one settings class",
    "ui/client.py": "the UI is a separate program that cannot import app: TEAMLORE_API_URL is its only setting",
    "finetune/loop.py": "torchrun's launcher protocol (RANK, LOCAL_RANK, WORLD_SIZE)",
}
_ENV_CALLS = {"get", "setdefault", "pop", "update", "__getitem__", "__setitem__"}


def _env_uses(tree: ast.AST):
    """Lines where the environment is read or written: os.environ.get/[...]/setdefault/…, os.getenv, os.putenv,
    `in os.environ`, and the same through `from os import environ, getenv`."""
    def is_environ(node) -> bool:  # os.environ, __import__("os").environ, environ
        return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
            isinstance(node, ast.Name) and node.id == "environ")

    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Attribute) and f.attr in _ENV_CALLS and is_environ(f.value):
                yield node.lineno
            elif (isinstance(f, ast.Attribute) and f.attr in ("getenv", "putenv", "unsetenv")
                  and isinstance(f.value, ast.Name) and f.value.id == "os"):
                yield node.lineno
            elif isinstance(f, ast.Name) and f.id in ("getenv", "putenv"):
                yield node.lineno
        elif isinstance(node, ast.Subscript) and is_environ(node.value):
            yield node.lineno
        elif isinstance(node, ast.Compare) and any(is_environ(c) for c in node.comparators):
            yield node.lineno


def test_only_settings_reads_the_environment():
    bad = []
    for package in ("app", "ui", *STAGES):
        for path in (REPO / package).rglob("*.py"):
            rel = path.relative_to(REPO).as_posix()
            if rel in ENV_READERS:
                continue
            for line in _env_uses(ast.parse(path.read_text(encoding="utf-8"))):
                bad.append(f"{rel}:{line}")
    assert not bad, "environment read outside app/settings.py (take a setting or an argument):\n" + "\n".join(bad)


def test_the_environment_check_sees_reads_and_writes():
    for code in ("import os\nos.environ.get('X')", "import os\nos.getenv('X')", "import os\nos.environ['X']",
                 "import os\nos.environ.setdefault('X', '1')", "import os\nos.environ['X'] = '1'",
                 "import os\n'X' in os.environ", "from os import environ\nenviron.get('X')",
                 "__import__('os').environ.get('X')"):
        assert list(_env_uses(ast.parse(code))), code
    assert not list(_env_uses(ast.parse("import os\nenv = {**os.environ}\nenv2 = dict(os.environ)")))


def test_the_ui_client_reads_the_one_citation_type():
    """The answer contract is typed once (model.base.Citation); the UI, which may not import it, documents the same
    fields for the JSON it receives — they cannot drift apart."""
    import dataclasses
    import typing

    from model.base import Citation
    from ui.client import Citation as UICitation
    assert set(typing.get_type_hints(UICitation)) == {f.name for f in dataclasses.fields(Citation)}


def _private_uses(tree: ast.AST):
    """Lines that reach into another object's or module's private names."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            if not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                yield node.lineno, ast.unparse(node)
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    yield node.lineno, f"from {node.module} import {alias.name}"


def test_app_uses_public_interfaces_only():
    bad = [f"{path.relative_to(REPO)}:{line} {what}" for path in (REPO / "app").rglob("*.py")
           for line, what in _private_uses(ast.parse(path.read_text(encoding="utf-8")))]
    assert not bad, "private names reached from outside their own object or module:\n" + "\n".join(bad)


def test_the_private_use_check_sees_attributes_and_imports():
    assert sorted(w for _, w in _private_uses(ast.parse("emb._lock\nfrom m import _f\nself._ok\nx.__class__"))) == [
        "emb._lock", "from m import _f"]
