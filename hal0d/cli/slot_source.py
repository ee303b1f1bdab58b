"""`slot add`'s SOURCE: a catalog entry, an https URL with its digest, or a Hugging Face file.

Each becomes the model keys of a slot file: ``model = "ENTRY"`` for a catalog entry (the
catalog stays the authority, so its updates apply), ``url``/``sha256``/``size`` for the
others. A Hugging Face file is resolved here, once, to the commit the revision names now and
the digest and size the hub gives for it: trust on first use, after which every pull is
verified like any other.

A catalog entry is checked against the catalogs hal0d holds (`ResolveModel`); with hal0d
stopped, or for a catalog it does not hold yet, hal0ctl checks the catalogs itself as hal0d
would — a local file as it is, a remote one fetched into a temporary directory, else the copy
hal0d accepted last. Nothing is ever written under hal0d's state or models directory (a file
root made there once kept hal0d from starting).
"""

import datetime
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hal0d.cli import huggingface
from hal0d.cli.exits import EX_USAGE, CliError
from hal0d.config import CatalogSource, GlobalConfig
from hal0d.config.sizes import format_size
from hal0d.config.token import TokenFileError, read_token
from hal0d.store.catalog import Catalog, CatalogError, accepted_path, check_catalog
from hal0d.store.http import ssl_context
from hal0d.store.settings import settings_from_config
from hal0d.store.sources import fetch_into


@dataclass(frozen=True)
class ModelKeys:
    """The slot file's model keys (in order), the comment above them, and what to tell."""

    keys: dict[str, Any]
    summary: str
    comment: tuple[str, ...] = field(default=())


def is_url(source: str) -> bool:
    return source.startswith(("https://", "http://"))


def from_url(url: str, sha256: str | None, size: int | None) -> ModelKeys:
    if sha256 is None or size is None:
        raise CliError(
            f"{url}: a URL needs the file's --sha256 and --size (the model is verified "
            "against them on every pull)",
            EX_USAGE,
        )
    return ModelKeys(
        {"url": url, "sha256": sha256, "size": size},
        f"model {url}, sha256 {sha256}, {format_size(size)}",
    )


def from_catalog(name: str, entry: tuple[str, str, int] | None) -> ModelKeys:
    """``entry`` is (url, sha256, size) as a catalog gives it ("" and 0 where it does not)."""
    if entry is None:
        return ModelKeys({"model": name}, f"model {name} (catalog entry)")
    url, sha256, size = entry
    facts = [f"sha256 {sha256}" if sha256 else "no sha256 given"]
    facts.append(format_size(size) if size else "size not given")
    return ModelKeys({"model": name}, f"model {name}: {url}, {', '.join(facts)}")


def catalog_entry_read_only(name: str, config: GlobalConfig) -> tuple[str, str, int]:
    """``name`` ("ENTRY" or "CATALOG/ENTRY") in the configured catalogs, each checked as
    hal0d checks it — a local file as it is, a remote one fetched now into a temporary
    directory (else the copy hal0d accepted last) — without writing under hal0d's state
    directory. (url, sha256, size); CliError naming the catalogs searched if none lists it."""
    wanted_catalog, _, entry_name = name.rpartition("/")
    reasons = []
    for source in config.catalogs:
        if wanted_catalog and wanted_catalog != source.name:
            continue
        try:
            catalog = _read_only(source, config)
        except (CatalogError, OSError) as error:
            reasons.append(str(error))
            continue
        entry = catalog.entries.get(entry_name) if catalog is not None else None
        if entry is not None:
            return entry.url, entry.sha256 or "", entry.size or 0
        reasons.append(f"{source.name}: no entry {entry_name!r}")
    searched = ", ".join(source.name for source in config.catalogs) or "none configured"
    raise CliError(
        f"no catalog lists model {name!r} (catalogs searched: {searched})"
        + "".join(f"; {reason}" for reason in reasons)
        + "; check the name against the catalog (`hal0ctl catalog verify FILE` lists one)"
    )


def _read_only(source: CatalogSource, config: GlobalConfig) -> Catalog:
    def check(path: Path) -> Catalog:
        return check_catalog(
            path, config.keys_dir, config.state_dir, source.verify, name=source.name
        )

    if source.url.startswith("/"):
        return check(Path(source.url))
    with tempfile.TemporaryDirectory(prefix="hal0ctl-catalog-") as directory:
        try:
            return check(fetch_into(source, settings_from_config(config), Path(directory)))
        except CatalogError:
            accepted = accepted_path(config.state_dir, source.name)
            if not accepted.exists():
                raise
    return check(accepted)


def from_hf(source: str, config: GlobalConfig, sha256: str | None, size: int | None) -> ModelKeys:
    """Resolve an hf:// SOURCE against hf_endpoint and pin it to the commit found."""
    file = huggingface.parse(source)
    token = _token(config.hf_token_file)
    pinned = huggingface.resolve(file, config.hf_endpoint, token, ssl_context(config.ca_file))
    if pinned.sha256 is None or pinned.size is None:
        if sha256 is None or size is None:
            raise CliError(
                f"{source}: the hub gives no SHA-256 for this file (it is not stored with "
                "LFS, as model files are); pass --sha256 and --size of the file, checked "
                "yourself"
            )
        digest, length = sha256, size
    else:
        digest, length = pinned.sha256, pinned.size
        if (sha256 is not None and sha256 != digest) or (size is not None and size != length):
            raise CliError(
                f"{source}: the hub says sha256 {digest}, size {length}, not the "
                "--sha256/--size given; nothing was written"
            )
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    how = "as the hub gave them" if pinned.sha256 else "as given on the command line"
    comment = (
        f"{source} at commit {pinned.commit}, pinned by `hal0ctl slot add` on {today}:",
        f"sha256 and size {how}, trusted on first use.",
    )
    return ModelKeys(
        {"url": pinned.url, "sha256": digest, "size": length},
        f"{source} is commit {pinned.commit}: sha256 {digest}, {format_size(length)}; "
        "trusted on first use: every pull is verified against this sha256",
        comment,
    )


def _token(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return read_token(path)
    except TokenFileError as error:
        raise CliError(f"hf_token_file {str(path)!r} {error}") from None
