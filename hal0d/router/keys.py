"""Client API keys: the file passed with LoadCredential=api-keys:…, checked in constant time.

One key per line; blank lines and lines starting with ``#`` are ignored. The unit falls back
to an empty credential (SetCredential=) when the file does not exist, which means "no keys".
Clients send ``Authorization: Bearer KEY`` or ``x-api-key: KEY``.
"""

import hmac
import os
from pathlib import Path

CREDENTIAL = "api-keys"


class ClientKeys:
    def __init__(self, keys: list[str], *, required: bool) -> None:
        self._keys = [key.encode() for key in keys]
        self.required = required

    @property
    def configured(self) -> bool:
        return bool(self._keys)

    def problem(self) -> str | None:
        """Why the router must not start with these keys, if it must not."""
        if self.required and not self._keys:
            return (
                "require_key = true in router.toml, but no client key is configured: put "
                "keys in /etc/hal0/router.keys (one per line), or set require_key = false"
            )
        return None

    def allows(self, presented: str | None) -> bool:
        """A request may pass: with no keys configured, or a key not required and none sent,
        or a valid key sent. A wrong key is refused even when none is required."""
        if not self._keys:
            return True
        if presented is None:
            return not self.required
        candidate = presented.encode()
        # Compare against every key, so the time taken says nothing about which one matched.
        matched = False
        for key in self._keys:
            matched |= hmac.compare_digest(candidate, key)
        return matched


def presented_key(authorization: str | None, x_api_key: str | None) -> str | None:
    if authorization is not None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return ""  # some other scheme: a key was sent, and it is not valid
    if x_api_key is not None:
        return x_api_key.strip()
    return None


def parse_keys(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def load_keys(*, required: bool, environ: dict[str, str] | None = None) -> ClientKeys:
    """The keys of $CREDENTIALS_DIRECTORY/api-keys (none outside systemd, or if empty)."""
    directory = (environ if environ is not None else dict(os.environ)).get(
        "CREDENTIALS_DIRECTORY", ""
    )
    keys: list[str] = []
    if directory:
        path = Path(directory) / CREDENTIAL
        if path.is_file():
            keys = parse_keys(path.read_text(encoding="utf-8"))
    return ClientKeys(keys, required=required)
