"""The HTTP side of a pull: client, URL policy, hand-followed redirects, status meaning.

Redirects are followed here rather than by httpx because httpx follows https→http silently;
every hop must pass the same scheme rule as the first URL.
"""

import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from hal0d import __version__
from hal0d.errors import DownloadError
from hal0d.store.errors import HttpStatusError, InsecureUrlError
from hal0d.store.settings import StoreSettings

ClientFactory = Callable[[], httpx.Client]

MAX_REDIRECTS = 10
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
RETRIED_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_CONTENT_RANGE = re.compile(r"bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)")


class TransientError(DownloadError):
    """A failure worth another attempt (connection, stall, 5xx...)."""


def make_client(settings: StoreSettings) -> httpx.Client:
    # An SSLContext, not a CA path: `verify="path"` is deprecated in httpx 0.28 and an
    # SSLContext is accepted the same way by 0.23 and 0.28.
    context = settings.ssl_context or ssl.create_default_context()
    timeout = httpx.Timeout(
        connect=settings.connect_timeout,
        read=settings.stall_timeout,  # per read: no byte for this long is a stall
        write=settings.connect_timeout,
        pool=settings.connect_timeout,
    )
    return httpx.Client(
        verify=context,
        timeout=timeout,
        follow_redirects=False,
        headers={"User-Agent": f"hal0d/{__version__}"},
    )


def check_url(url: str, allow_http: bool) -> None:
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme == "https" or (scheme == "http" and allow_http):
        return
    if scheme == "http":
        raise InsecureUrlError(
            f"{url} is plain http; models are fetched over https unless the source sets"
            " allow_http = true"
        )
    raise InsecureUrlError(f"{url} is not an https URL")


def open_stream(
    client: httpx.Client, url: str, headers: dict[str, str], allow_http: bool
) -> httpx.Response:
    """GET ``url`` streaming, following redirects under the scheme rule; caller closes."""
    for _hop in range(MAX_REDIRECTS + 1):
        check_url(url, allow_http)
        response = client.send(client.build_request("GET", url, headers=headers), stream=True)
        location = response.headers.get("location")
        if response.status_code not in REDIRECT_STATUSES or not location:
            return response
        response.close()
        target = str(response.url.join(location))
        try:
            check_url(target, allow_http)
        except InsecureUrlError as exc:
            raise InsecureUrlError(f"redirect from {url} to {target} refused: {exc}") from None
        url = target
    raise DownloadError(f"more than {MAX_REDIRECTS} redirects starting at {url}")


def raise_for_status(response: httpx.Response, url: str) -> None:
    """Accepts 200, 206 and 416 (the caller interprets those); raises for anything else."""
    status = response.status_code
    if status in (200, 206, 416):
        return
    text = f"{url} answered HTTP {status} {response.reason_phrase}".rstrip()
    if status in RETRIED_STATUSES:
        raise TransientError(text)
    raise HttpStatusError(text, status)


@dataclass(frozen=True)
class ContentRange:
    start: int | None  # None for "bytes */total"
    end: int | None
    total: int | None  # None for "bytes a-b/*"


def parse_content_range(value: str | None) -> ContentRange | None:
    if not value:
        return None
    match = _CONTENT_RANGE.fullmatch(value.strip())
    if not match:
        return None
    start, end, total = match.groups()
    return ContentRange(
        int(start) if start is not None else None,
        int(end) if end is not None else None,
        int(total) if total != "*" else None,
    )


def validator(response: httpx.Response) -> dict[str, str]:
    """What identifies this version of the remote file: its ETag and Last-Modified."""
    found = {}
    for header in ("etag", "last-modified"):
        if value := response.headers.get(header):
            found[header] = value
    return found


def if_range_value(saved: dict[str, str]) -> str | None:
    """If-Range needs a strong ETag, else a Last-Modified date (RFC 9110 13.1.5)."""
    etag = saved.get("etag")
    if etag and not etag.startswith("W/"):
        return etag
    return saved.get("last-modified")


def is_certificate_error(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
