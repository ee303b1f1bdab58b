"""What a slot's model reference asks the store to pull."""

from hal0d.config import SlotConfig
from hal0d.errors import ConfigError
from hal0d.store.download import PullRequest


def pull_request_for(slot: SlotConfig) -> PullRequest:
    """The store request for ``slot``'s model; ConfigError for a catalog entry.

    Catalog entries are verified by the store (hal0d.store.catalog) but not yet resolved for
    slots: a slot that names one says so clearly instead of pulling something else.
    """
    model = slot.model
    if model.url is None:
        raise ConfigError(
            f"slot {slot.name!r} names catalog model {model.catalog_name!r}; "
            "this hal0d loads slot models given by url and sha256 only"
        )
    return PullRequest(
        url=model.url,
        sha256=model.sha256,
        size=model.size,
        allow_http=model.allow_http,
        verify=model.verify,
        name=slot.name,
    )
