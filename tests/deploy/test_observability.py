"""The Grafana dashboard and Prometheus scrape config: valid JSON/YAML, every query parses as PromQL, and every
metric a panel reads is one Teamlore (or vLLM) exports."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import promql_parser
import pytest
import yaml

from ._util import COMPOSE, DOCKER

DASHBOARD = DOCKER / "grafana" / "teamlore-dashboard.json"
TEAMLORE_METRICS = {
    "teamlore_http_requests_total", "teamlore_http_request_duration_seconds", "teamlore_ttft_seconds",
    "teamlore_generation_tokens_per_second", "teamlore_retrieval_duration_seconds", "teamlore_jobs_queued",
    "teamlore_jobs_running", "teamlore_train_loss", "teamlore_train_tokens_per_second", "teamlore_gpu_memory_bytes",
}
HISTOGRAMS = {"teamlore_http_request_duration_seconds", "teamlore_ttft_seconds",
              "teamlore_generation_tokens_per_second", "teamlore_retrieval_duration_seconds"}
# vLLM's own metric names (V1 engine), as its /metrics serves them.
VLLM_METRICS = {"vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:generation_tokens_total",
                "vllm:prompt_tokens_total", "vllm:time_to_first_token_seconds", "vllm:kv_cache_usage_perc",
                "vllm:e2e_request_latency_seconds", "vllm:inter_token_latency_seconds"}
GRAFANA_VARS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def _panels(dashboard):
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def _metric_names(expr: str) -> set[str]:
    names = set()
    for token in re.findall(r"\b(teamlore_[a-z0-9_]+|vllm:[a-z0-9_:]+)", expr):
        names.add(re.sub(r"_(bucket|sum|count)$", "", token) if not token.endswith("_total") else token)
    return names


def test_dashboard_is_current_with_its_builder():
    done = subprocess.run([sys.executable, str(DOCKER / "grafana" / "build_dashboard.py"), "--check"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_every_query_parses_and_reads_known_metrics(dashboard):
    used = set()
    for panel in _panels(dashboard):
        assert panel["targets"], f"panel {panel['title']!r} has no query"
        for target in panel["targets"]:
            expr = target["expr"]
            for var, value in GRAFANA_VARS.items():
                expr = expr.replace(var, value)
            assert "$" not in expr, f"unknown Grafana variable in {target['expr']}"
            promql_parser.parse(expr)  # raises on a syntax error
            names = _metric_names(expr)
            assert names, f"panel {panel['title']!r} reads no Teamlore or vLLM metric: {expr}"
            unknown = names - TEAMLORE_METRICS - VLLM_METRICS
            assert not unknown, f"panel {panel['title']!r} reads unknown metrics {unknown}"
            used |= names
            for name in names & HISTOGRAMS:
                assert f"{name}_bucket" in expr and "histogram_quantile" in expr, \
                    f"{name} is a histogram: query its quantiles"
            assert panel["datasource"]["uid"] == "${datasource}"
    assert TEAMLORE_METRICS <= used, f"metrics with no panel: {TEAMLORE_METRICS - used}"
    assert any(n.startswith("vllm:") for n in used)


def test_promql_check_rejects_a_broken_query():
    with pytest.raises(Exception):
        promql_parser.parse("sum(rate(teamlore_http_requests_total[5m])")


def test_histogram_names_match_the_app(dashboard):
    """The app's own registry defines these metrics with the types the dashboard assumes."""
    from prometheus_client import Histogram
    import app.observability as obs
    defined = {m._name: m for m in vars(obs).values() if hasattr(m, "_name") and hasattr(m, "_type")}
    for name in TEAMLORE_METRICS & set(defined):
        assert isinstance(defined[name], Histogram) == (name in HISTOGRAMS), name
    # The request counter's labels are the ones the panels group and filter by.
    counter = defined.get("teamlore_http_requests") or defined.get("teamlore_http_requests_total")
    assert counter is not None and set(counter._labelnames) == {"route", "method", "status"}


def test_layout(dashboard):
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    cells = set()
    for p in dashboard["panels"]:
        g = p["gridPos"]
        assert all(isinstance(g[k], int) for k in "xywh") and g["x"] + g["w"] <= 24, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"panel {p['title']!r} overlaps another"
                cells.add((x, y))
    titles = " | ".join(p["title"].lower() for p in _panels(dashboard))
    for topic in ("request rate", "error", "latency", "first token", "tokens / s", "retrieval", "queue",
                  "training loss", "training throughput", "gpu memory", "vllm"):
        assert topic in titles, f"no panel about {topic}"
    assert dashboard["templating"]["list"][0]["type"] == "datasource"


def test_prometheus_scrapes_the_compose_services():
    config = yaml.safe_load((DOCKER / "prometheus.yml").read_text())
    compose = yaml.safe_load(COMPOSE.read_text())
    targets = {t for job in config["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]}
    assert {"api:8000", "vllm:8000"} <= targets
    for target in targets:
        host = target.split(":")[0]
        assert host == "127.0.0.1" or host in compose["services"], f"{target}: no such compose service"
    provisioning = yaml.safe_load((DOCKER / "grafana" / "provisioning" / "datasources" / "prometheus.yaml").read_text())
    assert provisioning["datasources"][0]["url"] == "http://prometheus:9090"
