"""HTTP/1.1 server side on h11 and asyncio streams: keep-alive, body limit, disconnects, drain.

h11 does the protocol (parsing, framing, keep-alive rules); this module moves bytes. While a
request is being handled — waiting for its slot or streaming the answer — the connection is
watched: a client that goes away cancels the handler, which closes the upstream request, so
llama-server stops generating.

Drain (SIGTERM): stop accepting (systemd keeps the listening socket; new connections wait in
its backlog for the next instance), close keep-alive connections that sit idle between
requests, let requests in flight finish for at most the drain timeout, answering them with
``Connection: close``. A connection accepted but whose first request has not arrived yet is
still served: its client did nothing wrong.
"""

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterable
from typing import Any

import h11

from hal0d.router.http import ApiError, Handler, Reply, Request

log = logging.getLogger(__name__)

READ_SIZE = 65536
HEADER_LIMIT = 64 * 1024
FIRST_REQUEST_TIMEOUT = 30.0  # seconds a new connection may take to send its request head


class Connection:
    def __init__(
        self,
        server: "Server",
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self._server = server
        self._reader = reader
        self._writer = writer
        self._h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=HEADER_LIMIT)
        self.served = 0
        self.idle = True  # between requests, nothing of the next one received
        self.waiting_for_request = False

    def close_if_idle(self) -> None:
        """Drain: a keep-alive connection with no request under way is closed now."""
        partial = self._h11.trailing_data[0]
        if self.idle and self.served and not partial and self.waiting_for_request:
            self._reader.feed_eof()  # the pending read returns b"": closed like any EOF

    async def run(self) -> None:
        try:
            while await self._one_cycle():
                self._h11.start_next_cycle()
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        except h11.RemoteProtocolError as error:
            await self._bad_request(error)
        finally:
            self._writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self._writer.wait_closed()

    async def _one_cycle(self) -> bool:
        """Serve one request; False when the connection should close."""
        self.idle = True
        event = await self._next_event(first=True)
        self.idle = False
        if not isinstance(event, h11.Request):
            return False  # ConnectionClosed, or the client went quiet
        request = Request(
            method=event.method.decode("ascii", "replace"),
            target=event.target.decode("ascii", "replace"),
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in event.headers],
        )
        too_big = self._too_big(request)
        if too_big is not None:
            await self._send_reply(too_big, close=True)
            return False
        if self._h11.client_is_waiting_for_100_continue:  # curl does for large bodies
            self._send(h11.InformationalResponse(status_code=100, headers=[]))
        body = await self._read_body()
        if body is None:
            await self._send_reply(self._server.too_large(), close=True)
            return False
        request.body = body
        self.served += 1
        await self._handle(request)
        return self._h11.our_state is h11.DONE and self._h11.their_state is h11.DONE

    def _too_big(self, request: Request) -> Reply | None:
        length = request.header("content-length")
        if length is not None and length.isdigit() and int(length) > self._server.body_limit:
            return self._server.too_large()
        return None

    async def _next_event(self, *, first: bool = False) -> object:
        while True:
            event = self._h11.next_event()
            if event is not h11.NEED_DATA:
                return event
            data = await self._read(first=first and self._h11.their_state is h11.IDLE)
            self._h11.receive_data(data)

    async def _read(self, *, first: bool) -> bytes:
        if not first:
            return await self._reader.read(READ_SIZE)
        if self._server.draining and self.served:
            return b""
        timeout = self._server.idle_timeout if self.served else FIRST_REQUEST_TIMEOUT
        self.waiting_for_request = True
        try:
            async with asyncio.timeout(timeout):
                return await self._reader.read(READ_SIZE)
        except TimeoutError:
            return b""  # idle too long: close
        finally:
            self.waiting_for_request = False

    async def _read_body(self) -> bytes | None:
        parts: list[bytes] = []
        size = 0
        while True:
            event = await self._next_event()
            if isinstance(event, h11.Data):
                size += len(event.data)
                if size > self._server.body_limit:
                    return None
                parts.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return b"".join(parts)
            else:
                raise ConnectionError("connection closed in the middle of a request body")

    async def _handle(self, request: Request) -> None:
        """Run the handler and send its reply, cancelling both if the client goes away."""
        loop = asyncio.get_running_loop()
        work = loop.create_task(self._respond(request))
        watch = loop.create_task(self._watch_client())
        try:
            done, _ = await asyncio.wait({work, watch}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            watch.cancel()
        if work not in done:
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await work
            raise ConnectionError("client went away")
        with contextlib.suppress(asyncio.CancelledError):
            await watch
        work.result()

    async def _watch_client(self) -> None:
        """Return when the client closes its side; keep any bytes it sends for later."""
        while True:
            data = await self._reader.read(READ_SIZE)
            if not data:
                return
            self._h11.receive_data(data)  # pipelined: h11 buffers it for the next cycle

    async def _respond(self, request: Request) -> None:
        try:
            reply = await self._server.handler(request)
        except Exception:
            log.exception("request %s %s failed", request.method, request.path)
            reply = ApiError(500, "internal error of hal0-router; see its journal").reply()
        try:
            await self._send_reply(reply, close=self._server.draining)
        except (ConnectionError, asyncio.CancelledError):
            raise
        except Exception as error:  # the upstream broke off mid-answer: cut this one too
            log.warning("%s %s: answer broken off: %s", request.method, request.path, error)
            raise ConnectionError(str(error)) from error

    async def _send_reply(self, reply: Reply, *, close: bool) -> None:
        """Send ``reply``; what is ready at once goes out in one write (head and body, or head
        and first chunk): small separate segments cost a delayed-ACK round trip (~40 ms)."""
        headers = _clean_headers(reply.headers)
        if close:
            headers.append(("connection", "close"))
        try:
            if reply.stream is None:
                if not any(k == "content-length" for k, _ in headers):
                    headers.append(("content-length", str(len(reply.body))))
                self._send(
                    h11.Response(status_code=reply.status, headers=headers),
                    h11.Data(data=reply.body),
                    h11.EndOfMessage(),
                )
            else:
                pending = [h11.Response(status_code=reply.status, headers=headers)]
                async for chunk in reply.stream:
                    if chunk:
                        self._send(*pending, h11.Data(data=chunk))
                        pending = []
                        await self._writer.drain()
                self._send(*pending, h11.EndOfMessage())
            await self._writer.drain()
        finally:
            if reply.close is not None:
                await reply.close()

    def _send(self, *events: h11.Event) -> None:
        data = b"".join(self._h11.send(event) or b"" for event in events)
        if data:
            self._writer.write(data)

    async def _bad_request(self, error: h11.RemoteProtocolError) -> None:
        if self._h11.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        reply = ApiError(error.error_status_hint, f"bad request: {error}").reply()
        with contextlib.suppress(ConnectionError, h11.LocalProtocolError):
            await self._send_reply(reply, close=True)


def _clean_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    hop_by_hop = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}
    return [(k, v) for k, v in headers if k.lower() not in hop_by_hop]


class Server:
    def __init__(self, handler: Handler, *, body_limit: int, idle_timeout: float) -> None:
        self.handler = handler
        self.body_limit = body_limit
        self.idle_timeout = idle_timeout
        self.draining = False
        self._servers: list[asyncio.AbstractServer] = []
        self._connections: set[Connection] = set()
        self._tasks: set[asyncio.Task[Any]] = set()

    def too_large(self) -> Reply:
        return ApiError(
            413, f"request body larger than the router's body_limit ({self.body_limit} bytes)"
        ).reply()

    async def serve(self, sockets: list[socket.socket]) -> None:
        for sock in sockets:
            sock.setblocking(False)
            server = await asyncio.start_server(self._accept, sock=sock, limit=READ_SIZE)
            self._servers.append(server)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = Connection(self, reader, writer)
        self._connections.add(connection)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await connection.run()
        finally:
            self._connections.discard(connection)
            if task is not None:
                self._tasks.discard(task)

    @property
    def in_flight(self) -> int:
        return sum(1 for c in self._connections if not c.idle)

    async def drain(self, within: float) -> None:
        """Stop accepting, close idle connections, give the rest ``within`` seconds."""
        self.draining = True
        for server in self._servers:
            server.close()  # our copy of the fd only: systemd keeps listening
        for connection in list(self._connections):
            connection.close_if_idle()
        tasks = set(self._tasks)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=within)
            if pending:
                log.warning("drain timeout: cutting %d connection(s) off", len(pending))
                for task in pending:
                    task.cancel()
                await asyncio.wait(pending, timeout=5)
        log.info("drained")
