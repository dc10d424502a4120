"""A small typed HTTP client of Teamlore's API (the contract in the API docs), used by the Streamlit pages.

The UI holds no business logic: every page calls one of these methods and renders what comes back.
Every failure is raised as an `ApiError` subclass whose `user_message` is fit to show to a person
(pages never show a traceback).
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from typing import Any, Literal, TypedDict

import httpx

DEFAULT_API_URL = "http://127.0.0.1:8000"


def api_url_from_env() -> str:
    """The API base URL: TEAMLORE_API_URL, else the local default `teamlore serve` listens on."""
    return (os.environ.get("TEAMLORE_API_URL") or DEFAULT_API_URL).rstrip("/")


# --- errors ------------------------------------------------------------------------------------

class ApiError(Exception):
    """The API answered with an error (or could not be reached). `user_message` is safe to display."""

    default_message = "The Teamlore API returned an error."

    def __init__(self, message: str | None = None, *, status: int | None = None, code: str | None = None,
                 error_type: str | None = None):
        self.server_message = message
        self.status = status
        self.code = code
        self.error_type = error_type
        super().__init__(self.user_message)

    @property
    def user_message(self) -> str:
        return self.server_message or self.default_message


class ApiUnavailable(ApiError):
    """Connection refused, DNS failure or timeout: the server is down or unreachable."""

    def __init__(self, base_url: str, detail: str = ""):
        self.base_url = base_url
        self.detail = detail
        super().__init__(None)

    @property
    def user_message(self) -> str:
        why = f" ({self.detail})" if self.detail else ""
        return (f"Can't reach the Teamlore API at {self.base_url}{why}. "
                "Check that the server is running (`teamlore serve`) and try again.")


class Unauthorized(ApiError):
    default_message = "Your API key is invalid, expired or revoked. Please sign in again."


class Forbidden(ApiError):
    default_message = "This needs an admin account."

    @property
    def user_message(self) -> str:
        return "You don't have permission to do this: " + (self.server_message or "an admin account is needed.")


class RateLimited(ApiError):
    def __init__(self, message: str | None = None, *, retry_after: float | None = None, **kw: Any):
        self.retry_after = retry_after
        super().__init__(message, **kw)

    @property
    def user_message(self) -> str:
        wait = f"about {int(self.retry_after + 0.999)} s" if self.retry_after else "a moment"
        return f"Too many requests right now. Please wait {wait} and try again."


class NotFound(ApiError):
    default_message = "Not found (it may have been deleted)."


class ServiceUnavailable(ApiError):
    @property
    def user_message(self) -> str:
        return "Teamlore is not ready yet: " + (self.server_message or "the service is unavailable.")


class BadRequest(ApiError):
    default_message = "The request was not accepted."


def error_from_response(response: httpx.Response) -> ApiError:
    """Map an error response (OpenAI's `{"error": {...}}` shape, or FastAPI's `{"detail": ...}`) to an ApiError."""
    message: str | None = None
    code = error_type = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            message = err.get("message")
            code = err.get("code")
            error_type = err.get("type")
        elif isinstance(err, str):
            message = err
        elif "detail" in body:
            detail = body["detail"]
            if isinstance(detail, list):  # FastAPI validation errors
                message = "; ".join(f"{'.'.join(str(p) for p in d.get('loc', [])[1:])}: {d.get('msg')}"
                                    for d in detail if isinstance(d, dict))
            else:
                message = str(detail)
    if message is None and response.text and len(response.text) < 300 and not response.text.lstrip().startswith("<"):
        message = response.text.strip() or None
    status = response.status_code
    kw = {"status": status, "code": code, "error_type": error_type}
    if status == 401:
        return Unauthorized(message, **kw)
    if status == 403:
        return Forbidden(message, **kw)
    if status == 404:
        return NotFound(message, **kw)
    if status == 429:
        retry = response.headers.get("Retry-After")
        try:
            retry_after = float(retry) if retry is not None else None
        except ValueError:
            retry_after = None
        return RateLimited(message, retry_after=retry_after, **kw)
    if status in (502, 503, 504):
        return ServiceUnavailable(message, **kw)
    if 400 <= status < 500:
        return BadRequest(message or f"The request was rejected (HTTP {status}).", **kw)
    return ApiError(message or f"The Teamlore API failed (HTTP {status}). Please try again.", **kw)


# --- payload shapes (documentation for the pages; values are plain JSON dicts) -----------------------

class User(TypedDict):
    id: int
    name: str
    role: Literal["user", "admin"]


class LoginResult(TypedDict):
    api_key: str
    user: User


class Citation(TypedDict, total=False):
    """A citation as the API sends it: the fields of model.base.Citation (the UI cannot import it; a test in
    tests/test_architecture.py keeps the two the same)."""
    n: int
    chunk_id: int
    title: str
    snippet: str
    source: Literal["document", "slack"]
    url: str | None
    channel: str | None
    page: int | None
    heading: str | None
    document_id: int | None
    score: float | None
    file: str | None
    date: str | None


class AnswerInfo(TypedDict, total=False):
    conversation_id: int
    message_id: int
    citations: list[Citation]
    mode: Literal["generative", "extractive", "no_answer"]
    model_version: str | None
    latency: dict[str, Any]


class Job(TypedDict, total=False):
    id: int
    kind: str
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    progress: float
    params: dict[str, Any]
    result: dict[str, Any]
    error: str | None
    created_at: str
    started_at: str | None
    finished_at: str | None


JOB_DONE_STATES = frozenset({"succeeded", "failed", "cancelled"})


class Upload(TypedDict, total=False):
    """An upload job as GET /v1/uploads/{id} sends it: `results` (one per file) and `index` once it is done."""
    id: int
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    progress: float
    error: str | None
    files: list[str | None]
    results: list[dict[str, Any]]
    index: dict[str, Any]

UploadFile = tuple[str, bytes, str]  # (filename, content, mime type)


# --- streaming chat ------------------------------------------------------------------------------

class ChatStream:
    """Iterate to get the answer's text deltas as they arrive; afterwards `.info` holds the final
    `teamlore` object (citations, mode, model version, ids) and `.text` the whole answer."""

    def __init__(self, client: TeamloreClient, body: dict[str, Any]):
        self._client = client
        self._body = body
        self.info: AnswerInfo | None = None
        self.text = ""

    def __iter__(self) -> Iterator[str]:
        c = self._client
        try:
            with c._http.stream("POST", "/v1/chat/completions", json=self._body,
                                timeout=c._answer_timeout) as response:
                if response.status_code >= 400:
                    response.read()
                    raise error_from_response(response)
                for delta in self._parse(response.iter_lines()):
                    self.text += delta
                    yield delta
        except httpx.TimeoutException as exc:
            raise ApiUnavailable(c.base_url, "the answer timed out") from exc
        except httpx.TransportError as exc:
            raise ApiUnavailable(c.base_url, type(exc).__name__) from exc

    def _parse(self, lines: Iterator[str]) -> Iterator[str]:
        """Server-sent events: `data: <json>` lines, `data: [DONE]` at the end; other lines are ignored."""
        for line in lines:
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                return
            try:
                chunk = json.loads(data)
            except ValueError:
                raise ApiError("The API sent a malformed stream event.") from None
            if isinstance(chunk.get("error"), dict):  # an error after the stream had started
                err = chunk["error"]
                raise ApiError(err.get("message"), code=err.get("code"), error_type=err.get("type"))
            for choice in chunk.get("choices") or []:
                content = (choice.get("delta") or {}).get("content")
                if content:
                    yield content
            if chunk.get("teamlore") is not None:
                self.info = chunk["teamlore"]


# --- the client ------------------------------------------------------------------------------------

class TeamloreClient:
    """One signed-in session against the API. Not thread-safe beyond what httpx.Client is."""

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *,
                 timeout: float = 30.0, answer_timeout: float = 300.0,
                 transport: httpx.BaseTransport | None = None):
        self.base_url = (base_url or api_url_from_env()).rstrip("/")
        self.api_key = api_key
        headers = {"Accept": "application/json", "User-Agent": "teamlore-ui"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._timeout_s, self._answer_timeout_s = timeout, answer_timeout
        self._timeout = httpx.Timeout(timeout, connect=5.0)
        # A streamed answer can pause for long between tokens on a CPU generator.
        self._answer_timeout = httpx.Timeout(answer_timeout, connect=5.0)
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=self._timeout,
                                  transport=transport)

    def close(self) -> None:
        self._http.close()

    def with_key(self, api_key: str) -> TeamloreClient:
        return TeamloreClient(self.base_url, api_key, timeout=self._timeout_s, answer_timeout=self._answer_timeout_s)

    # plumbing
    def _request(self, method: str, path: str, *, timeout: httpx.Timeout | None = None, **kw: Any) -> httpx.Response:
        try:
            try:
                response = self._http.request(method, path, timeout=timeout or self._timeout, **kw)
            except (httpx.ReadError, httpx.RemoteProtocolError):
                if method != "GET":
                    raise
                # A kept-alive connection the server has closed meanwhile: a GET is safe to send again.
                response = self._http.request(method, path, timeout=timeout or self._timeout, **kw)
        except httpx.TimeoutException as exc:
            raise ApiUnavailable(self.base_url, "the request timed out") from exc
        except httpx.TransportError as exc:
            raise ApiUnavailable(self.base_url, type(exc).__name__) from exc
        if response.status_code >= 400:
            raise error_from_response(response)
        return response

    def _json(self, method: str, path: str, **kw: Any) -> Any:
        response = self._request(method, path, **kw)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ApiError(f"The API answered {path} with something that is not JSON.") from None

    # health and auth
    def healthz(self) -> dict[str, Any]:
        return self._json("GET", "/healthz")

    def login(self, username: str, password: str) -> LoginResult:
        return self._json("POST", "/v1/auth/login", json={"username": username, "password": password})

    def me(self) -> User:
        return self._json("GET", "/v1/me")

    def new_session(self) -> LoginResult:
        """A short-lived sign-in key for this user (what the UI keeps instead of a long-lived API key)."""
        return self._json("POST", "/v1/auth/session")

    def logout(self) -> dict[str, Any]:
        """Revoke the sign-in key this client uses."""
        return self._json("POST", "/v1/auth/logout")

    # chat
    def chat_stream(self, messages: Sequence[dict[str, str]], *, conversation_id: int | None = None,
                    model: str = "teamlore") -> ChatStream:
        body: dict[str, Any] = {"model": model, "messages": list(messages), "stream": True}
        if conversation_id is not None:
            body["conversation_id"] = conversation_id
        return ChatStream(self, body)

    def chat(self, messages: Sequence[dict[str, str]], *, conversation_id: int | None = None,
             model: str = "teamlore") -> dict[str, Any]:
        body: dict[str, Any] = {"model": model, "messages": list(messages), "stream": False}
        if conversation_id is not None:
            body["conversation_id"] = conversation_id
        return self._json("POST", "/v1/chat/completions", json=body, timeout=self._answer_timeout)

    def models(self) -> list[dict[str, Any]]:
        return self._json("GET", "/v1/models").get("data", [])

    # conversations and feedback
    def conversations(self) -> list[dict[str, Any]]:
        return self._json("GET", "/v1/conversations")

    def create_conversation(self, title: str | None = None) -> dict[str, Any]:
        return self._json("POST", "/v1/conversations", json={"title": title} if title else {})

    def conversation(self, conversation_id: int) -> dict[str, Any]:
        return self._json("GET", f"/v1/conversations/{conversation_id}")

    def rename_conversation(self, conversation_id: int, title: str) -> dict[str, Any]:
        return self._json("PATCH", f"/v1/conversations/{conversation_id}", json={"title": title})

    def delete_conversation(self, conversation_id: int) -> None:
        self._json("DELETE", f"/v1/conversations/{conversation_id}")

    def feedback(self, message_id: int, rating: Literal[1, -1], comment: str | None = None) -> Any:
        body: dict[str, Any] = {"rating": rating}
        if comment:
            body["comment"] = comment
        return self._json("POST", f"/v1/messages/{message_id}/feedback", json=body)

    # corpus
    def search(self, q: str, k: int = 5) -> list[dict[str, Any]]:
        return self._json("GET", "/v1/search", params={"q": q, "k": k})

    def upload_documents(self, files: Sequence[UploadFile], visibility: str | None = None) -> Upload:
        """Upload documents / Slack export zips; `visibility` "group:<name>" limits documents to a group (admins).
        The API stores them and answers with the upload job that ingests them: follow it with `upload(id)`."""
        parts = [("files", (name, content, mime or "application/octet-stream")) for name, content, mime in files]
        params = {"visibility": visibility} if visibility else None
        return self._json("POST", "/v1/documents", files=parts, params=params, timeout=self._answer_timeout)

    def uploads(self, upload_ids: Sequence[int]) -> list[Upload]:
        """Upload jobs (status, progress, and once done the per-file results), in one request."""
        return self._json("GET", "/v1/uploads", params={"ids": [int(i) for i in upload_ids]})

    def documents(self, q: str = "", source: str = "") -> list[dict[str, Any]]:
        params = {k: v for k, v in (("q", q), ("source", source)) if v}
        return self._json("GET", "/v1/documents", params=params)

    def document_original(self, document_id: int) -> bytes:
        """The stored original of a document (a citation's "Open document"); the API checks who may see it."""
        return self._request("GET", f"/v1/documents/{int(document_id)}/original").content

    def delete_document(self, document_id: int) -> None:
        self._json("DELETE", f"/v1/documents/{document_id}")

    def index_status(self) -> dict[str, Any]:
        return self._json("GET", "/v1/index/status")

    # admin: sources
    def sources(self) -> list[dict[str, Any]]:
        return self._json("GET", "/v1/sources")

    def sync_source(self, source_id: int) -> Job:
        return self._json("POST", f"/v1/sources/{source_id}/sync")

    # admin: datasets
    def datasets(self) -> list[dict[str, Any]]:
        return self._json("GET", "/v1/datasets")

    def build_dataset(self, include_private: bool = False) -> Job:
        return self._json("POST", "/v1/datasets", json={"include_private": include_private})

    def dataset_report(self, version: str) -> dict[str, Any]:
        return self._json("GET", f"/v1/datasets/{version}/report")

    def dataset_plot(self, version: str, name: str) -> bytes:
        return self._request("GET", f"/v1/datasets/{version}/plots/{name}").content

    def dataset_examples(self, version: str, split: str = "train", offset: int = 0,
                         limit: int = 20) -> dict[str, Any]:
        """One page of a split: {"total": int | None, "examples": [...]} (the API may answer a bare list)."""
        out = self._json("GET", f"/v1/datasets/{version}/examples",
                         params={"split": split, "offset": offset, "limit": limit})
        if isinstance(out, list):
            return {"total": None, "examples": out}
        return {"total": out.get("total"), "examples": out.get("examples") or []}

    def review_example(self, version: str, example_id: str | int, accept: bool) -> Any:
        return self._json("POST", f"/v1/datasets/{version}/examples/{example_id}/review", json={"accept": accept})

    # admin: training jobs
    def start_training(self, dataset_version: str, *, base_model: str | None = None, steps: int | None = None,
                       learning_rate: float | None = None, lora_r: int | None = None, qlora: bool = False,
                       size: str | None = None, recipe: str | None = None, feedback_since: str | None = None,
                       include_private_feedback: bool | None = None, adapt_retriever: bool | None = None,
                       parent_version: str | None = None) -> Job:
        """LoRA on `base_model`, or (no base model) pretraining a small model of preset `size`; recipe "dpo" trains
        on preference pairs from the feedback given since model version `feedback_since` ("all": all of it);
        `parent_version` (a version name, "live" or "none") is the adapter training continues from."""
        body: dict[str, Any] = {"dataset_version": dataset_version, "base_model": base_model or None}
        if qlora:
            body["qlora"] = True
        for key, value in (("steps", steps), ("learning_rate", learning_rate), ("lora_r", lora_r), ("size", size),
                           ("recipe", recipe), ("feedback_since", feedback_since),
                           ("include_private_feedback", include_private_feedback),
                           ("adapt_retriever", adapt_retriever), ("parent_version", parent_version)):
            if value is not None:
                body[key] = value
        return self._json("POST", "/v1/jobs/train", json=body)

    def jobs(self) -> list[Job]:
        return self._json("GET", "/v1/jobs")

    def worker_status(self) -> dict[str, Any]:
        """{alive, worker, last_seen_s, how_to_start}: is a job worker running to pick queued jobs up?"""
        return self._json("GET", "/v1/workers")

    def job(self, job_id: int) -> Job:
        return self._json("GET", f"/v1/jobs/{job_id}")

    def job_metrics(self, job_id: int, after_step: int = -1) -> list[dict[str, Any]]:
        return self._json("GET", f"/v1/jobs/{job_id}/metrics", params={"after_step": after_step})

    def job_logs(self, job_id: int) -> list[str]:
        return (self._json("GET", f"/v1/jobs/{job_id}/logs") or {}).get("lines", [])

    def cancel_job(self, job_id: int) -> Any:
        return self._json("POST", f"/v1/jobs/{job_id}/cancel")

    # admin: model versions
    def model_versions(self) -> list[dict[str, Any]]:
        return self._json("GET", "/v1/model-versions")

    def promote(self, model_version_id: int, *, force: bool = False, reason: str | None = None) -> Any:
        """Promote; a version that failed the evaluation gate needs force=True (recorded in the audit log)."""
        body = {"force": True, "reason": reason} if force else None
        return self._json("POST", f"/v1/model-versions/{model_version_id}/promote", json=body)

    def feedback_overview(self, days: int = 30) -> dict[str, Any]:
        return self._json("GET", "/v1/admin/feedback", params={"days": days})

    def correct_answer(self, message_id: int, answer: str, comment: str | None = None) -> Any:
        return self._json("POST", f"/v1/admin/messages/{message_id}/correction",
                          json={"answer": answer, "comment": comment})

    def rollback(self) -> Any:
        return self._json("POST", "/v1/model-versions/rollback")

    # admin: keys and usage
    def keys(self) -> list[dict[str, Any]]:
        return self._json("GET", "/v1/keys")

    def create_key(self, name: str, user: str, role: Literal["user", "admin"] = "user",
                   password: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name, "user": user, "role": role}
        if password:
            body["password"] = password  # also lets the user sign in with a username and password
        return self._json("POST", "/v1/keys", json=body)

    def revoke_key(self, key_id: int) -> None:
        self._json("DELETE", f"/v1/keys/{key_id}")

    def usage(self) -> dict[str, Any]:
        return self._json("GET", "/v1/usage")
