"""A local, scriptable OpenAI-compatible server for tests (stdlib only).

    from tests.fakes.openai_server import FakeOpenAIServer

    with FakeOpenAIServer(lambda body: '{"score": 1}', faults=["500", "429:0.2"]) as server:
        cfg = LLMClientConfig(base_url=server.base_url, model="fake")   # http://127.0.0.1:PORT/v1
        ...                                                             # no key needed: loopback
        assert len(server.requests) == 3

Endpoints: POST /v1/chat/completions (the standard `chat.completion` JSON), GET /v1/models. It listens on
127.0.0.1 on a free port, in a background thread, one thread per connection (keep-alive HTTP/1.1), so
many requests are served at once; a subprocess (e.g. launch.py) can reach `base_url` too.

`responder(body) -> str | None` gives the assistant content for a request body (None = null content);
if it raises, the server answers 500. The default responder answers "ok".

`faults` is a queue consumed one entry per chat request, before normal answers (`add_faults` appends):
    "NNN" / "NNN:S"  HTTP status NNN with an OpenAI-style error body; "429" sends Retry-After: 0.1 by
                     default, "429:S" / "503:S" / "NNN:S" send Retry-After: S
    "timeout[:S]"    sleep S seconds (default 5.0) before answering normally: longer than the client's timeout
    "drop"           close the connection without any response
    "nonjson"        200, Content-Type application/json, a body that is not JSON
    "html"           200, Content-Type text/html, an HTML page (e.g. a captive proxy)
    "slow:S"         answer normally after S seconds
    "empty"          a normal completion whose content is null
    "ok"             answer normally (to interleave faults)
`delay_s` delays every normal answer (not error faults).

Recorded (thread-safe): `requests` (bodies of chat requests, in arrival order), `headers_seen` (their
headers, lower-cased names), `arrivals` (time.monotonic() of each), `max_in_flight`, `served`.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable

Responder = Callable[[dict], "str | None"]
DEFAULT_RETRY_AFTER_429 = 0.1
DEFAULT_TIMEOUT_SLEEP = 5.0


FAULT_KINDS = ("timeout", "drop", "nonjson", "html", "slow", "empty", "ok")


def _default_responder(body: dict) -> str:
    return "ok"


def check_fault(fault: str) -> str:
    """`fault` if it is a known fault spec, else ValueError (caught when scripting, not mid-request)."""
    kind, sep, arg = fault.partition(":")
    if not (kind in FAULT_KINDS or (kind.isdigit() and len(kind) == 3)):
        raise ValueError(f"unknown fault {fault!r}; known: NNN[:S], {', '.join(FAULT_KINDS)}")
    if sep:
        float(arg)
    return fault


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512  # listen backlog: a burst of parallel connections must not be refused
    fake: "FakeOpenAIServer"

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return  # a client that gave up (timeout test) or reset a keep-alive connection: expected
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        return

    # ------------------------------------------------------------------------------------ responses
    def _send(self, status: int, body: bytes, content_type: str = "application/json",
              headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except OSError:  # the client gave up (timeout): nothing to do
            self.close_connection = True

    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(obj).encode("utf-8"), headers=headers)

    def _error(self, status: int, message: str, retry_after: float | None = None) -> None:
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else None
        err = {"error": {"message": message, "type": "fake_error", "param": None, "code": str(status)}}
        self._send_json(status, err, headers)

    # ------------------------------------------------------------------------------------ routes
    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            fake = self.server.fake
            self._send_json(200, {"object": "list", "data": [
                {"id": fake.model, "object": "model", "created": 0, "owned_by": "fake"}]})
        else:
            self._error(404, f"no route GET {self.path}")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if len(raw) < length:  # the client died mid-send (a killed run): no request reached the server
            self.close_connection = True
            return
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._error(404, f"no route POST {self.path}")
            return
        if not raw:  # no body: not a chat request (a real server answers 400 too), never recorded as one
            self._error(400, "empty request body")
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._error(400, "request body is not JSON")
            return
        fake = self.server.fake
        fault = fake._record(body, {k.lower(): v for k, v in self.headers.items()})
        try:
            self._serve(fake, body, fault)
        finally:
            fake._done()

    def _serve(self, fake: "FakeOpenAIServer", body: dict, fault: str | None) -> None:
        kind, _, arg = (fault or "ok").partition(":")
        value = float(arg) if arg else None
        if kind.isdigit():
            status = int(kind)
            after = value if value is not None else (DEFAULT_RETRY_AFTER_429 if status == 429 else None)
            self._error(status, f"injected fault {fault}", after)
            return
        if kind == "drop":
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if kind == "nonjson":
            self._send(200, b"this is {not json", "application/json")
            return
        if kind == "html":
            self._send(200, b"<html><body>Proxy login required</body></html>", "text/html")
            return
        delay = fake.delay_s
        if kind == "timeout":
            delay = value if value is not None else DEFAULT_TIMEOUT_SLEEP
        elif kind == "slow":
            delay += value or 0.0
        if delay > 0:
            time.sleep(delay)
        if kind == "empty":
            content = None
        else:
            try:
                content = fake.responder(body)
            except Exception as exc:  # a broken responder is a server error, visible to the client
                self._error(500, f"responder raised {type(exc).__name__}: {exc}")
                return
        self._send_json(200, fake.completion(body, content))


class FakeOpenAIServer:
    """See the module docstring. Use as a context manager (or `start()` / `stop()`)."""

    def __init__(self, responder: Responder | None = None, delay_s: float = 0.0,
                 faults: Iterable[str] | None = None, model: str = "fake-model") -> None:
        self.responder: Responder = responder or _default_responder
        self.delay_s = float(delay_s)
        self.model = model
        self._faults: deque[str] = deque(check_fault(f) for f in (faults or []))
        self._lock = threading.Lock()
        self.requests: list[dict] = []
        self.headers_seen: list[dict[str, str]] = []
        self.arrivals: list[float] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.served = 0
        self._counter = 0
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------------------------ lifecycle
    def start(self) -> "FakeOpenAIServer":
        httpd = _Server(("127.0.0.1", 0), _Handler)
        httpd.fake = self
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-openai", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "FakeOpenAIServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # ------------------------------------------------------------------------------------ scripting
    def add_faults(self, *faults: str) -> None:
        with self._lock:
            self._faults.extend(check_fault(f) for f in faults)

    @property
    def faults_left(self) -> int:
        with self._lock:
            return len(self._faults)

    def completion(self, body: dict, content: str | None) -> dict:
        """The standard chat.completion object for `content` (n copies if the body asks for n)."""
        with self._lock:
            self._counter += 1
            n = self._counter
        choices = [{"index": i, "message": {"role": "assistant", "content": content}, "finish_reason": "stop",
                    "logprobs": None} for i in range(max(1, int(body.get("n") or 1)))]
        tokens = len(content.split()) if content else 0
        return {
            "id": f"chatcmpl-fake-{n}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", self.model), "choices": choices,
            "usage": {"prompt_tokens": 1, "completion_tokens": tokens, "total_tokens": 1 + tokens},
        }

    # ------------------------------------------------------------------------------------ bookkeeping
    def _record(self, body: dict, headers: dict[str, str]) -> str | None:
        with self._lock:
            self.requests.append(body)
            self.headers_seen.append(headers)
            self.arrivals.append(time.monotonic())
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            return self._faults.popleft() if self._faults else None

    def _done(self) -> None:
        with self._lock:
            self.in_flight -= 1
            self.served += 1
