"""Catalog sources from the configuration: a local file, or a URL fetched into the state dir.

A remote catalog is fetched with its ``.minisig`` (both under the same https-only rule as
models, redirects included) into ``<state_dir>/catalogs/<name>/`` and then verified exactly
like a local one; a refused download leaves the previously fetched copy alone.
"""

import asyncio
import contextlib
from collections.abc import Mapping
from pathlib import Path

import httpx

from hal0d.atomic import write_atomically
from hal0d.config.model import CatalogSource
from hal0d.errors import DownloadError
from hal0d.store import http
from hal0d.store.boundary import edge
from hal0d.store.catalog import CATALOG_NAME, Catalog, CatalogError, load_catalog
from hal0d.store.credentials import OriginToken
from hal0d.store.settings import StoreSettings
from hal0d.store.transport import PACE_EXTENSION

MAX_CATALOG_BYTES = 16 << 20


async def load_source(
    source: CatalogSource,
    settings: StoreSettings,
    keys_dir: Path,
    *,
    client_factory: http.ClientFactory | None = None,
) -> Catalog:
    """Fetch (if remote), verify and accept one configured catalog; CatalogError if refused."""
    if not CATALOG_NAME.fullmatch(source.name):
        raise CatalogError(f"catalog {source.name!r}: not a valid catalog name")
    factory = client_factory or (lambda: http.make_client(settings, source.ca_file))

    def fetch_and_load() -> Catalog:
        with edge(f"catalog {source.name} ({source.url})", CatalogError):
            if source.url.startswith("/"):
                path = Path(source.url)
            else:
                path = _fetch(source, settings, factory)
            return load_catalog(path, keys_dir, settings.state_dir, source.verify, name=source.name)

    return await asyncio.to_thread(fetch_and_load)


def _fetch(source: CatalogSource, settings: StoreSettings, factory: http.ClientFactory) -> Path:
    directory = settings.state_dir / "catalogs" / source.name
    directory.mkdir(parents=True, exist_ok=True)
    return fetch_into(source, settings, directory, factory)


def fetch_into(
    source: CatalogSource,
    settings: StoreSettings,
    directory: Path,
    factory: http.ClientFactory | None = None,
) -> Path:
    """Download a remote catalog (with its ``.minisig`` when signed) into ``directory``,
    unchecked; returns the catalog's path. CatalogError if a download fails."""
    factory = factory or (lambda: http.make_client(settings, source.ca_file))
    target = directory / "catalog.toml"
    wanted = [(source.url, target)]
    if source.verify == "signature":
        wanted.append((source.url + ".minisig", directory / "catalog.toml.minisig"))
    extensions = {PACE_EXTENSION: settings.speed_rule}
    with factory() as client:
        fetched = [
            (_get(client, url, source, extensions, settings.tokens), path) for url, path in wanted
        ]
    for data, path in fetched:
        write_atomically(path, data)
    return target


def _get(
    client: httpx.Client,
    url: str,
    source: CatalogSource,
    extensions: Mapping[str, object],
    tokens: tuple[OriginToken, ...],
) -> bytes:
    label = f"catalog {source.name} ({url})"
    try:
        response = http.open_stream(
            client,
            url,
            {"Accept-Encoding": "identity"},
            source.allow_http,
            extensions,
            tokens=tokens,
        )
        with contextlib.closing(response):
            if response.status_code != 200:
                raise CatalogError(f"{label}: HTTP {response.status_code}")
            body = bytearray()
            for chunk in response.iter_raw():
                body += chunk
                if len(body) > MAX_CATALOG_BYTES:
                    raise CatalogError(f"{label}: larger than {MAX_CATALOG_BYTES} bytes")
    except DownloadError as exc:
        raise CatalogError(f"{label}: {exc}") from None
    except httpx.HTTPError as exc:
        raise CatalogError(f"{label}: download failed: {exc}") from None
    return bytes(body)
