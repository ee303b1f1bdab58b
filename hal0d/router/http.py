"""What a handler sees of a request and gives back: plain records, no h11 in them."""

import json
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Request:
    method: str
    target: str
    headers: list[tuple[str, str]]  # names in lower case
    body: bytes = b""

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None  # sent chunk by chunk when set
    close: Callable[[], Awaitable[None]] | None = None  # releases what the stream holds


Handler = Callable[[Request], Awaitable[Reply]]


def json_reply(status: int, value: Any, headers: list[tuple[str, str]] | None = None) -> Reply:
    body = json.dumps(value, separators=(",", ":")).encode()
    return Reply(status, [("content-type", "application/json"), *(headers or [])], body)


@dataclass
class ApiError(Exception):
    """An answer the router gives itself, in OpenAI's error shape, with Retry-After if set."""

    status: int
    message: str
    code: str | None = None
    retry_after: float | None = None
    extra: dict[str, Any] | None = None

    @property
    def kind(self) -> str:
        if self.status == 429:
            return "rate_limit_error"
        return "server_error" if self.status >= 500 else "invalid_request_error"

    def reply(self) -> Reply:
        error: dict[str, Any] = {
            "message": self.message,
            "type": self.kind,
            "param": None,
            "code": self.code,
        }
        error.update(self.extra or {})
        headers = []
        if self.retry_after is not None:  # whole seconds, at least 1
            headers.append(("retry-after", str(max(1, math.ceil(self.retry_after)))))
        return json_reply(self.status, {"error": error}, headers)
