"""A small OpenAI-shaped HTTP server on 127.0.0.1 for unit tests of OpenAIGenerator and vllm_admin.

It speaks the wire format the official client parses (JSON errors, chunked server-sent events), records every
request body, and can misbehave on demand: error statuses, a slow first token, a connection dropped mid-stream,
routes that do not exist. The real-vLLM tests live in test_vllm_integration.py; this covers failure paths a
healthy vLLM will not produce on cue.
"""
from __future__ import annotations

import json
import select
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeOpenAIServer:
    def __init__(self) -> None:
        self.models: list[dict] = [{"id": "base", "object": "model", "root": "/nowhere/base", "parent": None,
                                    "max_model_len": 4096}]
        self.pieces = ["Hel", "lo", " wor", "ld"]
        self.error: tuple[int, dict] | None = None      # (status, body) answered to chat completions
        self.first_token_delay_s = 0.0
        self.drop_after: int | None = None              # send this many pieces, then cut the connection
        self.lora_routes = True
        self.models_down = False                        # GET /v1/models answers 503
        self.requests: list[dict] = []
        self.client_went_away = threading.Event()
        self.adapters: dict[str, str] = {}
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> "FakeOpenAIServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def _json(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> dict:
                n = int(self.headers.get("Content-Length") or 0)
                return json.loads(self.rfile.read(n) or b"{}")

            def do_GET(self) -> None:
                if self.path == "/v1/models" and fake.models_down:
                    self._json(503, {"error": {"message": "starting up"}})
                elif self.path == "/v1/models":
                    data = list(fake.models) + [
                        {"id": n, "object": "model", "root": p, "parent": fake.models[0]["id"], "max_model_len": None}
                        for n, p in fake.adapters.items()]
                    self._json(200, {"object": "list", "data": data})
                else:
                    self._json(404, {"detail": "Not Found"})

            def do_POST(self) -> None:
                body = self._body()
                fake.requests.append({"path": self.path, "body": body,
                                      "auth": self.headers.get("Authorization")})
                if self.path == "/v1/chat/completions":
                    return self._chat(body)
                if self.path == "/v1/load_lora_adapter" and fake.lora_routes:
                    fake.adapters[body["lora_name"]] = body["lora_path"]
                    return self._json(200, {"ok": True})
                if self.path == "/v1/unload_lora_adapter" and fake.lora_routes:
                    if fake.adapters.pop(body["lora_name"], None) is None:
                        return self._json(404, {"error": {"message": f"The lora adapter '{body['lora_name']}' "
                                                                     "cannot be found.", "code": 404}})
                    return self._json(200, {"ok": True})
                self._json(404, {"detail": "Not Found"})

            def _chunk(self, data: bytes) -> None:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            def _event(self, model: str, delta: dict) -> None:
                chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": model,
                         "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
                self._chunk(f"data: {json.dumps(chunk)}\n\n".encode())

            def _client_gone_within(self, seconds: float) -> bool:
                """Wait, watching the socket: a closed client shows as readable with nothing to read."""
                deadline = time.monotonic() + seconds
                while time.monotonic() < deadline:
                    ready, _, _ = select.select([self.connection], [], [], 0.02)
                    if ready and self.connection.recv(1, socket.MSG_PEEK) == b"":
                        return True
                return False

            def _chat(self, body: dict) -> None:
                if fake.error is not None:
                    return self._json(*fake.error)
                known = {m["id"] for m in fake.models} | set(fake.adapters)
                if body.get("model") not in known:
                    return self._json(404, {"error": {"message": f"The model `{body.get('model')}` does not exist.",
                                                      "type": "NotFoundError", "code": 404}})
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                if fake.first_token_delay_s and self._client_gone_within(fake.first_token_delay_s):
                    fake.client_went_away.set()
                    return
                try:
                    self._event(body["model"], {"role": "assistant", "content": ""})
                    for i, piece in enumerate(fake.pieces):
                        if fake.drop_after is not None and i == fake.drop_after:
                            self.connection.shutdown(socket.SHUT_RDWR)  # mid-body: an incomplete chunked read
                            return
                        self._event(body["model"], {"content": piece})
                    self._chunk(b"data: [DONE]\n\n")
                    self._chunk(b"")
                except (BrokenPipeError, ConnectionResetError):
                    fake.client_went_away.set()

        return Handler
