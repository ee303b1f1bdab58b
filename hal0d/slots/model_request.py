"""What a slot's model reference asks the store to pull: a URL as given, or a catalog entry.

Catalogs are loaded (fetched if remote, verified, checked against rollback) on the first pull
that needs them, not when the daemon starts, so an unreachable catalog server never delays
READY. Accepted catalogs are kept until the configuration changes; a refused one is tried
again on the next pull, so a passing network fault does not stick.
"""

import logging

from hal0d.config import CatalogSource, GlobalConfig, SlotConfig
from hal0d.errors import ConfigError, Hal0Error
from hal0d.store.catalog import Catalog, CatalogEntry
from hal0d.store.download import PullRequest
from hal0d.store.settings import settings_from_config
from hal0d.store.sources import load_source

log = logging.getLogger(__name__)


class ModelResolver:
    def __init__(self) -> None:
        self._accepted: dict[str, Catalog] = {}
        self._accepted_for: GlobalConfig | None = None

    async def request_for(self, slot: SlotConfig, config: GlobalConfig) -> PullRequest:
        """The store request for ``slot``'s model; ConfigError if its catalog entry is unknown."""
        model = slot.model
        if model.url is not None:
            return PullRequest(
                url=model.url,
                sha256=model.sha256,
                size=model.size,
                allow_http=model.allow_http,
                verify=model.verify,
                name=slot.name,
            )
        wanted = model.catalog_name or ""
        refusals = await self._load_catalogs(config)
        candidates = self._candidates(wanted, config)
        if candidates:
            source, entry = candidates[0]
            return entry.to_request(allow_http=source.allow_http, verify=source.verify)
        configured = ", ".join(source.name for source in config.catalogs) or "none"
        refused = "".join(f"; {reason}" for reason in refusals)
        raise ConfigError(
            f"slot {slot.name!r}: no accepted catalog lists model {wanted!r} "
            f"(catalogs configured: {configured}){refused}"
        )

    def _candidates(
        self, wanted: str, config: GlobalConfig
    ) -> list[tuple[CatalogSource, CatalogEntry]]:
        """Entries named ``wanted`` ("ENTRY" or "CATALOG/ENTRY"), in configuration order."""
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

    async def _load_catalogs(self, config: GlobalConfig) -> list[str]:
        if config is not self._accepted_for:
            self._accepted, self._accepted_for = {}, config
        settings = settings_from_config(config)
        refusals = []
        for source in config.catalogs:
            if source.name in self._accepted:
                continue
            try:
                self._accepted[source.name] = await load_source(source, settings, config.keys_dir)
            except Hal0Error as error:
                refusals.append(str(error))
        for refusal in refusals:  # an expected refusal: its message, no traceback
            log.error("%s", refusal)
        return refusals
