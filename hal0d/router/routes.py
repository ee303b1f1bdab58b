"""The routes: which slot a request is for, and the answers the router gives itself.

    POST /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/rerank
         → the slot named by the body's "model" (a slot name or one of its aliases)
    GET  /v1/models  → every slot and alias, with the slot's state as an extra field
    GET  /health     → the router answers; says whether hal0d is reachable

Errors have OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``.
"""

import json
import logging
from typing import Any

from hal0d.router.cache import SlotCache
from hal0d.router.gate import Gates
from hal0d.router.http import ApiError, Reply, Request, json_reply
from hal0d.router.keys import ClientKeys, presented_key
from hal0d.router.upstream import Upstream

log = logging.getLogger(__name__)

FORWARDED = ("/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/rerank")
OWNER = "hal0"


class Routes:
    def __init__(
        self, cache: SlotCache, gates: Gates, upstream: Upstream, keys: ClientKeys
    ) -> None:
        self._cache = cache
        self._gates = gates
        self._upstream = upstream
        self._keys = keys

    async def handle(self, request: Request) -> Reply:
        try:
            return await self._route(request)
        except ApiError as error:
            return error.reply()

    async def _route(self, request: Request) -> Reply:
        path = request.path
        if path == "/health":
            return self._only(request, "GET") or self._health()
        key = presented_key(request.header("authorization"), request.header("x-api-key"))
        if not self._keys.allows(key):
            raise ApiError(
                401,
                "a valid API key is required (Authorization: Bearer KEY or x-api-key: KEY)"
                if key is None
                else "the API key is not valid",
                code="invalid_api_key",
            )
        if path == "/v1/models":
            return self._only(request, "GET") or self._models()
        if path in FORWARDED:
            return self._only(request, "POST") or await self._forward(request)
        raise ApiError(
            404,
            f"no route {path}; the router serves {', '.join(FORWARDED)}, /v1/models and /health",
            code="not_found",
        )

    def _only(self, request: Request, method: str) -> Reply | None:
        if request.method == method:
            return None
        reply = ApiError(405, f"{request.path} takes {method}, not {request.method}").reply()
        reply.headers.append(("allow", method))
        return reply

    def _health(self) -> Reply:
        slots = self._cache.slots()
        return json_reply(
            200,
            {
                "status": "ok",
                "hal0d": "reachable" if self._cache.hal0d_present else "unreachable",
                "slots": len(slots),
                "ready": sum(1 for s in slots.values() if s.ready),
            },
        )

    def _models(self) -> Reply:
        data: list[dict[str, Any]] = []
        for name, info in sorted(self._cache.slots().items()):
            for model in (name, *info.aliases):
                data.append(
                    {
                        "id": model,
                        "object": "model",
                        "created": 0,
                        "owned_by": OWNER,
                        "slot": name,
                        "state": info.state,
                    }
                )
        return json_reply(200, {"object": "list", "data": data})

    async def _forward(self, request: Request) -> Reply:
        model = _model_of(request.body)
        if model is None:
            raise ApiError(
                400, 'the request body must be a JSON object with a "model" string', "model_missing"
            )
        info = self._cache.resolve(model)
        if info is None:
            known = sorted(
                m for name, slot in self._cache.slots().items() for m in (name, *slot.aliases)
            )
            raise ApiError(
                404,
                f"the model {model!r} does not exist; available: {', '.join(known) or 'none'}",
                "model_not_found",
                extra={"param": "model"},
            )
        ready = await self._gates.ready(info.name)
        return await self._upstream.forward(ready.endpoint, ready.name, request)


def _model_of(body: bytes) -> str | None:
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    model = value.get("model") if isinstance(value, dict) else None
    return model if isinstance(model, str) else None
