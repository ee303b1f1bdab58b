"""What a slot's model reference asks the store to pull: a URL as given, or a catalog entry.

Catalogs are never fetched when the daemon starts, so an unreachable catalog server never
delays READY: hal0d starts from the copy of each catalog it last accepted (kept with its
signature in the state dir and verified again), reads local catalog files, and refreshes
remote catalogs in the background. A catalog not accepted yet is fetched on the first pull
that needs it; a refused one is tried again on the next pull, so a passing fault does not
stick.
"""

import asyncio
import logging
from dataclasses import replace

from hal0d.config import CatalogSource, GlobalConfig, SlotConfig
from hal0d.errors import ConfigError, Hal0Error, InvalidArgumentError
from hal0d.modelref import CATALOG_ENTRY_PATTERN
from hal0d.store.catalog import Catalog, CatalogEntry, load_accepted
from hal0d.store.credentials import tokens_from_config
from hal0d.store.download import PullRequest
from hal0d.store.settings import settings_from_config
from hal0d.store.sources import load_source

log = logging.getLogger(__name__)


class ModelResolver:
    def __init__(self) -> None:
        self._accepted: dict[str, Catalog] = {}
        self._sources: dict[str, CatalogSource] = {}

    async def request_for(self, slot: SlotConfig, config: GlobalConfig) -> PullRequest:
        """The store request for ``slot``'s model; ConfigError if its catalog entry is unknown."""
        request = await self._request_for(slot, config)
        return replace(request, tokens=tokens_from_config(config))

    async def _request_for(self, slot: SlotConfig, config: GlobalConfig) -> PullRequest:
        model = slot.model
        if model.url is not None:
            return PullRequest(
                url=model.url,
                sha256=model.sha256,
                size=model.size,
                allow_http=model.allow_http,
                verify=model.verify,
                name=slot.name,
                slot=slot.name,
            )
        wanted = model.catalog_name or ""
        refusals = []
        if not self._candidates(wanted, config):
            refusals = await self._load(config, fetch=True)
        candidates = self._candidates(wanted, config)
        if candidates:
            source, entry = candidates[0]
            return entry.to_request(
                allow_http=source.allow_http, verify=source.verify, slot=slot.name
            )
        configured = ", ".join(source.name for source in config.catalogs) or "none"
        refused = "".join(f"; {reason}" for reason in refusals)
        raise ConfigError(
            f"slot {slot.name!r}: no accepted catalog lists model {wanted!r} "
            f"(catalogs configured: {configured}){refused}"
        )

    def resolve_held(self, wanted: str, config: GlobalConfig) -> CatalogEntry:
        """The entry ``wanted`` ("ENTRY" or "CATALOG/ENTRY") names in the catalogs held now,
        never fetching one; InvalidArgumentError naming the catalogs searched if none has it."""
        shown = wanted[:200]  # an echo of hostile input stays short
        if not CATALOG_ENTRY_PATTERN.fullmatch(wanted):
            raise InvalidArgumentError(
                f"{shown!r} is not a catalog entry name; use ENTRY or CATALOG/ENTRY"
            )
        candidates = self._candidates(wanted, config)
        if candidates:
            return candidates[0][1]
        held = [s.name for s in config.catalogs if s.name in self._accepted]
        missing = [s.name for s in config.catalogs if s.name not in self._accepted]
        searched = ", ".join(held) or "none"
        not_held = f"; not held yet (never accepted): {', '.join(missing)}" if missing else ""
        raise InvalidArgumentError(
            f"no catalog lists model {shown!r} (catalogs searched: {searched}{not_held}); "
            "check the name against the catalog, or give the model as an https URL with its "
            "SHA-256 and size"
        )

    def known_digest(self, slot: SlotConfig, config: GlobalConfig) -> str:
        """The digest the catalogs held now list for a catalog slot ("" if none)."""
        candidates = self._candidates(slot.model.catalog_name or "", config)
        return (candidates[0][1].sha256 or "") if candidates else ""

    async def load_held(self, config: GlobalConfig) -> None:
        """Local catalog files and the last accepted copy of remote ones; no network."""
        await self._load(config, fetch=False)

    async def refresh(self, config: GlobalConfig) -> None:
        """Fetch every remote catalog again; a refusal keeps the copy held before."""
        self._configure(config)
        for source in config.catalogs:
            if not source.url.startswith("/"):
                await self._accept(source, config, fetch=True)

    def _candidates(
        self, wanted: str, config: GlobalConfig
    ) -> list[tuple[CatalogSource, CatalogEntry]]:
        """Entries named ``wanted`` ("ENTRY" or "CATALOG/ENTRY"), in configuration order."""
        self._configure(config)
        catalog_name, _, entry_name = wanted.rpartition("/")
        found = []
        for source in config.catalogs:
            catalog = self._accepted.get(source.name)
            if catalog is None or (catalog_name and catalog_name != source.name):
                continue
            entry = catalog.entries.get(entry_name)
            if entry is not None:
                found.append((source, entry))
        return found

    def _configure(self, config: GlobalConfig) -> None:
        """Forget catalogs whose source the configuration changed or removed."""
        sources = {source.name: source for source in config.catalogs}
        for name in list(self._accepted):
            if sources.get(name) != self._sources.get(name):
                del self._accepted[name]
        self._sources = sources

    async def _load(self, config: GlobalConfig, *, fetch: bool) -> list[str]:
        self._configure(config)
        refusals = []
        for source in config.catalogs:
            if source.name not in self._accepted:
                refusal = await self._accept(source, config, fetch=fetch)
                refusals += [refusal] if refusal else []
        return refusals

    async def _accept(self, source: CatalogSource, config: GlobalConfig, *, fetch: bool) -> str:
        catalog: Catalog | None
        try:
            if fetch or source.url.startswith("/"):
                settings = settings_from_config(config)
                catalog = await load_source(source, settings, config.keys_dir)
            else:
                catalog = await asyncio.to_thread(
                    load_accepted, source.name, config.keys_dir, config.state_dir, source.verify
                )
        except Hal0Error as error:
            log.error("%s", error)  # noqa: TRY400 - an expected refusal: its message, no traceback
            return str(error)
        if catalog is not None and self._sources.get(source.name) == source:
            self._accepted[source.name] = catalog
        return ""
