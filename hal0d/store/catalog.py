"""Catalogs: signed TOML lists of models, with anti-rollback.

    serial = 42                      # raise it on every change
    [models.qwen2-0_5b-q4]
    url = "https://example.org/qwen2-0_5b-q4_k_m.gguf"
    sha256 = "…64 hex digits…"
    size = 397807936                 # bytes (optional but recommended)
    description = "Qwen2 0.5B instruct, Q4_K_M"   # any other string keys are kept as metadata

Verify modes (as systemd-importd): ``signature`` needs ``<catalog>.minisig`` by a key in the
keys dir; ``checksum`` skips the signature but every model needs a sha256; ``no`` skips both
(must be set explicitly). In every mode a catalog whose serial is lower than the highest one
accepted before, or equal to it with different content, is refused: the state dir remembers
the serial and content hash of the last accepted catalog of each name, and keeps a copy of it
(with its signature) in ``<state_dir>/catalogs/<name>/accepted.toml``, which hal0d starts
from without going to the network (`load_accepted`), verified again like any other.

Blocking (reads files): call from a worker thread.
"""

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError

from hal0d.atomic import write_atomically
from hal0d.errors import IntegrityError
from hal0d.modelref import SHA256_PATTERN, VERIFY_MODES
from hal0d.store import minisign
from hal0d.store.download import PullRequest
from hal0d.store.layout import read_json, write_json_atomic

CATALOG_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")
KNOWN_KEYS = frozenset({"url", "sha256", "size"})


class CatalogError(IntegrityError):
    """A catalog was refused; the message names it and says why."""


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    url: str
    sha256: str | None
    size: int | None
    metadata: Mapping[str, str] = field(default_factory=dict)

    def to_request(
        self, *, allow_http: bool = False, verify: str = "checksum", slot: str = ""
    ) -> PullRequest:
        return PullRequest(
            url=self.url,
            sha256=self.sha256,
            size=self.size,
            allow_http=allow_http,
            verify=verify,
            name=self.name,
            slot=slot,
        )


@dataclass(frozen=True)
class Catalog:
    name: str
    serial: int
    entries: Mapping[str, CatalogEntry]
    verify: str
    signed_by: str | None = None  # key id, when verified by signature
    trusted_comment: str | None = None


def load_catalog(
    path: Path, keys_dir: Path, state_dir: Path, verify: str, *, name: str | None = None
) -> Catalog:
    """Read, verify and accept a catalog; refusals raise CatalogError naming it."""
    checked = _check(path, keys_dir, state_dir, verify, name)
    catalog = checked.catalog
    _remember_serial(catalog.name, catalog.serial, checked.data, state_dir)
    _keep_accepted(path, checked.data, checked.sig_text, state_dir, catalog.name)
    return catalog


def check_catalog(
    path: Path, keys_dir: Path, state_dir: Path, verify: str, *, name: str | None = None
) -> Catalog:
    """Every check of `load_catalog`, the serial against the last accepted one included, but
    nothing is written under the state dir (`hal0ctl catalog verify` must never write there)."""
    return _check(path, keys_dir, state_dir, verify, name).catalog


@dataclass(frozen=True)
class _Checked:
    catalog: Catalog
    data: bytes
    sig_text: str | None


def _check(path: Path, keys_dir: Path, state_dir: Path, verify: str, name: str | None) -> _Checked:
    name = name or path.name.removesuffix(".toml")
    label = f"catalog {name} ({path})"
    if not CATALOG_NAME.fullmatch(name):
        raise CatalogError(f"{label}: {name!r} is not a valid catalog name")
    if verify not in VERIFY_MODES:
        raise CatalogError(f"{label}: verify mode {verify!r} is not one of signature, checksum, no")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CatalogError(f"{label}: cannot read it: {exc.strerror}") from None
    signed_by = comment = sig_text = None
    if verify == "signature":
        sig_text, signed_by, comment = _check_signature(data, path, keys_dir, label)
    serial, entries = _parse(data, label, require_sha256=verify != "no")
    _check_rollback(name, serial, data, state_dir, label)
    catalog = Catalog(name, serial, MappingProxyType(entries), verify, signed_by, comment)
    return _Checked(catalog, data, sig_text)


def accepted_path(state_dir: Path, name: str) -> Path:
    return state_dir / "catalogs" / name / "accepted.toml"


def load_accepted(name: str, keys_dir: Path, state_dir: Path, verify: str) -> Catalog | None:
    """The copy of catalog ``name`` accepted last, verified again; None if there is none."""
    path = accepted_path(state_dir, name)
    if not path.exists():
        return None
    return load_catalog(path, keys_dir, state_dir, verify, name=name)


def _keep_accepted(
    path: Path, data: bytes, sig_text: str | None, state_dir: Path, name: str
) -> None:
    target = accepted_path(state_dir, name)
    if path == target:
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    if sig_text is not None:
        write_atomically(target.with_name(target.name + ".minisig"), sig_text.encode("utf-8"))
    write_atomically(target, data)


def _check_signature(data: bytes, path: Path, keys_dir: Path, label: str) -> tuple[str, str, str]:
    """The signature's text, the signing key's id and the trusted comment."""
    sig_path = path.with_name(path.name + ".minisig")
    try:
        sig_text = sig_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(
            f"{label}: verify = signature but {sig_path} cannot be read ({exc.strerror})"
        ) from None
    try:
        signature = minisign.parse_signature(sig_text, str(sig_path))
        trusted = minisign.load_trusted_keys(keys_dir)
        key = minisign.verify(data, signature, trusted)
    except minisign.SignatureError as exc:
        raise CatalogError(f"{label}: signature refused: {exc}") from None
    return sig_text, key.key_id_hex, signature.trusted_comment


def _parse(data: bytes, label: str, require_sha256: bool) -> tuple[int, dict[str, CatalogEntry]]:
    try:
        document = tomlkit.parse(data.decode("utf-8")).unwrap()
    except (UnicodeDecodeError, TOMLKitError) as exc:
        raise CatalogError(f"{label}: not valid TOML: {exc}") from None
    serial = document.get("serial")
    if not isinstance(serial, int) or isinstance(serial, bool) or serial < 0:
        raise CatalogError(f"{label}: serial must be a non-negative integer, got {serial!r}")
    models = document.get("models", {})
    if not isinstance(models, dict):
        raise CatalogError(f"{label}: [models] must be a table of tables")
    entries = {}
    for model_name, table in models.items():
        entries[model_name] = _entry(
            model_name, table, f"{label}: model {model_name!r}", require_sha256
        )
    return serial, entries


def _entry(name: str, table: Any, label: str, require_sha256: bool) -> CatalogEntry:
    if not MODEL_NAME.fullmatch(name):
        raise CatalogError(f"{label}: not a valid model name (letters, digits, . _ + -)")
    if not isinstance(table, dict):
        raise CatalogError(f"{label}: must be a table")
    url = table.get("url")
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise CatalogError(f"{label}: url must be an https:// (or http://) URL")
    sha256 = table.get("sha256")
    if sha256 is None and require_sha256:
        raise CatalogError(f"{label}: sha256 is required")
    if sha256 is not None and (
        not isinstance(sha256, str) or not SHA256_PATTERN.fullmatch(sha256.lower())
    ):
        raise CatalogError(f"{label}: sha256 must be 64 hex digits")
    size = table.get("size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise CatalogError(f"{label}: size must be a non-negative integer (bytes)")
    metadata = {k: str(v) for k, v in table.items() if k not in KNOWN_KEYS}
    return CatalogEntry(
        name, url, sha256.lower() if sha256 else None, size, MappingProxyType(metadata)
    )


def _serial_path(state_dir: Path, name: str) -> Path:
    return state_dir / "catalogs" / f"{name}.json"


def _check_rollback(name: str, serial: int, data: bytes, state_dir: Path, label: str) -> None:
    digest = hashlib.sha256(data).hexdigest()
    seen = read_json(_serial_path(state_dir, name)) or {}
    highest = seen.get("serial")
    if isinstance(highest, int):
        if serial < highest:
            raise CatalogError(
                f"{label}: serial {serial} is lower than {highest}, already accepted;"
                " refusing a rollback to an older catalog"
            )
        if serial == highest and seen.get("sha256") != digest:
            raise CatalogError(
                f"{label}: serial {serial} was already accepted with different content;"
                " a changed catalog needs a higher serial"
            )


def _remember_serial(name: str, serial: int, data: bytes, state_dir: Path) -> None:
    state_path = _serial_path(state_dir, name)
    if (read_json(state_path) or {}).get("serial") == serial:
        return
    state_path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(state_path, {"serial": serial, "sha256": hashlib.sha256(data).hexdigest()})
