"""Register LoRA adapters with a running vLLM server, so a new model version goes live without a restart.

The server must run with `--enable-lora` (and `--max-lora-rank` >= the adapter's rank) and with the environment
variable `VLLM_ALLOW_RUNTIME_LORA_UPDATING=True`; then `/v1/load_lora_adapter` makes the adapter a served model
whose id is the adapter name, and requests choose it with `model=<name>`.
"""
from __future__ import annotations

import json
from pathlib import Path

import httpx

from model.base import GeneratorUnavailable
from model.openai_generator import ServedModel, api_root

RUNTIME_LORA_HINT = ("start vLLM with --enable-lora and the environment variable "
                     "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True")


class VLLMAdminError(RuntimeError):
    """vLLM refused an adapter operation; the message carries the server's reason."""


def _headers(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def _post(base_url: str, route: str, payload: dict, api_key: str | None, timeout_s: float) -> httpx.Response:
    url = api_root(base_url) + route
    try:
        return httpx.post(url, json=payload, headers=_headers(api_key), timeout=timeout_s)
    except httpx.TransportError as exc:
        raise GeneratorUnavailable(f"cannot reach the vLLM server at {url} ({type(exc).__name__}: {exc})") from exc


def _reason(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text.strip()[:500]
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if body.get("message") or body.get("detail"):
            return str(body.get("message") or body.get("detail"))
    return json.dumps(body)[:500]


def list_models(base_url: str, api_key: str | None = None, timeout_s: float = 10.0) -> list[ServedModel]:
    """Every model the server serves: the base model(s) and each loaded adapter (whose `parent` is the base)."""
    url = api_root(base_url) + "/models"
    try:
        resp = httpx.get(url, headers=_headers(api_key), timeout=timeout_s)
    except httpx.TransportError as exc:
        raise GeneratorUnavailable(f"cannot reach the vLLM server at {url} ({type(exc).__name__}: {exc})") from exc
    if resp.status_code != 200:
        raise VLLMAdminError(f"GET {url} failed (HTTP {resp.status_code}): {_reason(resp)}")
    return [ServedModel.from_json(m) for m in resp.json().get("data", [])]


def load_lora_adapter(base_url: str, name: str, path: str | Path, api_key: str | None = None,
                      timeout_s: float = 300.0) -> ServedModel:
    """Load the peft adapter directory `path` as served model `name`; returns its /v1/models entry.

    `path` must be readable by the server process (same machine or a shared volume). Loading a name that is
    already served from the same path is a no-op, so a retried promotion is safe; the same name with another
    path is refused (adapter names stand for immutable model versions: give a new version a new name).
    """
    _check_name(name)
    adapter_dir = Path(path)
    if adapter_dir.exists() and not (adapter_dir / "adapter_config.json").is_file():
        raise ValueError(f"{adapter_dir} is not a peft adapter directory (no adapter_config.json)")
    path_str = str(adapter_dir.resolve()) if adapter_dir.exists() else str(path)

    current = {m.id: m for m in list_models(base_url, api_key)}
    if name in current:
        if current[name].root in (path_str, str(path)):
            return current[name]
        raise VLLMAdminError(f"adapter name {name!r} is already served from {current[name].root}; "
                             f"unload it first or give the new version another name")

    resp = _post(base_url, "/load_lora_adapter", {"lora_name": name, "lora_path": path_str}, api_key, timeout_s)
    _refuse_missing_route(resp)
    if resp.status_code != 200:
        raise VLLMAdminError(f"vLLM refused to load adapter {name!r} from {path_str} "
                             f"(HTTP {resp.status_code}): {_reason(resp)}")
    entry = next((m for m in list_models(base_url, api_key) if m.id == name), None)
    if entry is None:
        raise VLLMAdminError(f"vLLM accepted adapter {name!r} but does not list it in /v1/models")
    return entry


def unload_lora_adapter(base_url: str, name: str, api_key: str | None = None, timeout_s: float = 60.0,
                        missing_ok: bool = False) -> None:
    """Stop serving adapter `name` (requests for it then get HTTP 404)."""
    _check_name(name)
    resp = _post(base_url, "/unload_lora_adapter", {"lora_name": name}, api_key, timeout_s)
    if resp.status_code == 200:
        return
    _refuse_missing_route(resp)
    if resp.status_code == 404 and missing_ok:
        return  # vLLM answers 404 "cannot be found" for an adapter it does not serve
    raise VLLMAdminError(f"vLLM refused to unload adapter {name!r} (HTTP {resp.status_code}): {_reason(resp)}")


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not name or name != name.strip() or any(c.isspace() for c in name):
        raise ValueError(f"adapter name must be a non-empty id without whitespace, got {name!r}")


def _refuse_missing_route(resp: httpx.Response) -> None:
    """A 404 from the router itself (FastAPI's {"detail": "Not Found"}) means the LoRA routes are off; a 404 with
    vLLM's error object is about the adapter."""
    if resp.status_code != 404:
        return
    try:
        body = resp.json()
    except ValueError:
        body = None
    if not (isinstance(body, dict) and isinstance(body.get("error"), dict)):
        raise VLLMAdminError(f"the server at {resp.request.url.host}:{resp.request.url.port} has no runtime "
                             f"LoRA endpoint ({resp.request.url.path} answered 404): {RUNTIME_LORA_HINT}")
