"""An httpx transport for large downloads, on the standard library's http.client.

httpx's own HTTP/1.1 stack moves every 64 KiB of a body through h11's buffers in Python: for a
1 GiB model that is 1.5 s of CPU on this class of machine, where `curl` spends 0.2 s. This
transport reads the body straight from the socket in blocks of up to 1 MiB, and keeps httpx's
client API, its request building and exception types, so the rest of the pull code does not
know the difference. Redirects and proxies stay httpx's business: proxied URLs are routed by
httpx to its own transports (``trust_env``).

Once the request is sent, the socket is non-blocking and every wait is a ``poll`` bounded by
the request's `SpeedRule` (``hal0d.pace`` extension): a read returns whatever has arrived, so
bytes received before a stall are never lost, a trickle is measured as it comes, and no read
ever waits for a full block. Sockets are watched by the request's `Abort` (``hal0d.abort``),
whose ``shutdown`` ends any blocked connect, handshake or read.

One connection per request, never reused: a model download is one long response, and a
connection whose server sent more than it announced must not carry anything else.
"""

import http.client
import io
import select
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import httpx

from hal0d.config.sizes import format_size
from hal0d.store.abort import Abort
from hal0d.store.errors import OverlongBodyError
from hal0d.store.pace import Pace, SpeedRule

READ_BYTES = 1 << 20
PACE_EXTENSION = "hal0d.pace"
ABORT_EXTENSION = "hal0d.abort"


class DownloadTransport(httpx.BaseTransport):
    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        self._ssl_context = ssl_context

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        abort: Abort = request.extensions.get(ABORT_EXTENSION) or Abort()
        rule: SpeedRule = request.extensions.get(PACE_EXTENSION) or SpeedRule(
            speed_limit=0, speed_time=1.0, stall_timeout=timeouts.get("read") or 60.0
        )
        link = _Link(abort)
        connection = self._connection(request, timeouts.get("connect"), link)
        try:
            connection.connect()
        except TimeoutError as exc:
            link.close(connection)
            raise httpx.ConnectTimeout(f"connecting to {request.url.host}: {exc}") from exc
        except OSError as exc:  # includes ssl.SSLError (certificate checks)
            link.close(connection)
            raise httpx.ConnectError(f"connecting to {request.url.host}: {exc}") from exc
        try:
            target = request.url.raw_path.decode("ascii")
            headers = {
                key.decode("latin-1"): value.decode("latin-1") for key, value in request.headers.raw
            }
            connection.request(
                request.method, target, body=request.content or None, headers=headers
            )
            link.pace = Pace(rule, str(request.url))
            response = connection.getresponse()
        except TimeoutError as exc:
            link.close(connection)
            raise httpx.ReadTimeout(f"waiting for {request.url}: {exc}") from exc
        except (OSError, http.client.HTTPException) as exc:
            link.close(connection)
            raise httpx.RemoteProtocolError(f"talking to {request.url.host}: {exc}") from exc
        except BaseException:
            link.close(connection)
            raise
        return httpx.Response(
            status_code=response.status,
            headers=response.getheaders(),
            stream=_Body(link, connection, response, str(request.url)),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": response.reason.encode()},
        )

    def _connection(
        self, request: httpx.Request, timeout: float | None, link: "_Link"
    ) -> http.client.HTTPConnection:
        host = request.url.host
        port = request.url.port
        connection: http.client.HTTPConnection
        if request.url.scheme == "https":
            connection = http.client.HTTPSConnection(
                host, port, timeout=timeout, context=self._ssl_context
            )
        elif request.url.scheme == "http":
            connection = http.client.HTTPConnection(host, port, timeout=timeout)
        else:
            raise httpx.UnsupportedProtocol(f"{request.url.scheme!r} URLs are not supported")
        connection._create_connection = link.open_socket  # type: ignore[attr-defined]
        connection.response_class = partial(_response, link)  # type: ignore[assignment]
        return connection


class _Link:
    """One request's connection as the abort and the pace rule see it."""

    def __init__(self, abort: Abort) -> None:
        self.abort = abort
        self.pace: Pace | None = None
        self.receiver: _Receiver | None = None
        self._forget: Callable[[], None] | None = None

    def open_socket(
        self, address: tuple[str, int], timeout: float | None, source: Any = None
    ) -> socket.socket:
        """socket.create_connection, with each socket watched by the abort from the start."""
        error: OSError | None = None
        host, port = address
        addresses = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
        for family, kind, proto, _, sockaddr in addresses:
            sock = socket.socket(family, kind, proto)
            forget = self.abort.watch(sock)
            try:
                sock.settimeout(timeout)
                if source:
                    sock.bind(source)
                sock.connect(sockaddr)
                if self.abort.is_set():
                    raise ConnectionAbortedError("the transfer was cancelled")
            except OSError as exc:
                forget()
                sock.close()
                error = exc
                continue
            self._forget = forget
            return sock
        raise error or OSError(f"no address found for {host}")

    def close(self, connection: http.client.HTTPConnection) -> None:
        connection.close()
        if self._forget is not None:
            self._forget()
            self._forget = None


def _response(link: _Link, sock: socket.socket, **kwargs: Any) -> http.client.HTTPResponse:
    """The response class http.client instantiates: it reads through a `_Receiver`."""
    assert link.pace is not None  # noqa: S101 - set once the request is sent
    link.receiver = _Receiver(sock, link.pace, link.abort)
    return http.client.HTTPResponse(_SocketView(link.receiver), **kwargs)  # type: ignore[arg-type]


class _SocketView:
    """All http.client asks of a socket is ``makefile("rb")``."""

    def __init__(self, receiver: "_Receiver") -> None:
        self._receiver = receiver

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(self._receiver)


# Like socket.makefile(): the socket stays open while its reader is, even after http.client
# closes the connection (it does at once for a response that ends with the connection).
def _hold(sock: socket.socket) -> None:
    sock._io_refs += 1  # type: ignore[attr-defined]


def _release(sock: socket.socket) -> None:
    sock._decref_socketios()  # type: ignore[attr-defined]


class _Receiver(io.RawIOBase):
    """The socket, non-blocking, read as far as data has arrived; waits are bounded by the
    pace rule and woken by the abort's shutdown."""

    def __init__(self, sock: socket.socket, pace: Pace, abort: Abort) -> None:
        super().__init__()
        self._sock = sock
        self._pace = pace
        self._abort = abort
        self._poll = select.poll()
        self._poll.register(sock, select.POLLIN)
        self.no_wait = False  # return None instead of waiting (a peek at what is there)
        sock.settimeout(0.0)
        _hold(sock)

    def close(self) -> None:
        if not self.closed:
            _release(self._sock)
        super().close()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        view = memoryview(buffer).cast("B")
        received = 0
        while received < len(view):
            try:
                count = self._sock.recv_into(view[received:])
            except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                if received:
                    break
                if self.no_wait:
                    return None
                self._wait()
                continue
            if not count:  # end of stream
                break
            received += count
        if received:
            self._pace.add(received, time.monotonic())
        return received

    def _wait(self) -> None:
        while True:
            if self._abort.is_set():
                raise ConnectionAbortedError("the transfer was cancelled")
            now = time.monotonic()
            self._pace.check(now)
            wait_ms = max(1, int((self._pace.next_check(now) - now) * 1000) + 1)
            if self._poll.poll(wait_ms):
                return


class _Body(httpx.SyncByteStream):
    def __init__(
        self,
        link: _Link,
        connection: http.client.HTTPConnection,
        response: http.client.HTTPResponse,
        url: str,
    ) -> None:
        self._link = link
        self._connection = connection
        self._response = response
        self._url = url
        self._declared = response.length  # None: chunked or until the connection closes

    def __iter__(self) -> Iterator[bytes]:
        response = self._response
        while response.length != 0:
            try:
                chunk = response.read1(READ_BYTES)
            except (OSError, http.client.HTTPException) as exc:
                raise httpx.ReadError(f"reading the body: {exc}") from exc
            if not chunk:
                break
            yield chunk
        remaining = response.length
        if remaining:  # http.client ends quietly on a short body; httpx raises
            raise httpx.RemoteProtocolError(
                f"peer closed connection without sending complete message body ({remaining}"
                " bytes missing)"
            )
        if self._declared is not None and self._more_waiting():
            raise OverlongBodyError(
                f"{self._url} sent more than the {format_size(self._declared)} its"
                " Content-Length announced; refused, and the connection closed"
            )

    def _more_waiting(self) -> bool:
        """Whether bytes past the declared body have already arrived (without waiting)."""
        receiver, stream = self._link.receiver, self._response.fp
        if receiver is None or stream is None:
            return False
        receiver.no_wait = True
        try:
            return bool(stream.peek(1))
        except OSError:
            return False
        finally:
            receiver.no_wait = False

    def close(self) -> None:
        self._response.close()
        self._link.close(self._connection)
