"""Drive schemathesis over every operation of the live OpenAPI schema, collecting 5xx findings.

Shared by tests/reliability/test_schemathesis.py (a few examples per operation, in-process ASGI) and
benchmarks/reliability_schemathesis.py (many examples). schemathesis' own pytest plugin does not load with the
pytest here, so hypothesis drives each operation's strategy directly.
"""
from __future__ import annotations

import time
from collections import Counter

from hypothesis import HealthCheck, given, settings as hsettings
from schemathesis.checks import not_a_server_error

# The caller's own key must stay valid for the rest of the run; revocation is tested in test_access.py.
SKIP = {("DELETE", "/v1/keys/{key_id}")}


def run_schema(schema, key: str, max_examples: int, *, time_budget_s: float | None = None) -> dict:
    findings: list[dict] = []
    statuses: Counter = Counter()
    calls = 0
    t0 = time.time()
    for result in schema.get_all_operations():
        op = result.ok()
        if (op.method.upper(), op.path) in SKIP:
            continue
        if time_budget_s and time.time() - t0 > time_budget_s:
            break

        @hsettings(max_examples=max_examples, deadline=None, suppress_health_check=list(HealthCheck),
                   database=None, phases=["explicit", "generate"])
        @given(op.as_strategy())
        def one(case):
            nonlocal calls
            calls += 1
            response = case.call(headers={"Authorization": f"Bearer {key}"}, timeout=300)
            statuses[f"{op.method.upper()} {op.path} {response.status_code}"] += 1
            try:
                case.validate_response(response, checks=[not_a_server_error])
            except Exception as exc:  # noqa: BLE001 - a finding, recorded with the request that caused it
                if len(findings) < 50:
                    findings.append({"operation": f"{op.method.upper()} {op.path}", "status": response.status_code,
                                     "body": response.text[:300], "curl": case.as_curl_command()[:600],
                                     "check": str(exc)[:300]})
        one()
    by_op = Counter()
    for k, v in statuses.items():
        by_op[k.rsplit(" ", 1)[0]] += v
    return {"operations": len(by_op), "calls": calls, "server_errors": len(findings),
            "status_histogram": dict(Counter(k.rsplit(" ", 1)[1] for k in statuses.elements())),
            "findings": findings, "seconds": round(time.time() - t0, 1)}
