"""minisign-compatible Ed25519 detached signatures, verified with `cryptography`.

Formats (as written by minisign 0.11; https://jedisct1.github.io/minisign/):

    public key file               signature file (<file>.minisig)
    untrusted comment: ...        untrusted comment: ...
    base64("Ed" keyid pk)         base64(alg keyid sig)
                                  trusted comment: <text>
                                  base64(global_sig)

``keyid`` is 8 bytes, ``pk`` 32, signatures 64. ``alg`` is ``ED`` (the default: ``sig`` signs
the BLAKE2b-512 hash of the file) or ``Ed`` (legacy, ``-l``: ``sig`` signs the file itself).
``global_sig`` signs ``sig`` followed by the trusted comment's text, so the comment cannot be
edited without the key. Failures raise `SignatureError` saying what did not match.
"""

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hal0d.errors import IntegrityError

PREHASHED = b"ED"
LEGACY = b"Ed"
UNTRUSTED_PREFIX = "untrusted comment:"
TRUSTED_PREFIX = "trusted comment: "


class SignatureError(IntegrityError):
    pass


@dataclass(frozen=True)
class PublicKey:
    key_id: bytes
    key: Ed25519PublicKey
    source: str  # where it came from, for messages

    @property
    def key_id_hex(self) -> str:
        return key_id_hex(self.key_id)


@dataclass(frozen=True)
class Signature:
    algorithm: bytes
    key_id: bytes
    signature: bytes
    trusted_comment: str
    global_signature: bytes


def key_id_hex(key_id: bytes) -> str:
    # minisign prints the little-endian 64-bit id as one hex number.
    return key_id[::-1].hex().upper()


def _b64(line: str, what: str, source: str) -> bytes:
    try:
        return base64.b64decode(line.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError(f"{source}: the {what} is not valid base64") from None


def parse_public_key(text: str, source: str) -> PublicKey:
    lines = [line for line in text.splitlines() if line.strip()]
    if lines and lines[0].startswith(UNTRUSTED_PREFIX):
        lines = lines[1:]
    if not lines:
        raise SignatureError(f"{source}: no public key found")
    raw = _b64(lines[0], "public key", source)
    if len(raw) != 42 or raw[:2] != LEGACY:
        raise SignatureError(f"{source}: not a minisign Ed25519 public key")
    return PublicKey(raw[2:10], Ed25519PublicKey.from_public_bytes(raw[10:]), source)


def load_trusted_keys(keys_dir: Path) -> dict[bytes, PublicKey]:
    """Every ``*.pub`` in ``keys_dir``, by key id. Blocking (reads files)."""
    keys: dict[bytes, PublicKey] = {}
    if not keys_dir.is_dir():
        return keys
    for path in sorted(keys_dir.glob("*.pub")):
        key = parse_public_key(path.read_text(encoding="utf-8"), str(path))
        keys[key.key_id] = key
    return keys


def parse_signature(text: str, source: str) -> Signature:
    lines = text.splitlines()
    if len(lines) < 4 or not lines[0].startswith(UNTRUSTED_PREFIX):
        raise SignatureError(f"{source}: not a minisign signature file")
    raw = _b64(lines[1], "signature", source)
    if len(raw) != 74 or raw[:2] not in (PREHASHED, LEGACY):
        raise SignatureError(f"{source}: unsupported signature algorithm or length")
    if not lines[2].startswith(TRUSTED_PREFIX):
        raise SignatureError(f"{source}: the trusted comment line is missing")
    global_signature = _b64(lines[3], "global signature", source)
    if len(global_signature) != 64:
        raise SignatureError(f"{source}: the global signature has the wrong length")
    return Signature(
        algorithm=raw[:2],
        key_id=raw[2:10],
        signature=raw[10:],
        trusted_comment=lines[2][len(TRUSTED_PREFIX) :],
        global_signature=global_signature,
    )


def verify(data: bytes, signature: Signature, trusted: Mapping[bytes, PublicKey]) -> PublicKey:
    """The trusted key that signed ``data`` and the trusted comment; else SignatureError."""
    key = trusted.get(signature.key_id)
    if key is None:
        known = ", ".join(k.key_id_hex for k in trusted.values()) or "none"
        raise SignatureError(
            f"signed by key {key_id_hex(signature.key_id)}, which is not trusted"
            f" (trusted keys: {known})"
        )
    message = hashlib.blake2b(data).digest() if signature.algorithm == PREHASHED else data
    try:
        key.key.verify(signature.signature, message)
    except InvalidSignature:
        raise SignatureError(
            f"the signature by key {key.key_id_hex} does not match the content"
        ) from None
    comment = signature.signature + signature.trusted_comment.encode("utf-8")
    try:
        key.key.verify(signature.global_signature, comment)
    except InvalidSignature:
        raise SignatureError(
            f"the trusted comment is not the one key {key.key_id_hex} signed"
        ) from None
    return key
