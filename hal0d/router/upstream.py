"""Forwarding a request to a slot's llama-server with httpx, the answer streamed back.

One pooled `httpx.AsyncClient` keeps connections to the slots alive. The answer is passed on
as it arrives (``aiter_raw``: no decoding, no buffering), so server-sent events reach the
client chunk by chunk. Closing the reply before its end closes the upstream connection, which
makes llama-server stop generating. There is no read timeout: a long generation is healthy,
and a hung llama-server is aborted by its unit's watchdog, which ends the connection.

The slot's own API key, if it has one, replaces whatever the client sent (see `SlotKeys`).
"""

import logging
import tomllib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from hal0d.errors import Hal0Error
from hal0d.router.http import ApiError, Reply, Request
from hal0d.slots.envfile import read_api_key

log = logging.getLogger(__name__)

# What a client may tell llama-server; everything else (its own keys, cookies) stays here.
FORWARDED_HEADERS = ("content-type", "accept", "user-agent")
DROPPED_REPLY_HEADERS = ("connection", "keep-alive", "transfer-encoding", "server", "date")


@dataclass(frozen=True)
class _Known:
    slot_stamp: tuple[int, int]
    key_path: Path | None
    key_stamp: tuple[int, int] | None
    key: str | None


class SlotKeys:
    """The API key of each slot, read like hal0d reads it: ``api_key_file`` in the slot file.

    Keys never travel over the bus. The router runs with group ``hal0`` as a supplementary
    group (hal0-router.service), so it reads the same ``root:hal0 0640`` key files hal0d does.
    Both files are read again when their modification time or size changes.
    """

    def __init__(self, config_dir: Path) -> None:
        self._slots_dir = config_dir / "slots"
        self._known: dict[str, _Known] = {}

    def key(self, slot: str) -> str | None:
        slot_file = self._slots_dir / f"{slot}.toml"
        try:
            slot_stamp = _stamp(slot_file)
            known = self._known.get(slot)
            if (
                known is not None
                and known.slot_stamp == slot_stamp
                and (known.key_path is None or _stamp(known.key_path) == known.key_stamp)
            ):
                return known.key
            known = _read(slot_file, slot_stamp)
        except (OSError, ValueError, tomllib.TOMLDecodeError, Hal0Error) as error:
            log.warning("slot %s: cannot read its API key: %s; forwarding without one", slot, error)
            self._known.pop(slot, None)
            return None
        self._known[slot] = known
        return known.key


def _read(slot_file: Path, slot_stamp: tuple[int, int]) -> _Known:
    table = tomllib.loads(slot_file.read_text(encoding="utf-8"))
    value = table.get("api_key_file")
    path = Path(value) if isinstance(value, str) and value.startswith("/") else None
    if path is None:
        return _Known(slot_stamp, None, None, None)
    key_stamp = _stamp(path)
    return _Known(slot_stamp, path, key_stamp, read_api_key(path))


def _stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


class Upstream:
    def __init__(self, keys: SlotKeys, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._keys = keys
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(connect=10.0, read=None, write=60.0, pool=None),
            # llama-server (cpp-httplib) closes a keep-alive connection idle for 5 s: drop ours
            # first, so a request is never written onto a connection the slot is closing.
            limits=httpx.Limits(
                max_connections=None, max_keepalive_connections=64, keepalive_expiry=4.0
            ),
            transport=transport,
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def forward(self, endpoint: str, slot: str, request: Request) -> Reply:
        headers = [(k, v) for k, v in request.headers if k in FORWARDED_HEADERS]
        headers.append(("accept-encoding", "identity"))
        key = self._keys.key(slot)
        if key:
            headers.append(("authorization", f"Bearer {key}"))
        upstream = self._client.build_request(
            request.method, endpoint + request.target, headers=headers, content=request.body
        )
        try:
            response = await self._client.send(upstream, stream=True)
        except httpx.HTTPError as error:
            log.warning("slot %s at %s did not answer: %s", slot, endpoint, error)
            return ApiError(
                503,
                f"slot {slot!r} did not answer ({type(error).__name__}); it may be restarting",
                "slot_unreachable",
                retry_after=2,
            ).reply()
        reply_headers = [
            (k.decode("latin-1").lower(), v.decode("latin-1"))
            for k, v in response.headers.raw
            if k.decode("latin-1").lower() not in DROPPED_REPLY_HEADERS
        ]
        return Reply(
            response.status_code,
            reply_headers,
            stream=_chunks(response),
            close=response.aclose,
        )


async def _chunks(response: httpx.Response) -> AsyncIterator[bytes]:
    async for chunk in response.aiter_raw():
        yield chunk
