"""Builds docker/grafana/teamlore-dashboard.json (Grafana dashboard, Prometheus queries).

    python docker/grafana/build_dashboard.py            # rewrite the JSON beside this script
    python docker/grafana/build_dashboard.py --check    # exit 1 if the committed JSON is stale

The JSON is generated so that every panel follows one layout and query style; edit this file, not the JSON.
"""
import json
import os
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "teamlore-dashboard.json"

DS = {"type": "prometheus", "uid": "${datasource}"}
panels = []
pid = [0]
y = [0]

def row(title):
    pid[0] += 1
    panels.append({"id": pid[0], "type": "row", "title": title, "collapsed": False,
                   "gridPos": {"h": 1, "w": 24, "x": 0, "y": y[0]}, "panels": []})
    y[0] += 1

def q(expr, legend, ref):
    return {"datasource": DS, "expr": expr, "legendFormat": legend, "refId": ref, "range": True}

def quantiles(metric, by="", qs=(0.5, 0.95, 0.99)):
    group = f"le{', ' + by if by else ''}"
    out = []
    for i, qq in enumerate(qs):
        legend = f"p{int(qq*100)}" + (" {{" + by + "}}" if by else "")
        out.append(q(f"histogram_quantile({qq}, sum by ({group}) (rate({metric}_bucket[$__rate_interval])))",
                     legend, "ABCDEFG"[i]))
    return out

def ts(title, targets, unit, x, w=12, h=8, desc="", stack=False, minv=None):
    pid[0] += 1
    defaults = {"unit": unit, "custom": {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10,
                                         "showPoints": "never", "spanNulls": False,
                                         "stacking": {"mode": "normal" if stack else "none", "group": "A"}},
                "color": {"mode": "palette-classic"}}
    if minv is not None:
        defaults["min"] = minv
    panels.append({"id": pid[0], "type": "timeseries", "title": title, "description": desc, "datasource": DS,
                   "gridPos": {"h": h, "w": w, "x": x, "y": y[0]}, "targets": targets,
                   "fieldConfig": {"defaults": defaults, "overrides": []},
                   "options": {"legend": {"displayMode": "table", "placement": "bottom",
                                          "calcs": ["lastNotNull", "max"]},
                               "tooltip": {"mode": "multi", "sort": "desc"}}})

def stat(title, target, unit, x, w=6, thresholds=None, desc=""):
    pid[0] += 1
    steps = thresholds or [{"color": "green", "value": None}]
    panels.append({"id": pid[0], "type": "stat", "title": title, "description": desc, "datasource": DS,
                   "gridPos": {"h": 4, "w": w, "x": x, "y": y[0]}, "targets": [target],
                   "fieldConfig": {"defaults": {"unit": unit, "thresholds": {"mode": "absolute", "steps": steps}},
                                   "overrides": []},
                   "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                               "colorMode": "background", "graphMode": "area", "textMode": "auto"}})

R = "teamlore_http_requests_total"
row("Overview")
stat("Requests / s", q(f"sum(rate({R}[$__rate_interval]))", "req/s", "A"), "reqps", 0)
stat("5xx ratio", q(f'sum(rate({R}{{status=~"5.."}}[$__rate_interval])) / clamp_min(sum(rate({R}[$__rate_interval])), 1e-9)',
                    "5xx", "A"), "percentunit", 6,
     thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 0.001}, {"color": "red", "value": 0.01}])
stat("p95 latency", quantiles("teamlore_http_request_duration_seconds", qs=(0.95,))[0], "s", 12,
     thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 1}, {"color": "red", "value": 3}])
stat("Jobs queued", q("max(teamlore_jobs_queued)", "queued", "A"), "short", 18,
     thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 10}, {"color": "red", "value": 50}])
y[0] += 4

row("API")
ts("Request rate by route", [q(f"sum by (route) (rate({R}[$__rate_interval]))", "{{route}}", "A")], "reqps", 0,
   desc="teamlore_http_requests_total, per route.", stack=True)
ts("Error rate", [q(f'sum by (route) (rate({R}{{status=~"5.."}}[$__rate_interval]))', "5xx {{route}}", "A"),
                  q(f'sum(rate({R}{{status=~"4.."}}[$__rate_interval]))', "4xx (all routes)", "B"),
                  q(f'sum(rate({R}{{status="429"}}[$__rate_interval]))', "429 rate limited", "C")],
   "reqps", 12, desc="5xx are Teamlore's fault; 4xx are clients' (401/403 are refused credentials).", minv=0)
y[0] += 8
ts("Request latency p50 / p95 / p99", quantiles("teamlore_http_request_duration_seconds"), "s", 0,
   desc="All routes; a streamed answer counts until its last byte.", minv=0)
ts("Request latency p95 by route", quantiles("teamlore_http_request_duration_seconds", by="route", qs=(0.95,)), "s", 12, minv=0)
y[0] += 8

row("Answers")
ts("Time to first token", quantiles("teamlore_ttft_seconds"), "s", 0, w=8, minv=0)
ts("Generation speed (tokens / s per answer)",
   [q("histogram_quantile(0.5, sum by (le) (rate(teamlore_generation_tokens_per_second_bucket[$__rate_interval])))", "p50", "A"),
    q("histogram_quantile(0.1, sum by (le) (rate(teamlore_generation_tokens_per_second_bucket[$__rate_interval])))", "p10 (slow tail)", "B")],
   "short", 8, w=8, desc="Low values are the tail that matters here, hence p10.", minv=0)
ts("Retrieval latency", quantiles("teamlore_retrieval_duration_seconds"), "s", 16, w=8, minv=0)
y[0] += 8

row("Jobs")
ts("Job queue", [q("max(teamlore_jobs_queued)", "queued", "A"), q("max(teamlore_jobs_running)", "running", "B")],
   "short", 0, w=24, desc="Ingestion, indexing, dataset and training jobs (the worker HPA scales on 'queued').", minv=0)
y[0] += 8

row("Training")
ts("Training loss", [q("teamlore_train_loss", "{{job}} {{instance}}", "A")], "short", 0, w=8)
ts("Training throughput", [q("sum by (instance) (teamlore_train_tokens_per_second)", "{{instance}}", "A")],
   "short", 8, w=8, desc="Tokens per second per training process.", minv=0)
ts("GPU memory", [q("teamlore_gpu_memory_bytes", "{{instance}}", "A")], "bytes", 16, w=8, minv=0)
y[0] += 8

row("vLLM")
ts("vLLM requests", [q("sum(vllm:num_requests_running)", "running", "A"),
                     q("sum(vllm:num_requests_waiting)", "waiting", "B")], "short", 0, w=8, minv=0)
ts("vLLM token throughput", [q("sum(rate(vllm:generation_tokens_total[$__rate_interval]))", "generated", "A"),
                             q("sum(rate(vllm:prompt_tokens_total[$__rate_interval]))", "prompt", "B")],
   "short", 8, w=8, desc="Tokens per second across the server.", minv=0)
ts("vLLM time to first token / KV cache",
   [q("histogram_quantile(0.95, sum by (le) (rate(vllm:time_to_first_token_seconds_bucket[$__rate_interval])))", "TTFT p95 (s)", "A"),
    q("max(vllm:kv_cache_usage_perc)", "KV cache used (0-1)", "B")],
   "short", 16, w=8, minv=0)
y[0] += 8

dash = {
    "__inputs": [], "__requires": [{"type": "grafana", "id": "grafana", "name": "Grafana", "version": "10.0.0"},
                                    {"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"}],
    "uid": "teamlore-overview", "title": "Teamlore", "description": "Teamlore API, answers, jobs, training and vLLM.",
    "tags": ["teamlore"], "timezone": "browser", "editable": True, "graphTooltip": 1,
    "schemaVersion": 39, "version": 1, "refresh": "30s", "time": {"from": "now-3h", "to": "now"},
    "annotations": {"list": []}, "links": [],
    "templating": {"list": [{"name": "datasource", "label": "Prometheus", "type": "datasource",
                             "query": "prometheus", "current": {}, "hide": 0, "refresh": 1,
                             "includeAll": False, "multi": False, "options": [], "regex": ""}]},
    "panels": panels,
}
text = json.dumps(dash, indent=2) + "\n"
if "--check" in sys.argv[1:]:
    if not OUT.is_file() or OUT.read_text(encoding="utf-8") != text:
        sys.exit(f"{OUT} is stale: run python {Path(__file__).as_posix()}")
    sys.exit(0)
# Atomic: a reader (Grafana's file provisioner) never sees a half-written dashboard.
tmp = OUT.with_suffix(".json.tmp")
tmp.write_text(text, encoding="utf-8")
os.replace(tmp, OUT)
print(f"{OUT}: {len(panels)} panels")
