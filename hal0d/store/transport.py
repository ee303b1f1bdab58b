"""An httpx transport for large downloads, on the standard library's http.client.

httpx's own HTTP/1.1 stack moves every 64 KiB of a body through h11's buffers in Python: for a
1 GiB model that is 1.5 s of CPU on this class of machine, where `curl` spends 0.2 s. This
transport hands the body over in 1 MiB reads straight from the socket (one copy), and keeps
httpx's client API, its request building, timeouts and exception types, so the rest of the
pull code does not know the difference. Redirects and proxies stay httpx's business: proxied
URLs are routed by httpx to its own transports (``trust_env``).

One connection per request: a model download is one long response, reuse buys nothing.
"""

import http.client
import ssl
from collections.abc import Iterator

import httpx

READ_BYTES = 1 << 20


class DownloadTransport(httpx.BaseTransport):
    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        self._ssl_context = ssl_context

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        connection = self._connection(request, timeouts.get("connect"))
        try:
            connection.connect()
        except TimeoutError as exc:
            connection.close()
            raise httpx.ConnectTimeout(f"connecting to {request.url.host}: {exc}") from exc
        except OSError as exc:  # includes ssl.SSLError (certificate checks)
            connection.close()
            raise httpx.ConnectError(f"connecting to {request.url.host}: {exc}") from exc
        try:
            if connection.sock is not None:
                connection.sock.settimeout(timeouts.get("read"))
            target = request.url.raw_path.decode("ascii")
            headers = {
                key.decode("latin-1"): value.decode("latin-1") for key, value in request.headers.raw
            }
            connection.request(
                request.method, target, body=request.content or None, headers=headers
            )
            response = connection.getresponse()
        except TimeoutError as exc:
            connection.close()
            raise httpx.ReadTimeout(f"waiting for {request.url}: {exc}") from exc
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise httpx.RemoteProtocolError(f"talking to {request.url.host}: {exc}") from exc
        return httpx.Response(
            status_code=response.status,
            headers=response.getheaders(),
            stream=_Body(connection, response),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": response.reason.encode()},
        )

    def _connection(
        self, request: httpx.Request, timeout: float | None
    ) -> http.client.HTTPConnection:
        host = request.url.host
        port = request.url.port
        if request.url.scheme == "https":
            return http.client.HTTPSConnection(
                host, port, timeout=timeout, context=self._ssl_context
            )
        if request.url.scheme == "http":
            return http.client.HTTPConnection(host, port, timeout=timeout)
        raise httpx.UnsupportedProtocol(f"{request.url.scheme!r} URLs are not supported")


class _Body(httpx.SyncByteStream):
    def __init__(
        self, connection: http.client.HTTPConnection, response: http.client.HTTPResponse
    ) -> None:
        self._connection = connection
        self._response = response

    def __iter__(self) -> Iterator[bytes]:
        while True:
            try:
                chunk = self._response.read(READ_BYTES)
            except TimeoutError as exc:
                raise httpx.ReadTimeout(f"no data for the read timeout: {exc}") from exc
            except (OSError, http.client.HTTPException) as exc:
                raise httpx.ReadError(f"reading the body: {exc}") from exc
            if not chunk:
                break
            yield chunk
        remaining = self._response.length
        if remaining:  # http.client ends quietly on a short body; httpx raises
            raise httpx.RemoteProtocolError(
                f"peer closed connection without sending complete message body ({remaining}"
                " bytes missing)"
            )

    def close(self) -> None:
        self._response.close()
        self._connection.close()
