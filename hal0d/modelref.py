"""What a model reference may say, for the configuration (which reports a bad value with its
file and key) and the store (which refuses a bad request): the verify modes, the form of a
SHA-256, and which URLs may be fetched."""

import re
from urllib.parse import urlsplit

VERIFY_MODES = ("signature", "checksum", "no")
SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")
SHA256_FORM = "64 hexadecimal digits"
# A catalog entry as a slot file's `model` names it: "ENTRY" or "CATALOG/ENTRY".
CATALOG_ENTRY_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/+-]{0,127}")


def url_problem(url: str, allow_http: bool) -> str | None:
    """Why ``url`` may not be fetched, as a sentence; None if it may (https, or http with
    ``allow_http``, with a host either way)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return f"{url!r} is not a URL; use https://HOST/PATH"
    if parts.scheme == "https" and parts.netloc:
        return None
    if parts.scheme == "http" and parts.netloc:
        if allow_http:
            return None
        return (
            f"{url!r} is plain http; use https, or set allow_http = true to accept an "
            "unencrypted source (the checksum still protects the bytes)"
        )
    return f"{url!r} is not an https URL; use https://HOST/PATH"
