"""/etc/hal0/slots/NAME.toml: one slot, its model and how llama-server runs it."""

import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from hal0d.config.global_file import check_url
from hal0d.config.model import GlobalConfig, ModelRef, SlotConfig
from hal0d.config.reader import TableReader
from hal0d.modelref import CATALOG_ENTRY_PATTERN, SHA256_FORM, SHA256_PATTERN, VERIFY_MODES
from hal0d.runner.envspec import RESERVED_OPTIONS

# A model name clients send ("gpt-4o-mini", "qwen2.5:7b", "org/model"); no spaces or quotes.
ALIAS_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._:/+@-]{0,127}"
_ALIAS = re.compile(ALIAS_PATTERN)

# The TOML type of each key `read_slot` reads (durations and paths are strings): what
# `hal0ctl slot set KEY=VALUE` makes of VALUE. A test keeps it equal to what read_slot asks.
STRING, INTEGER, BOOLEAN, STRINGS = "string", "integer", "boolean", "list of strings"
SLOT_KEYS: Mapping[str, str] = MappingProxyType(
    {
        "model": STRING,
        "url": STRING,
        "sha256": STRING,
        "size": INTEGER,
        "allow_http": BOOLEAN,
        "verify": STRING,
        "port": INTEGER,
        "context": INTEGER,
        "threads": INTEGER,
        "gpu_layers": INTEGER,
        "parallel": INTEGER,
        "extra_args": STRINGS,
        "idle_after": STRING,
        "unload_after": STRING,
        "autostart": BOOLEAN,
        "api_key_file": STRING,
        "aliases": STRINGS,
    }
)


def read_slot(name: str, file: Path, reader: TableReader, defaults: GlobalConfig) -> SlotConfig:
    slot = SlotConfig(
        name=name,
        file=file,
        model=_model(reader),
        port=reader.integer("port", None, minimum=1, maximum=65535),
        context=reader.integer("context", None, minimum=1, maximum=1 << 24),
        threads=reader.integer("threads", None, minimum=1, maximum=1024),
        gpu_layers=reader.integer("gpu_layers", None, minimum=0, maximum=100_000),
        parallel=reader.integer("parallel", None, minimum=1, maximum=256),
        extra_args=_extra_args(reader),
        idle_after=reader.duration("idle_after", defaults.idle_after, may_be_zero=False)
        or defaults.idle_after,
        unload_after=reader.duration(
            "unload_after", defaults.unload_after, may_be_zero=True, may_be_never=True
        ),
        autostart=reader.boolean("autostart", False),
        api_key_file=reader.path("api_key_file", None),
        aliases=_aliases(reader, name),
    )
    reader.finish()
    return slot


def _model(reader: TableReader) -> ModelRef:
    catalog_name = reader.optional_string("model")
    url = reader.optional_string("url")
    sha256 = reader.optional_string("sha256")
    size = reader.integer("size", None, minimum=1, maximum=1 << 50)
    allow_http = reader.boolean("allow_http", False)
    verify = reader.string("verify", "checksum", choices=VERIFY_MODES)
    # Presence, not validity: a malformed url was reported already and is not "missing".
    if reader.has("model") and reader.has("url"):
        reader.error("url", "a slot names its model either by catalog (model) or by url, not both")
    elif not reader.has("model") and not reader.has("url"):
        reader.error(
            "model",
            'missing; set model = "NAME" (a catalog entry) or url, sha256 and size of the file',
        )
    if catalog_name is not None and not CATALOG_ENTRY_PATTERN.fullmatch(catalog_name):
        reader.error("model", f"{catalog_name!r} is not a catalog entry name")
    if sha256 is not None:
        sha256 = sha256.lower()
        if not SHA256_PATTERN.fullmatch(sha256):
            reader.error("sha256", f"{sha256!r} is not a SHA-256; use {SHA256_FORM}")
    if url is not None:
        check_url(reader, "url", url, allow_http)
        if verify == "signature":
            reader.error("verify", '"signature" applies to catalogs; use "checksum" for a url')
        elif verify == "no":
            reader.warning("verify", '"no": the downloaded model is not verified at all')
        elif sha256 is None:
            reader.error(
                "sha256",
                "missing; a url needs the file's sha256 "
                '(or verify = "no" to accept an unverified file)',
            )
    return ModelRef(
        catalog_name=catalog_name,
        url=url,
        sha256=sha256,
        size=size,
        verify=verify,
        allow_http=allow_http,
    )


def _extra_args(reader: TableReader) -> tuple[str, ...]:
    args = reader.string_list("extra_args")
    for index, arg in enumerate(args):
        option = arg.split("=", 1)[0]
        if option in RESERVED_OPTIONS:
            reader.error(
                f"extra_args[{index}]",
                f"{arg!r} is set by hal0d ({RESERVED_OPTIONS[option]}); remove it",
            )
    return args


def _aliases(reader: TableReader, name: str) -> tuple[str, ...]:
    aliases = reader.string_list("aliases")
    seen: set[str] = set()
    for index, alias in enumerate(aliases):
        key = f"aliases[{index}]"
        if not _ALIAS.fullmatch(alias):
            reader.error(key, f"{alias!r} is not a model name; aliases match {ALIAS_PATTERN}")
        elif alias == name:
            reader.error(key, f"{alias!r} is the slot's own name, which the router knows already")
        elif alias in seen:
            reader.error(key, f"{alias!r} is listed twice")
        seen.add(alias)
    return aliases
