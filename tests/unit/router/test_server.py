"""The router's HTTP/1.1 side on real sockets: keep-alive, limits, streaming, disconnects, drain.

Handlers here are small coroutines standing in for the routes; the server, h11 and the
sockets are the real ones, and the client is httpx.
"""

import asyncio
import socket
from collections.abc import AsyncIterator

import httpx

from hal0d.router.http import Handler, Reply, Request, json_reply
from hal0d.router.server import Server


async def serving(handler: Handler, **options: float) -> tuple[Server, str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    server = Server(
        handler,
        body_limit=int(options.get("body_limit", 1 << 20)),
        idle_timeout=options.get("idle_timeout", 30.0),
    )
    await server.serve([sock])
    return server, f"http://127.0.0.1:{sock.getsockname()[1]}"


async def echo(request: Request) -> Reply:
    return json_reply(200, {"path": request.path, "size": len(request.body)})


async def test_keep_alive_serves_many_requests_on_one_connection() -> None:
    server, url = await serving(echo)
    peers = set()
    async with httpx.AsyncClient(base_url=url) as client:
        for index in range(5):
            answer = await client.post("/v1/x", content=b"a" * index)
            assert answer.json() == {"path": "/v1/x", "size": index}
            stream = answer.extensions["network_stream"]
            peers.add(stream.get_extra_info("socket").getsockname())
    assert len(peers) == 1
    await server.drain(within=1)


async def test_a_body_over_the_limit_gets_413_and_the_handler_never_runs() -> None:
    seen: list[Request] = []

    async def handler(request: Request) -> Reply:
        seen.append(request)
        return await echo(request)

    server, url = await serving(handler, body_limit=1024)
    async with httpx.AsyncClient(base_url=url) as client:
        declared = await client.post("/v1/x", content=b"x" * 2048)

        async def chunked() -> AsyncIterator[bytes]:
            for _ in range(4):
                yield b"y" * 512

        streamed = await client.post("/v1/x", content=chunked())
    assert (declared.status_code, streamed.status_code) == (413, 413)
    assert "body_limit" in declared.json()["error"]["message"]
    assert seen == []
    await server.drain(within=1)


async def test_chunks_reach_the_client_one_by_one_before_the_stream_ends() -> None:
    release = [asyncio.Event() for _ in range(3)]

    async def handler(request: Request) -> Reply:
        async def chunks() -> AsyncIterator[bytes]:
            for index, gate in enumerate(release):
                yield f"data: {index}\n\n".encode()
                await gate.wait()

        return Reply(200, [("content-type", "text/event-stream")], stream=chunks())

    server, url = await serving(handler)
    received = []
    async with (
        httpx.AsyncClient(base_url=url) as client,
        client.stream("POST", "/v1/x", content=b"{}") as answer,
    ):
        async for chunk in answer.aiter_raw():
            received.append(chunk)
            # the next chunk is only produced once this one has arrived
            release[len(received) - 1].set()
    assert received == [b"data: 0\n\n", b"data: 1\n\n", b"data: 2\n\n"]
    await server.drain(within=1)


async def test_a_client_that_goes_away_cancels_the_handler_and_closes_the_stream() -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()
    closed = asyncio.Event()

    async def handler(request: Request) -> Reply:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"data: first\n\n"
            started.set()
            try:
                await asyncio.Event().wait()  # a generation that never ends by itself
            except asyncio.CancelledError:
                cancelled.set()
                raise
            yield b"never"

        async def close() -> None:
            closed.set()

        return Reply(200, [("content-type", "text/event-stream")], stream=chunks(), close=close)

    server, url = await serving(handler)
    async with (
        httpx.AsyncClient(base_url=url) as client,
        client.stream("POST", "/v1/x", content=b"{}") as answer,
    ):
        await started.wait()
        assert answer.status_code == 200
    # leaving the block closed the response before its end: the connection is dropped
    await asyncio.wait_for(asyncio.gather(cancelled.wait(), closed.wait()), 10)
    await server.drain(within=1)


async def test_drain_finishes_the_request_in_flight_and_closes_idle_connections() -> None:
    finish = asyncio.Event()
    arrived = asyncio.Event()

    async def handler(request: Request) -> Reply:
        if request.path == "/slow":
            arrived.set()
            await finish.wait()
        return await echo(request)

    server, url = await serving(handler)
    port = int(url.rsplit(":", 1)[1])
    idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", port)
    idle_writer.write(b"GET /quick HTTP/1.1\r\nHost: x\r\n\r\n")
    head = await idle_reader.readuntil(b"\r\n\r\n")  # answered; now an idle keep-alive
    length = int(head.split(b"content-length: ")[1].split(b"\r\n")[0])
    await idle_reader.readexactly(length)
    async with httpx.AsyncClient(base_url=url) as busy:
        slow = asyncio.ensure_future(busy.get("/slow"))
        await arrived.wait()
        drained = asyncio.ensure_future(server.drain(within=30))
        assert await idle_reader.read() == b""  # the idle connection is closed at once
        assert not drained.done()  # while the request in flight still runs
        finish.set()
        answer = await slow
        await drained
    idle_writer.close()
    assert answer.status_code == 200
    assert answer.headers["connection"] == "close"
    assert server.in_flight == 0


async def test_a_client_expecting_100_continue_gets_it_and_is_served() -> None:
    server, url = await serving(echo)
    port = int(url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /v1/x HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
    )
    assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 \r\n\r\n"
    writer.write(b"body")
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    writer.close()
    await server.drain(within=1)
