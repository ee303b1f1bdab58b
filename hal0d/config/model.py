"""The parsed configuration: frozen dataclasses, valid by construction of `load_config`."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from hal0d.config import llama_server

LOG_LEVELS = ("debug", "info", "notice", "warning", "err", "crit", "alert", "emerg")


@dataclass(frozen=True)
class CatalogSource:
    name: str
    url: str  # https URL, or an absolute path of a local catalog file
    verify: str  # one of hal0d.modelref.VERIFY_MODES; "signature" unless the admin says otherwise
    allow_http: bool = False
    ca_file: Path | None = None  # None: the global ca_file


@dataclass(frozen=True)
class GlobalConfig:
    llama_server: Path = llama_server.DEFAULT  # read_global searches when the key is unset
    models_dir: Path = Path("/var/lib/hal0/models")
    state_dir: Path = Path("/var/lib/hal0")
    keys_dir: Path = Path("/etc/hal0/keys")
    port_range: tuple[int, int] = (8100, 8199)
    catalogs: tuple[CatalogSource, ...] = ()
    idle_after: float = 600.0
    unload_after: float | None = 3600.0  # None: never unload
    log_level: str = "info"
    quarantine_max_bytes: int = 8 << 30
    partial_max_age: float = 7 * 86400.0
    # Pulls: see docs/store.md ("Slow and broken links") for how these work together.
    stall_timeout: float = 60.0
    speed_limit: int = 1024  # bytes per second, averaged over speed_time; 0 turns it off
    speed_time: float = 30.0
    retries: int = 5
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    connect_timeout: float = 30.0
    ca_file: Path | None = None  # CA certificates trusted in addition to the system's
    # Hugging Face: where hf:// sources resolve, and the token sent to that origin alone.
    hf_endpoint: str = "https://huggingface.co"
    hf_token_file: Path | None = None


@dataclass(frozen=True)
class ModelRef:
    """Either a catalog entry (``catalog_name``) or a direct ``url`` with its checksum."""

    catalog_name: str | None = None
    url: str | None = None
    sha256: str | None = None
    size: int | None = None
    verify: str = "checksum"
    allow_http: bool = False

    @property
    def label(self) -> str:
        return self.catalog_name or self.url or ""


@dataclass(frozen=True)
class SlotConfig:
    name: str
    file: Path
    model: ModelRef
    port: int | None = None  # None: assigned from the port range
    context: int | None = None
    threads: int | None = None
    gpu_layers: int | None = None
    parallel: int | None = None
    extra_args: tuple[str, ...] = ()
    idle_after: float = 600.0
    unload_after: float | None = 3600.0
    autostart: bool = False
    api_key_file: Path | None = None
    aliases: tuple[str, ...] = ()  # more model names the router answers to for this slot


@dataclass(frozen=True)
class Config:
    config_dir: Path
    global_: GlobalConfig = field(default_factory=GlobalConfig)
    slots: Mapping[str, SlotConfig] = field(default_factory=dict)
