"""A real HTTP(S) server on loopback that serves files and misbehaves on request.

Each request takes the next `Fault` from the server's script (none left: a copy of
``server.every``, by default a fault-free one); every request is logged with its Range /
If-Range headers, the status sent, the body bytes written to the socket and whether the client
closed a connection the server held open, so tests can assert what the client asked for, what
it reused and when it hung up. Range and If-Range follow RFC 9110 unless a fault says otherwise.
"""

import dataclasses
import hashlib
import select
import socket
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHUNK = 64 << 10


@dataclass
class Fault:
    status: int | None = None  # answer with this status and a short body
    drop_after: int | None = None  # close the connection after this many body bytes
    stall_after: int | None = None  # after this many body bytes, go silent for stall_seconds
    stall_seconds: float = 0.0
    pause_after: int | None = None  # after this many body bytes, wait for `server.resume`
    ignore_range: bool = False  # answer 200 with the whole file whatever was asked
    ignore_if_range: bool = False  # serve the range even if the validator no longer matches
    redirect_to: str | None = None  # answer 302 to this URL
    replace_with: bytes | None = None  # after this request, the file has new content
    trickle: float | None = None  # send the body one byte at a time, this many per second
    silent_after: int | None = None  # after this many body bytes, send nothing until the
    #                                  client closes the connection (logged: client_closed)
    extra: int = 0  # send this many bytes more than the body announced, with its last bytes
    chunked: bool = False  # Transfer-Encoding: chunked instead of a Content-Length
    content_length: str | None = None  # send this Content-Length header value instead


@dataclass
class Resource:
    data: bytes
    etag: str = ""
    last_modified: str = "Mon, 23 Nov 2026 08:00:00 GMT"

    def __post_init__(self) -> None:
        if not self.etag:
            self.etag = '"' + hashlib.sha256(self.data).hexdigest()[:20] + '"'


@dataclass
class RequestLog:
    path: str
    range: str | None
    if_range: str | None
    accept_encoding: str | None
    authorization: str | None = None  # the Authorization header, if the client sent one
    status: int = 0
    body_start: int = 0
    bytes_sent: int = 0
    client_closed: threading.Event = field(default_factory=threading.Event)


@dataclass
class _State:
    files: dict[str, Resource] = field(default_factory=dict)
    faults: deque[Fault] = field(default_factory=deque)
    log: list[RequestLog] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class FaultServer:
    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.state = _State()
        self.resume = threading.Event()
        self.paused = threading.Event()
        self.closing = threading.Event()
        self.silent = threading.Event()  # a request has gone silent (Fault.silent_after)
        self.every = Fault()  # what a request does when the script is empty
        handler = type("Handler", (_Handler,), {"server_state": self.state, "owner": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        if tls is not None:
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        self.scheme = "https" if tls else "http"
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> "FaultServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.resume.set()
        self.closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def serve(self, path: str, data: bytes, **kwargs: Any) -> Resource:
        with self.state.lock:
            self.state.files[path] = resource = Resource(data, **kwargs)
        return resource

    def script(self, *faults: Fault) -> None:
        with self.state.lock:
            self.state.faults.extend(faults)

    @property
    def log(self) -> list[RequestLog]:
        with self.state.lock:
            return list(self.state.log)

    @property
    def bytes_sent(self) -> int:
        with self.state.lock:
            return sum(entry.bytes_sent for entry in self.state.log)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_state: _State
    owner: FaultServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the request log is in server.log

    def do_GET(self) -> None:
        state = self.server_state
        entry = RequestLog(
            self.path,
            self.headers.get("Range"),
            self.headers.get("If-Range"),
            self.headers.get("Accept-Encoding"),
            self.headers.get("Authorization"),
        )
        with state.lock:
            every = dataclasses.replace(self.owner.every)  # a copy: faults are consumed
            fault = state.faults.popleft() if state.faults else every
            resource = state.files.get(self.path)
            state.log.append(entry)
        try:
            self._answer(entry, fault, resource)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.close_connection = True
        finally:
            if fault.replace_with is not None and resource is not None:
                self.owner.serve(self.path, fault.replace_with)

    def _answer(self, entry: RequestLog, fault: Fault, resource: Resource | None) -> None:
        if fault.redirect_to:
            self._head_only(entry, 302, {"Location": fault.redirect_to})
            return
        if fault.status is not None:
            self._head_only(entry, fault.status, {})
            return
        if resource is None:
            self._head_only(entry, 404, {})
            return
        start, status = self._range(resource, fault)
        size = len(resource.data)
        if status == 416:
            self._head_only(entry, 416, {"Content-Range": f"bytes */{size}"})
            return
        headers = {
            "ETag": resource.etag,
            "Last-Modified": resource.last_modified,
            "Accept-Ranges": "bytes",
            "Content-Length": fault.content_length or str(size - start),
        }
        if fault.chunked:
            del headers["Content-Length"]
            headers["Transfer-Encoding"] = "chunked"
        if status == 206:
            headers["Content-Range"] = f"bytes {start}-{size - 1}/{size}"
        entry.status, entry.body_start = status, start
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        body = memoryview(resource.data)[start:]
        if fault.chunked:
            self._chunked(entry, bytes(body) + bytes(fault.extra))
        elif fault.trickle is not None:
            self._trickle(entry, body, fault.trickle)
        elif fault.extra:
            self._body(entry, body[:-1024], fault)  # the tail and the excess in one write
            self.wfile.write(bytes(body[-1024:]) + bytes(fault.extra))
            entry.bytes_sent = len(body) + fault.extra
        else:
            self._body(entry, body, fault)
        if fault.silent_after is not None:
            self._stay_silent(entry)

    def _trickle(self, entry: RequestLog, body: memoryview, rate: float) -> None:
        for index in range(len(body)):
            self.wfile.write(body[index : index + 1])
            with self.server_state.lock:
                entry.bytes_sent = index + 1
            if self.owner.closing.wait(1 / rate):
                return

    def _chunked(self, entry: RequestLog, body: bytes) -> None:
        for offset in range(0, len(body), CHUNK):
            piece = body[offset : offset + CHUNK]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            with self.server_state.lock:
                entry.bytes_sent = offset + len(piece)
        self.wfile.write(b"0\r\n\r\n")

    def _stay_silent(self, entry: RequestLog) -> None:
        """Hold the connection open, sending nothing, until the client closes it."""
        self.wfile.flush()
        self.owner.silent.set()
        while not self.owner.closing.is_set():
            readable, _, _ = select.select([self.connection], [], [], 0.05)
            if readable:
                try:
                    data = self.connection.recv(1)
                except (OSError, ssl.SSLError):
                    data = b""
                if not data:
                    entry.client_closed.set()
                    break
        self.close_connection = True

    def _range(self, resource: Resource, fault: Fault) -> tuple[int, int]:
        requested = self.headers.get("Range")
        if not requested or fault.ignore_range:
            return 0, 200
        if_range = self.headers.get("If-Range")
        if (
            if_range
            and not fault.ignore_if_range
            and if_range not in (resource.etag, resource.last_modified)
        ):
            return 0, 200
        start = int(requested.removeprefix("bytes=").split("-", 1)[0])
        if start >= len(resource.data):
            return 0, 416
        return start, 206

    def _body(self, entry: RequestLog, body: memoryview, fault: Fault) -> None:
        sent = 0
        if fault.silent_after is not None:
            body = body[: fault.silent_after]
        while sent < len(body):
            if fault.drop_after is not None and sent >= fault.drop_after:
                self._drop()
                return
            if fault.stall_after is not None and sent >= fault.stall_after:
                time.sleep(fault.stall_seconds)
                fault.stall_after = None
            if fault.pause_after is not None and sent >= fault.pause_after:
                self.owner.paused.set()
                self.owner.resume.wait()
                fault.pause_after = None
            limit = len(body)
            for mark in (fault.drop_after, fault.stall_after, fault.pause_after):
                if mark is not None and mark > sent:
                    limit = min(limit, mark)
            piece = body[sent : min(sent + CHUNK, limit)]
            self.wfile.write(piece)
            sent += len(piece)
            with self.server_state.lock:
                entry.bytes_sent = sent
        self.wfile.flush()

    def _drop(self) -> None:
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True

    def _head_only(self, entry: RequestLog, status: int, headers: dict[str, str]) -> None:
        entry.status = status
        body = f"{status}\n".encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
