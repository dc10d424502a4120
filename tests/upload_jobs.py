"""Following an upload job from a test: POST /v1/documents answers 202 with the job; its outcome (per-file
`results` and the `index` report) comes from GET /v1/uploads/{id} once the job is done."""
from __future__ import annotations

import time

DONE = ("succeeded", "failed", "cancelled")


def wait_for(client, job_id: int, headers: dict | None = None, timeout: float = 300):
    """GET /v1/uploads/{job_id} once the job is done (or the first answer that is not a 200)."""
    deadline = time.monotonic() + timeout
    pause = 0.1
    while True:
        r = client.get(f"/v1/uploads/{job_id}", headers=headers)
        if r.status_code != 200 or r.json()["status"] in DONE:
            return r
        if time.monotonic() > deadline:
            raise AssertionError(f"upload job {job_id} not done after {timeout:.0f} s: {r.text}")
        time.sleep(pause)
        pause = min(1.0, pause * 1.5)  # polls count against the key's rate limit, as every request does


def finished(client, response, headers: dict | None = None, timeout: float = 300):
    """The upload's outcome as a response: GET /v1/uploads/{id} once its job is done (status 200, with `results` and
    `index`), or the POST's own response when it was refused (not a 202). `client` is an httpx or TestClient."""
    if response.status_code != 202:
        return response
    return wait_for(client, response.json()["id"], headers, timeout)
