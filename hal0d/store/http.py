"""The HTTP side of a pull: client, URL policy, hand-followed redirects, status meaning.

Redirects are followed here rather than by httpx because httpx follows https→http silently;
every hop must pass the same scheme rule as the first URL.
"""

import re
import ssl
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from hal0d import __version__
from hal0d.errors import DownloadError
from hal0d.modelref import url_problem
from hal0d.store.credentials import OriginToken, headers_for
from hal0d.store.errors import HttpStatusError, InsecureUrlError, TransientError
from hal0d.store.settings import StoreSettings
from hal0d.store.transport import DownloadTransport

ClientFactory = Callable[[], httpx.Client]

MAX_REDIRECTS = 10
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
RETRIED_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_CONTENT_RANGE = re.compile(r"bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)")


__all__ = ["TransientError"]  # re-exported: callers catch http.TransientError


def make_client(settings: StoreSettings, ca_file: Path | None = None) -> httpx.Client:
    """A client for downloads; ``ca_file`` (else the settings') adds a trusted CA."""
    # An SSLContext, not a CA path (`verify="path"` is deprecated in httpx 0.28); it goes to
    # the download transport, which works the same under httpx 0.23 and 0.28.
    if ca_file is not None:
        context = ssl_context(ca_file)
    else:
        context = settings.ssl_context or ssl_context(settings.ca_file)
    timeout = httpx.Timeout(
        connect=settings.connect_timeout,
        read=settings.stall_timeout,  # per read: no byte for this long is a stall
        write=settings.connect_timeout,
        pool=settings.connect_timeout,
    )
    return httpx.Client(
        transport=DownloadTransport(context),
        timeout=timeout,
        follow_redirects=False,
        headers={"User-Agent": f"hal0d/{__version__}"},
    )


def ssl_context(ca_file: Path | None) -> ssl.SSLContext:
    """The system's trusted CAs, plus the certificates in ``ca_file`` if given."""
    context = ssl.create_default_context()
    if ca_file is not None:
        try:
            context.load_verify_locations(cafile=str(ca_file))
        except OSError as exc:  # ssl.SSLError included: not a PEM file
            reason = exc.strerror or str(exc)
            raise DownloadError(
                f"ca_file {str(ca_file)!r} cannot be used: {reason}; it must be a readable"
                " PEM file of CA certificates"
            ) from None
    return context


def check_url(url: str, allow_http: bool) -> None:
    problem = url_problem(url, allow_http)
    if problem is not None:
        raise InsecureUrlError(problem)


def open_stream(  # noqa: PLR0913 - the request, its policy and its per-origin credentials
    client: httpx.Client,
    url: str,
    headers: dict[str, str],
    allow_http: bool,
    extensions: Mapping[str, Any] | None = None,
    *,
    tokens: Iterable[OriginToken] = (),
) -> httpx.Response:
    """GET ``url`` streaming, following redirects under the scheme rule; caller closes.
    ``response.url`` is the last hop. Each hop carries ``headers`` plus the ``tokens`` of
    its own origin only, so a token never follows a redirect to another origin."""
    tokens = tuple(tokens)
    for _hop in range(MAX_REDIRECTS + 1):
        check_url(url, allow_http)
        hop_headers = headers | headers_for(url, tokens)
        request = client.build_request("GET", url, headers=hop_headers)
        request.extensions.update(extensions or {})
        response = client.send(request, stream=True)
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


def raise_for_status(response: httpx.Response, who: str) -> None:
    """Accepts 200, 206 and 416 (the caller interprets those); raises for anything else.
    ``who`` starts the message: the URL, or what was pulled and from where."""
    status = response.status_code
    if status in (200, 206, 416):
        return
    text = f"{who} answered HTTP {status} {response.reason_phrase}".rstrip()
    if status in RETRIED_STATUSES:
        raise TransientError(text)
    raise HttpStatusError(text, status)


def content_length(response: httpx.Response) -> int | None:
    """The declared body length, None if not given; DownloadError if it is not a number."""
    value = response.headers.get("content-length")
    if value is None:
        return None
    if not value.strip().isdigit():
        raise DownloadError(
            f"{response.url} sent a malformed Content-Length {value!r} (not a byte count)"
        )
    return int(value)


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
