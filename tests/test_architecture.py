"""The dependency rules of ARCHITECTURE.md, checked on the source.

1. Stages (ingest, retrieval, finetune, model) never import `app` or `ui`, nor each other: ALLOWED_CROSS lists
   the exceptions, and it is empty — stages are independent and `app` composes them.
2. `ui` talks to the API over HTTP only: it imports neither `app` nor a stage.
3. Inside `app/`, imports point down the layers of APP_LAYERS (a module may import its own layer and the layers
   below it, never one above): foundation -> services -> answering -> wiring -> workflows -> surfaces.
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
