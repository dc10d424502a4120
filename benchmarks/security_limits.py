"""Issue #15 at full size, against a real `teamlore serve` (default limits, extractive answers, a temp data dir):

  huge_text   one 200,000,000-byte text upload: peak server RSS while it is received and refused, then a 70-byte
              upload by someone else (must be ingested)
  chunked     1.5 GiB sent chunked (no Content-Length): how much the server read before its 413
  bombs       a 30 MB / 448,501-row CSV, a DOCX with 500 MiB of spaces in document.xml, a DOCX with 5.2 M empty
              paragraphs: seconds to refuse each, server RSS growth
  chats       25 and 64 concurrent chat requests (half streaming) on SQLite and PostgreSQL: status codes, latency,
              and a bystander's GET /v1/me during the burst

    .venv/bin/python benchmarks/security_limits.py                 # everything, SQLite + PostgreSQL
    .venv/bin/python benchmarks/security_limits.py --only chats --no-postgres
Writes benchmarks/results/security_limits.json.
"""
from __future__ import annotations

import argparse
import io
import os
import secrets
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.report import write_json  # noqa: E402
from tests.upload_jobs import finished  # noqa: E402

PG_ADMIN_URL = os.environ.get("TEAMLORE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
ONNX_CACHE = Path(tempfile.gettempdir()) / "teamlore-test-embedder-cache"
DOCS = [("leave.md", b"# Leave\n\nEveryone gets 25 days of annual leave per year, plus public holidays."),
        ("expenses.md", b"# Expenses\n\nSubmit expense reports by the fifth of the following month."),
        ("office.md", b"# Office\n\nThe office opens at eight and the last person out sets the alarm.")]
QUESTIONS = ["How many days of annual leave do I get?", "When are expense reports due?",
             "When does the office open?", "Who sets the alarm?"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, root: Path, database_url: str | None = None, extra_env: dict | None = None):
        self.root, self.port, self.key = root, free_port(), "tl_bench_" + secrets.token_urlsafe(24)
        data = root / "var"
        (data / "models").mkdir(parents=True, exist_ok=True)
        ONNX_CACHE.mkdir(parents=True, exist_ok=True)
        if not (data / "models" / "onnx").exists():
            (data / "models" / "onnx").symlink_to(ONNX_CACHE, target_is_directory=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("TEAMLORE_")}
        env.update({"TEAMLORE_DATA_DIR": str(data), "TEAMLORE_ADMIN_API_KEY": self.key,
                    "TEAMLORE_RATE_LIMIT": "1000000/minute", "TEAMLORE_USER_RATE_LIMIT": "1000000/minute",
                    "TEAMLORE_CONFIG": str(root / "none.yaml"), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                    "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(REPO), **(extra_env or {})})
        if database_url:
            env["TEAMLORE_DATABASE_URL"] = database_url
        self.log = open(root / "api.log", "wb")
        self.proc = subprocess.Popen([sys.executable, "-c", "from app.cli import main; main()", "serve", "--host",
                                      "127.0.0.1", "--port", str(self.port)], cwd=root, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + 240
        while time.time() < deadline:
            try:
                if httpx.get(self.url + "/v1/me", headers=self.auth(), timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            raise SystemExit((root / "api.log").read_text()[-3000:])
        self.ps = psutil.Process(self.proc.pid)

    def auth(self, key: str | None = None) -> dict:
        return {"Authorization": f"Bearer {key or self.key}"}

    def rss_mb(self) -> float:
        return self.ps.memory_info().rss / 2**20

    def upload(self, files, key: str | None = None, timeout: float = 900) -> httpx.Response:
        """POST the files and follow the upload job: its outcome (results, index) once done, or the refusal."""
        with httpx.Client(base_url=self.url, timeout=timeout) as c:
            return finished(c, c.post("/v1/documents", headers=self.auth(key),
                                      files=[("files", (n, d, "application/octet-stream")) for n, d in files]),
                            headers=self.auth(key), timeout=timeout)

    def user(self, name: str) -> str:
        r = httpx.post(self.url + "/v1/keys", headers=self.auth(), json={"name": name, "user": name}, timeout=60)
        r.raise_for_status()
        return r.json()["key"]

    def stop(self) -> None:
        import signal
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGKILL)


class PeakRss:
    def __init__(self, server: Server):
        self.server, self.peak, self._stop = server, server.rss_mb(), threading.Event()
        self.start = self.peak
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.server.rss_mb())
            except psutil.Error:
                return
            time.sleep(0.1)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


def bench_huge_text(server: Server) -> dict:
    server.upload(DOCS)  # warm: embedder loaded, index built
    data = b"lorem ipsum dolor sit amet, consectetur adipiscing elit\n" * (200_000_000 // 56)
    data += b"x" * (200_000_000 - len(data))
    with PeakRss(server) as rss:
        t0 = time.monotonic()
        r = server.upload([("huge.txt", data)])
        took = time.monotonic() - t0
    del data
    res = r.json()["results"][0] if r.status_code == 200 else {"status": r.status_code, "reason": r.text[:300]}
    after = server.upload([("tiny.txt", b"The recycling is collected on Thursdays, by the loading dock door.")],
                          key=server.user("someone-else"))
    return {"bytes": 200_000_000, "http": r.status_code, "result": res, "seconds": round(took, 2),
            "rss_before_mb": round(rss.start), "peak_rss_mb": round(rss.peak),
            "next_upload": after.json()["results"][0]["status"] if after.status_code == 200 else after.status_code}


def bench_chunked(server: Server, total: int = 1536 << 20) -> dict:
    block = b"A" * (1 << 20)
    sent = 0
    disk_before = psutil.disk_usage(tempfile.gettempdir()).used
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
        sock.sendall(b"POST /v1/documents HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + server.key.encode()
                     + b"\r\nContent-Type: multipart/form-data; boundary=B\r\nTransfer-Encoding: chunked\r\n\r\n")
        head = b'--B\r\nContent-Disposition: form-data; name="files"; filename="big.txt"\r\n\r\n'
        sock.sendall(b"%x\r\n%s\r\n" % (len(head), head))
        while sent < total:
            if select.select([sock], [], [], 0)[0]:
                break
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(block), block))
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(block)
        sock.settimeout(30)
        try:
            answer = sock.recv(65536)
        except (ConnectionResetError, socket.timeout):
            answer = b""
    return {"offered_mb": total >> 20, "sent_before_answer_mb": sent >> 20, "status_line": answer.split(b"\r\n")[0]
            .decode(errors="replace"), "seconds": round(time.monotonic() - t0, 2),
            "tmp_disk_growth_mb": round((psutil.disk_usage(tempfile.gettempdir()).used - disk_before) / 2**20)}


def _docx_with(document_xml: bytes) -> bytes:
    import docx
    buf = io.BytesIO()
    docx.Document().save(buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for info in src.infolist():
            zf.writestr(info.filename, document_xml if info.filename == "word/document.xml" else src.read(info.filename))
    return out.getvalue()


def bench_bombs(server: Server) -> dict:
    w = b'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    rows = b"id,name,amount,note,date,owner\n" + b"".join(
        b"%d,customer %d,%d.50,ok,2026-01-%02d,team %d\n" % (i, i, i * 7, i % 28 + 1, i % 9) for i in range(448_500))
    spaces = _docx_with(b'<?xml version="1.0"?><w:document ' + w + b"><w:body><w:p><w:r><w:t>" + b" " * (500 << 20)
                        + b"</w:t></w:r></w:p></w:body></w:document>")
    paragraphs = _docx_with(b'<?xml version="1.0"?><w:document ' + w + b"><w:body>" + b"<w:p/>" * 5_200_000
                            + b"</w:body></w:document>")
    out = {}
    for name, data in (("rows.csv", rows), ("spaces.docx", spaces), ("paragraphs.docx", paragraphs)):
        with PeakRss(server) as rss:
            t0 = time.monotonic()
            r = server.upload([(name, data)])
            took = time.monotonic() - t0
        res = r.json()["results"][0]
        out[name] = {"bytes": len(data), "status": res["status"], "reason": res.get("reason"),
                     "seconds": round(took, 2), "rss_growth_mb": round(rss.peak - rss.start)}
    return out


def _chat(server: Server, key: str, q: str, stream: bool) -> tuple[int, float]:
    body = {"model": "teamlore", "stream": stream, "messages": [{"role": "user", "content": q}]}
    t0 = time.monotonic()
    with httpx.Client(base_url=server.url, headers=server.auth(key), timeout=600) as c:
        if stream:
            with c.stream("POST", "/v1/chat/completions", json=body) as r:
                for _ in r.iter_bytes():
                    pass
                return r.status_code, time.monotonic() - t0
        r = c.post("/v1/chat/completions", json=body)
        return r.status_code, time.monotonic() - t0


def bench_chats(server: Server, n: int) -> dict:
    keys = [server.user(f"burst-{n}-{i}") for i in range(8)]
    bystander = server.user(f"bystander-{n}")
    with ThreadPoolExecutor(n + 1) as pool:
        t0 = time.monotonic()
        futs = [pool.submit(_chat, server, keys[i % 8], QUESTIONS[i % 4], i % 2 == 0) for i in range(n)]
        time.sleep(1.0)
        t1 = time.monotonic()
        me = httpx.get(server.url + "/v1/me", headers=server.auth(bystander), timeout=120).status_code
        me_s = time.monotonic() - t1
        results = [f.result() for f in futs]
        wall = time.monotonic() - t0
    codes: dict[str, int] = {}
    for c, _ in results:
        codes[str(c)] = codes.get(str(c), 0) + 1
    lat = sorted(s for c, s in results if c == 200)
    return {"clients": n, "codes": codes, "5xx": sum(v for k, v in codes.items() if k.startswith("5")),
            "latency_s": {"p50": round(lat[len(lat) // 2], 2) if lat else None,
                          "p95": round(lat[int(len(lat) * 0.95) - 1], 2) if lat else None,
                          "max": round(lat[-1], 2) if lat else None},
            "wall_s": round(wall, 1), "bystander_me": {"status": me, "seconds": round(me_s, 2)}}


def fresh_pg() -> tuple[str, str]:
    from sqlalchemy import create_engine, text
    name = "teamlore_bench_" + secrets.token_hex(4)
    eng = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    eng.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name, name


def drop_pg(name: str) -> None:
    from sqlalchemy import create_engine, text
    eng = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    eng.dispose()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=["huge_text", "chunked", "bombs", "chats"], action="append")
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "security_limits.json"))
    args = ap.parse_args()
    only = set(args.only or ["huge_text", "chunked", "bombs", "chats"])
    report: dict = {"machine": {"cpu": next((ln.split(":", 1)[1].strip() for ln in
                                             open("/proc/cpuinfo") if ln.startswith("model name")), "?"),
                                "cores": os.cpu_count(), "load_at_start": os.getloadavg()}}
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp) / "sqlite")
        try:
            server.upload(DOCS)
            if "huge_text" in only:
                report["huge_text"] = bench_huge_text(server)
                print("huge_text", report["huge_text"], flush=True)
            if "chunked" in only:
                report["chunked"] = bench_chunked(server)
                print("chunked", report["chunked"], flush=True)
            if "bombs" in only:
                report["bombs"] = bench_bombs(server)
                print("bombs", report["bombs"], flush=True)
            if "chats" in only:
                report["chats_sqlite"] = [bench_chats(server, n) for n in (25, 64)]
                print("chats sqlite", report["chats_sqlite"], flush=True)
        finally:
            server.stop()
        if "chats" in only and not args.no_postgres:
            url, name = fresh_pg()
            pg = Server(Path(tmp) / "pg", database_url=url)
            try:
                pg.upload(DOCS)
                report["chats_postgres"] = [bench_chats(pg, n) for n in (25, 64)]
                print("chats postgres", report["chats_postgres"], flush=True)
            finally:
                pg.stop()
                drop_pg(name)
    report["machine"]["load_at_end"] = os.getloadavg()
    write_json(args.out, report)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
