"""Socket Mode (what `teamlore slack` runs): the bot opens the WebSocket that apps.connections.open hands out,
acknowledges each envelope, and answers through the Web API — here a local WebSocket server plays Slack."""
from __future__ import annotations

import json
import queue
import threading
import time

from websockets.sync.server import serve

from app.slack.socket import socket_mode_handler
from tests.fakes.fake_slack import Call, FakeSlack
from tests.slack.conftest import BOT, SlackHarness, load_workspace

APP_TOKEN = "xapp-1-fake-app-token"


class SocketSlack(FakeSlack):
    """The fake Web API plus apps.connections.open, which (like Slack) takes the app-level token."""
    ws_url = ""

    def dispatch(self, method, params):
        if method == "apps.connections.open":
            ok = params.get("token") == APP_TOKEN
            with self.lock:
                self.calls.append(Call(method, dict(params), 200))
            return 200, {}, {"ok": True, "url": self.ws_url} if ok else {"ok": False, "error": "invalid_auth"}
        return super().dispatch(method, params)


class SlackSocketServer:
    """Sends `hello`, then whatever envelopes the test queues; records the acknowledgements it gets back."""

    def __init__(self):
        self.outbox: queue.Queue = queue.Queue()
        self.acks: list[dict] = []
        self.connected = threading.Event()
        self.server = serve(self._session, "127.0.0.1", 0)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.server.socket.getsockname()[1]}/link/?ticket=t1"

    def _session(self, ws):
        ws.send(json.dumps({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "AFAKE"}}))
        self.connected.set()
        while True:
            try:
                env = self.outbox.get(timeout=0.05)
                ws.send(json.dumps(env))
            except queue.Empty:
                pass
            try:
                msg = ws.recv(timeout=0.05)
            except TimeoutError:
                continue
            except Exception:
                return
            data = json.loads(msg)
            if "envelope_id" in data:
                self.acks.append(data)

    def close(self):
        self.server.shutdown()


def test_socket_mode_acknowledges_envelopes_and_answers(corpus):
    server = SlackSocketServer()
    with SocketSlack() as fake:
        fake.ws_url = server.url
        load_workspace(fake)
        settings = corpus.model_copy(update={"slack_api_url": fake.url, "slack_app_token": APP_TOKEN})
        handler = socket_mode_handler(settings)
        try:
            handler.connect()
            assert server.connected.wait(10), "the bot did not open the WebSocket"
            ts = fake.post("C0ACMEHRH", "U0ACME012", f"<@{BOT}> Where do I request time off?")
            body = {"team_id": "TFAKE", "api_app_id": "AFAKE", "type": "event_callback", "event_id": "EvSOCK01",
                    "event_time": int(time.time()),
                    "event": {"type": "app_mention", "user": "U0ACME012", "channel": "C0ACMEHRH", "ts": ts,
                              "text": f"<@{BOT}> Where do I request time off?", "event_ts": ts}}
            server.outbox.put({"envelope_id": "env-1", "type": "events_api", "accepts_response_payload": False,
                               "retry_attempt": 0, "retry_reason": "", "payload": body})
            final = SlackHarness(None, fake, settings).answer_to("C0ACMEHRH", ts, timeout=60)
            assert [a["envelope_id"] for a in server.acks] == ["env-1"]
            assert fake.calls_to("apps.connections.open")[0].params["token"] == APP_TOKEN
            assert "PeopleHub" in final["text"]
        finally:
            handler.close()
            handler.app.teamlore_executor.shutdown(wait=True)
            server.close()
