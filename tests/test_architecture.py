"""The dependency rule of ARCHITECTURE.md, checked on the source: ui -> app (HTTP only); app -> stages;
stages never import app or ui, nor each other except the typed seams (retrieval.types, model.base/prompts)."""
import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
STAGES = ["ingest", "retrieval", "finetune", "model"]
ALLOWED_CROSS: set[tuple[str, str]] = set()  # stages are independent; app composes them


def imports(package: str):
    for path in (REPO / package).rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield path, alias.name
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                yield path, node.module


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
