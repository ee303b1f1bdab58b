"""The Hugging Face token file (`hf_token_file`): one token, sent only to `hf_endpoint`.

Read by hal0d for pulls and by hal0ctl when it resolves an hf:// source; check-config reads it
too, so a file hal0d could not use is refused before hal0d loads it.
"""

import re
from pathlib import Path

# What an HTTP header value may carry, and what Hugging Face tokens are made of ("hf_XXXX").
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9._~+/=-]{1,1024}")
TOKEN_FORM = "one token on one line, such as hf_XXXX (letters, digits and ._~+/=-)"  # noqa: S105 - a description, not a secret


class TokenFileError(ValueError):
    """Why the token file cannot be used, as a sentence without the path."""


def read_token(path: Path) -> str:
    """The token in ``path``, surrounding whitespace removed; TokenFileError if unusable."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise TokenFileError(f"is not text; it must hold {TOKEN_FORM}") from None
    except OSError as error:
        raise TokenFileError(f"cannot be read ({error.strerror or error})") from None
    token = text.strip()
    if not TOKEN_PATTERN.fullmatch(token):
        what = "is empty" if not token else "does not hold a token"
        raise TokenFileError(f"{what}; it must hold {TOKEN_FORM}")
    return token
