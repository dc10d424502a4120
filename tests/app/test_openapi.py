"""The OpenAPI document describes every response: each operation declares a 2xx response with a schema (204: no
body), every $ref resolves, and the errors share one documented format."""
from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="module")
def openapi(tmp_path_factory):
    from app.api.main import create_app
    from app.settings import load_settings
    root = tmp_path_factory.mktemp("openapi")
    app = create_app(load_settings(data_dir=root, database_url=f"sqlite:///{root / 'db.sqlite'}"))
    return app.openapi()


def _operations(doc):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield f"{method.upper()} {path}", op


def test_every_operation_declares_a_2xx_response_schema(openapi):
    missing = []
    ops = list(_operations(openapi))
    for name, op in ops:
        ok = [(code, r) for code, r in op["responses"].items() if code.startswith("2")]
        if not ok:
            missing.append(f"{name}: no 2xx response")
            continue
        for code, response in ok:
            content = response.get("content") or {}
            if code == "204":
                if content:
                    missing.append(f"{name}: 204 with a body")
                continue
            schemas = [c.get("schema") for c in content.values()]
            if not schemas or any(not s or s == {} for s in schemas):
                missing.append(f"{name} {code}: no schema")
    assert len(ops) >= 40, f"only {len(ops)} operations documented"
    assert not missing, "\n".join(missing)


def test_json_responses_name_their_model(openapi):
    """A JSON 2xx response is a named model, a list of one, or a choice between named models (not a bare
    `object`)."""
    vague = []
    for name, op in _operations(openapi):
        for code, response in op["responses"].items():
            schema = (response.get("content") or {}).get("application/json", {}).get("schema")
            if not code.startswith("2") or schema is None:
                continue
            target = schema.get("items", schema)
            named = "$ref" in target or (target.get("anyOf") and all("$ref" in x for x in target["anyOf"]))
            if not named:
                vague.append(f"{name} {code}: {json.dumps(schema)[:80]}")
    assert not vague, "\n".join(vague)


def test_every_ref_resolves_and_errors_are_documented(openapi):
    text = json.dumps(openapi)
    names = set(openapi["components"]["schemas"])
    refs = {r.split('"')[0] for r in text.split('"$ref": "#/components/schemas/')[1:]}
    assert refs <= names, refs - names
    assert "ChatCompletionChunk" in names and "ErrorResponse" in names
    chat = openapi["paths"]["/v1/chat/completions"]["post"]["responses"]
    assert "text/event-stream" in chat["200"]["content"] and "application/json" in chat["200"]["content"]
    assert chat["404"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")
