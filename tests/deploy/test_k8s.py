"""docker/k8s: every manifest against the Kubernetes OpenAPI schemas (strict: unknown fields fail), plus the
wiring between them (selectors, secret keys, claims, probes, GPU requests, autoscaling metrics)."""
from __future__ import annotations

import shutil
import subprocess

import kubernetes_validate
import pytest
import yaml

from ._util import K8S

K8S_VERSION = "1.30.0"  # the oldest minor still in wide support; the manifests use nothing newer
# Applied on their own, not by the kustomization (a training Job must never start on `kubectl apply -k`).
STANDALONE = {"train-job.yaml", "prometheus-adapter-rules.yaml"}


def _manifest_files():
    return sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def _docs(path):
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


@pytest.fixture(scope="module")
def objects() -> dict[tuple[str, str], dict]:
    out = {}
    for path in _manifest_files():
        if path.name in STANDALONE:
            continue
        for doc in _docs(path):
            out[(doc["kind"], doc["metadata"]["name"])] = doc
    return out


@pytest.mark.parametrize("path", _manifest_files(), ids=lambda p: p.name)
def test_manifest_is_schema_valid(path):
    docs = _docs(path)
    assert docs, f"{path.name} is empty"
    for version in (K8S_VERSION, kubernetes_validate.latest_version()):
        for doc in docs:
            kubernetes_validate.validate(doc, version, strict=True)


def test_strict_validation_catches_a_typo():
    doc = _docs(K8S / "api.yaml")[0]
    doc["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"httpGet": {"path": "/readyz", "port": 8000}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_kustomization_lists_every_manifest():
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    on_disk = {p.name for p in _manifest_files()} - STANDALONE
    assert listed == on_disk
    images = {i["name"] for i in kustomization["images"]}
    assert {"teamlore-api", "teamlore-worker", "teamlore-ui", "teamlore-vllm"} <= images


def test_kustomize_build_renders_valid_objects():
    kubectl = shutil.which("kubectl")
    kustomize = shutil.which("kustomize")
    if not (kubectl or kustomize):
        pytest.skip("neither kubectl nor kustomize is installed; the per-file schema checks above still ran")
    cmd = [kubectl, "kustomize", str(K8S)] if kubectl else [kustomize, "build", str(K8S)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    rendered = [d for d in yaml.safe_load_all(done.stdout) if d]
    for doc in rendered:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "teamlore"
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "teamlore"
    images = {c["image"] for d in rendered if d["kind"] == "Deployment"
              for c in d["spec"]["template"]["spec"]["containers"]}
    assert all(":" in i and not i.endswith(":latest") for i in images), images


def _pod(objects, name):
    return objects[("Deployment", name)]["spec"]["template"]["spec"]


def test_deployments_probes_and_gpu(objects):
    for name in ("teamlore-api", "teamlore-ui", "teamlore-worker", "teamlore-vllm", "teamlore-slack"):
        assert ("Deployment", name) in objects, name
    api = _pod(objects, "teamlore-api")["containers"][0]
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert _pod(objects, "teamlore-api")["initContainers"][0]["args"] == ["init"]
    vllm = _pod(objects, "teamlore-vllm")["containers"][0]
    assert vllm["readinessProbe"]["httpGet"]["path"] == "/health"
    assert vllm["resources"]["limits"]["nvidia.com/gpu"] >= 1
    assert vllm["resources"]["requests"]["nvidia.com/gpu"] == vllm["resources"]["limits"]["nvidia.com/gpu"]
    assert objects[("Deployment", "teamlore-vllm")]["spec"]["strategy"]["type"] == "Recreate"
    ui = _pod(objects, "teamlore-ui")["containers"][0]
    assert ui["args"][:1] == ["ui"] and "--api" in ui["args"]


def test_pods_run_restricted(objects):
    for (kind, name), obj in objects.items():
        if kind != "Deployment":
            continue
        pod = obj["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] != 0, name
        assert pod["automountServiceAccountToken"] is False, name
        for c in pod.get("initContainers", []) + pod["containers"]:
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, (name, c["name"])
            assert sc["capabilities"]["drop"] == ["ALL"], (name, c["name"])
            assert "memory" in c["resources"]["limits"], (name, c["name"])


def test_references_resolve(objects):
    """Every secretKeyRef / configMapKeyRef / claim / Service selector / PDB / HPA points at something real."""
    secret_keys = set(objects[("Secret", "teamlore-secrets")]["stringData"])
    config_keys = set(objects[("ConfigMap", "teamlore-config")]["data"])
    claims = {name for kind, name in objects if kind == "PersistentVolumeClaim"}
    deployments = {name: obj for (kind, name), obj in objects.items() if kind == "Deployment"}
    for name, dep in deployments.items():
        pod = dep["spec"]["template"]["spec"]
        assert dep["spec"]["selector"]["matchLabels"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()
        for c in pod.get("initContainers", []) + pod["containers"]:
            for env in c.get("env", []):
                ref = env.get("valueFrom", {})
                if "secretKeyRef" in ref:
                    assert ref["secretKeyRef"]["name"] == "teamlore-secrets"
                    assert ref["secretKeyRef"]["key"] in secret_keys, (name, env["name"])
                if "configMapKeyRef" in ref:
                    assert ref["configMapKeyRef"]["key"] in config_keys, (name, env["name"])
            for src in c.get("envFrom", []):
                assert src["configMapRef"]["name"] == "teamlore-config"
        for vol in pod.get("volumes", []):
            if "persistentVolumeClaim" in vol:
                assert vol["persistentVolumeClaim"]["claimName"] in claims, (name, vol["name"])

    def selected(selector):
        return [n for n, d in deployments.items()
                if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()]

    for (kind, name), obj in objects.items():
        if kind == "Service":
            assert selected(obj["spec"]["selector"]), f"Service {name} selects no Deployment"
        if kind == "PodDisruptionBudget":
            assert selected(obj["spec"]["selector"]["matchLabels"]), f"PDB {name} selects no Deployment"
        if kind == "HorizontalPodAutoscaler":
            assert obj["apiVersion"] == "autoscaling/v2"
            assert obj["spec"]["scaleTargetRef"]["name"] in deployments
    assert ("PodDisruptionBudget", "teamlore-api") in objects


def test_secret_template_holds_placeholders_only(objects):
    secret = objects[("Secret", "teamlore-secrets")]
    assert {"database-url", "slack-bot-token", "slack-app-token", "slack-signing-secret"} <= set(secret["stringData"])
    for key, value in secret["stringData"].items():
        assert "CHANGE-ME" in value, f"secret.yaml {key} must stay a placeholder"


def test_api_autoscales_on_latency_and_worker_on_queue_depth(objects):
    adapter = yaml.safe_load(_docs(K8S / "prometheus-adapter-rules.yaml")[0]["data"]["config.yaml"])
    served = {r["name"]["as"] for r in adapter["rules"] + adapter["externalRules"]}
    api_hpa = objects[("HorizontalPodAutoscaler", "teamlore-api")]["spec"]
    worker_hpa = objects[("HorizontalPodAutoscaler", "teamlore-worker")]["spec"]
    api_custom = [m["pods"]["metric"]["name"] for m in api_hpa["metrics"] if m["type"] == "Pods"]
    worker_external = [m["external"]["metric"]["name"] for m in worker_hpa["metrics"] if m["type"] == "External"]
    assert api_custom == ["teamlore_http_request_duration_seconds_p95"]
    assert worker_external == ["teamlore_jobs_queued"]
    # The adapter serves exactly the metrics the HPAs ask for, computed from metrics the app exports.
    assert set(api_custom + worker_external) <= served
    assert api_hpa["minReplicas"] >= 2, "a PDB with minAvailable 1 needs at least 2 replicas to allow drains"
