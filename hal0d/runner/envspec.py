"""The contract of /run/hal0/slots/NAME.env between hal0d (writer) and the slot runner (reader).

Standard library only: the runner imports this at every slot start.

Every key is on an allow-list. Plain values are restricted to a character set that systemd's
EnvironmentFile= parser takes literally (no quotes, backslashes, `$`, `#`, `;`, spaces or
control characters), so no value can continue a line, expand a variable or start a second
assignment. Free-form data — the extra llama-server arguments — travels in one variable as
URL-safe base64 of a JSON list of strings, which the runner decodes and checks again.
"""

import base64
import binascii
import json
import re
from collections.abc import Mapping

SLOT = "HAL0_SLOT"
LLAMA_SERVER = "HAL0_LLAMA_SERVER"
MODEL_LABEL = "HAL0_MODEL_LABEL"
DRAIN_SEC = "HAL0_DRAIN_SEC"
GRACE_SEC = "HAL0_GRACE_SEC"
EXTRA_ARGS = "HAL0_EXTRA_ARGS"
MODEL = "LLAMA_ARG_MODEL"
PORT = "LLAMA_ARG_PORT"
CTX_SIZE = "LLAMA_ARG_CTX_SIZE"
THREADS = "LLAMA_ARG_THREADS"
GPU_LAYERS = "LLAMA_ARG_N_GPU_LAYERS"
PARALLEL = "LLAMA_ARG_N_PARALLEL"
ALIAS = "LLAMA_ARG_ALIAS"
API_KEY = "LLAMA_API_KEY"

REQUIRED = (SLOT, LLAMA_SERVER, MODEL, PORT)
ALLOWED = (
    SLOT,
    LLAMA_SERVER,
    MODEL_LABEL,
    DRAIN_SEC,
    GRACE_SEC,
    EXTRA_ARGS,
    MODEL,
    PORT,
    CTX_SIZE,
    THREADS,
    GPU_LAYERS,
    PARALLEL,
    ALIAS,
    API_KEY,
)
# Keys that llama-server reads from the environment itself; the runner passes only these on.
PASSED_TO_SERVER = (MODEL, PORT, CTX_SIZE, THREADS, GPU_LAYERS, PARALLEL, ALIAS, API_KEY)
INTEGER_KEYS = (PORT, CTX_SIZE, THREADS, GPU_LAYERS, PARALLEL)
SECONDS_KEYS = (DRAIN_SEC, GRACE_SEC)

SAFE_VALUE = re.compile(r"[A-Za-z0-9._/:@+,=~-]*")
SAFE_VALUE_TEXT = "letters, digits and . _ / : @ + , = ~ -"
_INTEGER = re.compile(r"[0-9]{1,9}")
_SECONDS = re.compile(r"[0-9]{1,6}(\.[0-9]{1,3})?")
_MAX_EXTRA_ARGS = 256
_MAX_ARG_LENGTH = 4096

# llama-server options the runner sets itself, and what a slot file sets instead; an extra
# argument may not override them (that would break the loopback-only endpoint or point the
# server at an unverified file). check-config refuses the same set.
RESERVED_OPTIONS = {
    "--host": "hal0d serves slots on 127.0.0.1 only",
    "--port": "use the slot's port key",
    "-m": "use the slot's model or url key",
    "--model": "use the slot's model or url key",
    "-mu": "use the slot's url key",
    "--model-url": "use the slot's url key",
    "-hf": "use the slot's url key",
    "-hfr": "use the slot's url key",
    "--hf-repo": "use the slot's url key",
    "-hff": "use the slot's url key",
    "--hf-file": "use the slot's url key",
    "-dr": "use the slot's url key",
    "--docker-repo": "use the slot's url key",
}


class EnvSpecError(ValueError):
    """A slot environment that does not follow this contract."""


def is_safe_value(value: str) -> bool:
    return SAFE_VALUE.fullmatch(value) is not None


def encode_args(args: list[str] | tuple[str, ...]) -> str:
    check_args(args)
    raw = json.dumps(list(args), ensure_ascii=True, separators=(",", ":")).encode("ascii")
    return base64.urlsafe_b64encode(raw).decode("ascii")


def decode_args(encoded: str) -> list[str]:
    try:
        raw = base64.urlsafe_b64decode(encoded.encode("ascii"))
        args = json.loads(raw.decode("ascii"))
    except (binascii.Error, ValueError, UnicodeError) as error:
        raise EnvSpecError(f"{EXTRA_ARGS} is not base64 of a JSON list: {error}") from error
    if not isinstance(args, list) or not all(isinstance(arg, str) for arg in args):
        raise EnvSpecError(f"{EXTRA_ARGS} must decode to a JSON list of strings")
    check_args(args)
    return args


def check_args(args: list[str] | tuple[str, ...]) -> None:
    if len(args) > _MAX_EXTRA_ARGS:
        raise EnvSpecError(f"too many extra arguments ({len(args)}, at most {_MAX_EXTRA_ARGS})")
    for arg in args:
        if len(arg) > _MAX_ARG_LENGTH:
            raise EnvSpecError(f"extra argument longer than {_MAX_ARG_LENGTH} characters")
        if any(ord(char) < 0x20 or ord(char) == 0x7F for char in arg):
            raise EnvSpecError(f"extra argument {arg[:40]!r} contains a control character")
        if arg.split("=", 1)[0] in RESERVED_OPTIONS:
            raise EnvSpecError(f"extra argument {arg!r} is set by hal0d and cannot be overridden")


def check_value(key: str, value: str) -> None:
    """Raise EnvSpecError unless ``value`` is acceptable for ``key``."""
    if key not in ALLOWED:
        raise EnvSpecError(f"{key!r} is not a slot environment key")
    if not is_safe_value(value):
        raise EnvSpecError(f"{key}={value[:60]!r}: values may only contain {SAFE_VALUE_TEXT}")
    if key in INTEGER_KEYS and not _INTEGER.fullmatch(value):
        raise EnvSpecError(f"{key}={value!r} is not a non-negative integer")
    if key in SECONDS_KEYS and not _SECONDS.fullmatch(value):
        raise EnvSpecError(f"{key}={value!r} is not a number of seconds")
    if key == PORT and not 1 <= int(value) <= 65535:
        raise EnvSpecError(f"{key}={value!r} is not a TCP port")
    if key == EXTRA_ARGS:
        decode_args(value)


def check_environment(values: Mapping[str, str]) -> None:
    for key in REQUIRED:
        if not values.get(key):
            raise EnvSpecError(f"{key} is missing")
    for key, value in values.items():
        check_value(key, value)
