"""Request headers that belong to one origin: the Hugging Face token goes to `hf_endpoint`'s
origin (scheme, host, port) and to no other.

huggingface.co answers a gated file with a redirect to a CDN; the token must not follow it.
Redirects are followed by hand (`hal0d.store.http.open_stream`), each hop a new request whose
headers are chosen for that hop's own origin, so a hop to another origin carries none of
these — the same on every httpx version, whatever httpx itself strips. The token file is read
for each request (in the transfer's worker thread), so a new token needs no reload.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from hal0d.config.model import GlobalConfig
from hal0d.config.token import TokenFileError, read_token
from hal0d.errors import DownloadError

DEFAULT_PORTS = {"https": 443, "http": 80}

Origin = tuple[str, str, int]


def origin_of(url: str) -> Origin | None:
    """(scheme, host, port) of ``url``, the port made explicit; None if it has none."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if not parts.hostname or scheme not in DEFAULT_PORTS:
        return None
    return (scheme, parts.hostname.lower(), port or DEFAULT_PORTS[scheme])


@dataclass(frozen=True)
class OriginToken:
    """A bearer token from ``token_file``, for requests to ``origin`` only."""

    origin: Origin
    token_file: Path
    key: str = "hf_token_file"  # the configuration key naming the file, for messages

    def header(self) -> str:
        try:
            token = read_token(self.token_file)
        except TokenFileError as error:
            raise DownloadError(
                f"{self.key} {str(self.token_file)!r} {error}; fix the file (or remove "
                f"{self.key} from hal0.toml) and pull again"
            ) from None
        return f"Bearer {token}"


def headers_for(url: str, tokens: Iterable[OriginToken]) -> dict[str, str]:
    """The headers a request to ``url`` carries for its origin ({} for most)."""
    where = origin_of(url)
    for token in tokens:
        if where is not None and token.origin == where:
            return {"Authorization": token.header()}
    return {}


def tokens_from_config(config: GlobalConfig) -> tuple[OriginToken, ...]:
    """The one token the configuration gives: hf_token_file, for hf_endpoint's origin."""
    origin = origin_of(config.hf_endpoint)
    if config.hf_token_file is None or origin is None:
        return ()
    return (OriginToken(origin, config.hf_token_file),)
