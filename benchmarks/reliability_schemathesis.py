"""schemathesis against the live OpenAPI schema, many examples per operation, on a copy of a seeded workspace
(so chat, search and documents hit a real index). Admin key; check: no 5xx. Findings are printed with a curl
command that reproduces them.

    .venv/bin/python benchmarks/reliability_schemathesis.py --seed-dir /tmp/rel/var --examples 25
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.report import write_json  # noqa: E402
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed-dir", type=Path, required=True)
    ap.add_argument("--examples", type=int, default=25)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    import schemathesis
    from fastapi.testclient import TestClient
    from app.api.main import create_app
    from app.db import session_scope
    from app.security import create_api_key, get_or_create_user
    from app.settings import load_settings
    from tests.reliability.schemathesis_run import run_schema

    data = Path(tempfile.mkdtemp(prefix="teamlore-schemathesis-")) / "var"
    shutil.copytree(args.seed_dir, data, symlinks=True, ignore=shutil.ignore_patterns("*.log", "tiny-llama"))
    settings = load_settings(data_dir=data, database_url=f"sqlite:///{data / 'teamlore.db'}",
                             rate_limit="1000000/minute")
    with session_scope(settings.db_url) as s:
        _, key = create_api_key(s, get_or_create_user(s, "schemathesis", role="admin"), "schemathesis")
    app = create_app(settings)
    with TestClient(app):
        report = run_schema(schemathesis.openapi.from_asgi("/openapi.json", app), key, args.examples)
    report["examples_per_operation"] = args.examples
    print(json.dumps(report, indent=2))
    if args.out:
        write_json(args.out, report)
    return 1 if report["server_errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
