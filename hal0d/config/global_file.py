"""/etc/hal0/hal0.toml: settings for the daemon as a whole."""

import ssl
import stat
from pathlib import Path
from urllib.parse import urlsplit

from hal0d.config import llama_server
from hal0d.config.durations import format_duration
from hal0d.config.model import LOG_LEVELS, CatalogSource, GlobalConfig
from hal0d.config.problems import shown
from hal0d.config.reader import TableReader
from hal0d.config.sizes import VALID_FORMS as SIZE_FORMS
from hal0d.config.sizes import parse_size
from hal0d.config.token import TokenFileError, read_token
from hal0d.modelref import VERIFY_MODES, url_problem

DEFAULTS = GlobalConfig()
MAX_RETRIES = 100


def read_global(reader: TableReader) -> GlobalConfig:
    d = DEFAULTS
    config = GlobalConfig(
        llama_server=reader.path("llama_server", None) or llama_server.search(),
        models_dir=reader.path("models_dir", d.models_dir) or d.models_dir,
        state_dir=reader.path("state_dir", d.state_dir) or d.state_dir,
        keys_dir=reader.path("keys_dir", d.keys_dir) or d.keys_dir,
        port_range=_port_range(reader),
        catalogs=tuple(_catalog(table) for table in reader.tables("catalogs")),
        idle_after=reader.duration("idle_after", d.idle_after, may_be_zero=False) or d.idle_after,
        unload_after=reader.duration(
            "unload_after", d.unload_after, may_be_zero=True, may_be_never=True
        ),
        log_level=reader.string("log_level", d.log_level, choices=LOG_LEVELS),
        quarantine_max_bytes=_size(reader, "quarantine_max", d.quarantine_max_bytes),
        partial_max_age=_duration_or(reader, "partial_max_age", d.partial_max_age, zero=True),
        stall_timeout=_duration_or(reader, "stall_timeout", d.stall_timeout, zero=False),
        speed_limit=_size(reader, "speed_limit", d.speed_limit),
        speed_time=_duration_or(reader, "speed_time", d.speed_time, zero=False),
        retries=reader.integer("retries", d.retries, minimum=0, maximum=MAX_RETRIES) or 0,
        backoff_initial=_duration_or(reader, "backoff_initial", d.backoff_initial, zero=True),
        backoff_max=_duration_or(reader, "backoff_max", d.backoff_max, zero=True),
        connect_timeout=_duration_or(reader, "connect_timeout", d.connect_timeout, zero=False),
        ca_file=_ca_file(reader),
        hf_endpoint=_hf_endpoint(reader),
        hf_token_file=_hf_token_file(reader),
    )
    _check_names_unique(reader, config.catalogs)
    _check_backoff(reader, config)
    reader.finish()
    return config


def _port_range(reader: TableReader) -> tuple[int, int]:
    raw = reader.raw("port_range")
    if raw is None:
        return DEFAULTS.port_range
    if (
        not isinstance(raw, list)
        or len(raw) != 2
        or not all(isinstance(p, int) and not isinstance(p, bool) for p in raw)
        or not 1 <= raw[0] <= raw[1] <= 65535
    ):
        reader.error(
            "port_range",
            f"{shown(raw)} is not valid; use an array of two ports [FIRST, LAST] "
            "with 1 <= FIRST <= LAST <= 65535",
        )
        return DEFAULTS.port_range
    return (raw[0], raw[1])


def _catalog(table: TableReader) -> CatalogSource:
    name = table.string("name", "")
    if not name:
        table.error("name", "missing; every catalog needs a name")
    allow_http = table.boolean("allow_http", False)
    url = table.string("url", "")
    if not url:
        table.error("url", "missing; use an https URL or the absolute path of a catalog file")
    elif not url.startswith("/"):
        check_url(table, "url", url, allow_http)
    verify = table.string("verify", "signature", choices=VERIFY_MODES)
    if verify == "no":
        table.warning("verify", '"no": models listed in this catalog are not verified at all')
    ca_file = _ca_file(table)
    table.finish()
    return CatalogSource(name=name, url=url, verify=verify, allow_http=allow_http, ca_file=ca_file)


def _ca_file(reader: TableReader) -> Path | None:
    """An absolute path to a PEM file of CA certificates that parses as one."""
    path = reader.path("ca_file", None)
    if path is None:
        return None
    try:
        ssl.create_default_context().load_verify_locations(cafile=str(path))
    except ssl.SSLError:  # an OSError too: first
        reader.error(
            "ca_file",
            f"{str(path)!r} holds no PEM certificate; "
            "use a file of one or more -----BEGIN CERTIFICATE----- blocks",
        )
        return None
    except OSError as error:
        reader.error(
            "ca_file",
            f"{str(path)!r} cannot be read ({error.strerror or error}); "
            "use a readable PEM file of CA certificates",
        )
        return None
    return path


def _hf_endpoint(reader: TableReader) -> str:
    """An https origin (and optional path prefix) with no query; kept without a trailing /."""
    endpoint = reader.string("hf_endpoint", DEFAULTS.hf_endpoint)
    if not check_url(reader, "hf_endpoint", endpoint, allow_http=False):
        return DEFAULTS.hf_endpoint
    parts = urlsplit(endpoint)
    if parts.query or parts.fragment or parts.username or parts.password:
        reader.error(
            "hf_endpoint",
            f"{endpoint!r} has a query, fragment or credentials; use https://HOST[/PATH] "
            "(the token goes in hf_token_file)",
        )
        return DEFAULTS.hf_endpoint
    return endpoint.rstrip("/")


def _hf_token_file(reader: TableReader) -> Path | None:
    path = reader.path("hf_token_file", None)
    if path is None:
        return None
    try:
        read_token(path)
    except TokenFileError as error:
        reader.error("hf_token_file", f"{str(path)!r} {error}")
        return None
    if path.stat().st_mode & stat.S_IROTH:
        reader.warning(
            "hf_token_file",
            f"{str(path)!r} is readable by every user; "
            "make it root:_hal0 0640 so only hal0d and root can read the token",
        )
    return path


def _check_backoff(reader: TableReader, config: GlobalConfig) -> None:
    if config.backoff_max < config.backoff_initial:
        reader.error(
            "backoff_max",
            f"{format_duration(config.backoff_max)!r} is shorter than backoff_initial "
            f"({format_duration(config.backoff_initial)!r}); use a duration at least as long",
        )


def check_url(reader: TableReader, key: str, url: str, allow_http: bool) -> bool:
    problem = url_problem(url, allow_http)
    if problem is not None:
        reader.error(key, problem)
    return problem is None


def _check_names_unique(reader: TableReader, catalogs: tuple[CatalogSource, ...]) -> None:
    seen: set[str] = set()
    for index, catalog in enumerate(catalogs):
        if catalog.name and catalog.name in seen:
            reader.error(
                f"catalogs[{index}].name", f"{catalog.name!r} is used by two catalogs; rename one"
            )
        seen.add(catalog.name)


def _size(reader: TableReader, key: str, default: int) -> int:
    raw = reader.raw(key)
    if raw is None:
        return default
    size = raw if isinstance(raw, int) and not isinstance(raw, bool) else None
    if isinstance(raw, str):
        size = parse_size(raw)
    if size is None:
        reader.error(key, f"{shown(raw)} is not a size; use {SIZE_FORMS}")
        return default
    return size


def _duration_or(reader: TableReader, key: str, default: float, *, zero: bool) -> float:
    seconds = reader.duration(key, default, may_be_zero=zero)
    return default if seconds is None else seconds
