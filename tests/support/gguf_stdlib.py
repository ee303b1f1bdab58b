"""A tiny llama-architecture GGUF written with the standard library only.

The package's autopkgtest (debian/tests) runs on a Debian system, where neither the ``gguf``
package nor numpy is available, so it cannot use ``tests.support.gguf_model``. This writer
makes the same kind of model — SentencePiece vocabulary with byte fallback, random weights,
an output head biased toward printable ASCII so every completion is valid UTF-8 (see
``gguf_model`` for why) — smaller (one layer, ~180 KiB) and with Python's own random numbers.
``vocabulary()`` is shared with ``gguf_model``.

    python3 tests/support/gguf_stdlib.py OUT.gguf     (prints the SHA-256 and the path)
"""

from __future__ import annotations

import array
import hashlib
import itertools
import random
import string
import struct
import sys
from pathlib import Path
from typing import BinaryIO

SPACE = "\u2581"  # SentencePiece's word-boundary marker, detokenized to " "
VOCAB_SIZE = 512
UNK, BOS, EOS = 0, 1, 2
# GGUF token types (llama.cpp's llama_token_type)
NORMAL, UNKNOWN, CONTROL, BYTE = 1, 2, 3, 6
ALIGNMENT = 32
# GGUF metadata value types
U32, I32, F32, BOOL, STRING, ARRAY = 4, 5, 6, 7, 8, 9
GGML_F32 = 0
N_EMBD, N_LAYER, N_HEAD, N_FF, CONTEXT = 32, 1, 4, 64, 4096
BIAS_CHANNEL, BIAS = 0, 2.0


def vocabulary() -> tuple[list[str], list[float], list[int]]:
    """Tokens, scores and types: control tokens, 256 byte tokens, then printable ASCII pieces."""
    tokens = ["<unk>", "<s>", "</s>"]
    types = [UNKNOWN, CONTROL, CONTROL]
    tokens += [f"<0x{byte:02X}>" for byte in range(256)]
    types += [BYTE] * 256
    pieces = [SPACE, *(chr(code) for code in range(0x21, 0x7F))]
    pieces += [SPACE + letter for letter in string.ascii_letters]
    pieces += ["".join(pair) for pair in itertools.product("etaoinshrd", repeat=2)]
    pieces += [SPACE + word for word in ("the", "and", "of", "to", "in", "is", "it", "on")]
    pieces = pieces[: VOCAB_SIZE - len(tokens)]
    tokens += pieces
    types += [NORMAL] * len(pieces)
    if len(tokens) != VOCAB_SIZE or len(set(tokens)) != VOCAB_SIZE:
        raise ValueError("the vocabulary must hold VOCAB_SIZE distinct tokens")
    # SentencePiece merges toward higher scores: prefer longer pieces, then earlier ones.
    scores = [0.0] * (VOCAB_SIZE - len(pieces))
    scores += [len(piece) - index / VOCAB_SIZE for index, piece in enumerate(pieces)]
    return tokens, scores, types


def _tensors(types: list[int], seed: int) -> dict[str, tuple[tuple[int, ...], array.array[float]]]:
    """name -> (ggml dims, innermost first; row-major f32 data)."""
    rng = random.Random(seed)  # noqa: S311 -- reproducible test weights, not secrets

    def normal(rows: int, cols: int, std: float) -> tuple[tuple[int, ...], array.array[float]]:
        return (cols, rows), array.array("f", (rng.gauss(0.0, std) for _ in range(rows * cols)))

    ones = ((N_EMBD,), array.array("f", [1.0] * N_EMBD))
    embedding = normal(VOCAB_SIZE, N_EMBD, 0.1)
    head = normal(VOCAB_SIZE, N_EMBD, 0.1)
    for token, kind in enumerate(types):
        embedding[1][token * N_EMBD + BIAS_CHANNEL] = 1.0
        head[1][token * N_EMBD + BIAS_CHANNEL] = BIAS if kind == NORMAL else -BIAS
    out = {"token_embd.weight": embedding}
    for layer in range(N_LAYER):
        block = f"blk.{layer}"
        out[f"{block}.attn_norm.weight"] = ones
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            out[f"{block}.{name}.weight"] = normal(N_EMBD, N_EMBD, 0.02)
        out[f"{block}.ffn_norm.weight"] = ones
        out[f"{block}.ffn_gate.weight"] = normal(N_FF, N_EMBD, 0.02)
        out[f"{block}.ffn_up.weight"] = normal(N_FF, N_EMBD, 0.02)
        out[f"{block}.ffn_down.weight"] = normal(N_EMBD, N_FF, 0.02)
    out["output_norm.weight"] = ones
    out["output.weight"] = head
    return out


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def _value(kind: int, value: object) -> bytes:
    if kind == STRING:
        return _string(str(value))
    formats = {U32: "<I", I32: "<i", F32: "<f", BOOL: "<?"}
    return struct.pack(formats[kind], value)


def _metadata(tokens: list[str], scores: list[float], types: list[int]) -> list[bytes]:
    scalars: list[tuple[str, int, object]] = [
        ("general.architecture", STRING, "llama"),
        ("general.name", STRING, "hal0-stdlib-tiny"),
        ("general.file_type", U32, 0),  # all F32
        ("llama.vocab_size", U32, VOCAB_SIZE),
        ("llama.context_length", U32, CONTEXT),
        ("llama.embedding_length", U32, N_EMBD),
        ("llama.block_count", U32, N_LAYER),
        ("llama.feed_forward_length", U32, N_FF),
        ("llama.attention.head_count", U32, N_HEAD),
        ("llama.attention.head_count_kv", U32, N_HEAD),
        ("llama.rope.dimension_count", U32, N_EMBD // N_HEAD),
        ("llama.attention.layer_norm_rms_epsilon", F32, 1e-5),
        ("tokenizer.ggml.model", STRING, "llama"),
        ("tokenizer.ggml.unknown_token_id", U32, UNK),
        ("tokenizer.ggml.bos_token_id", U32, BOS),
        ("tokenizer.ggml.eos_token_id", U32, EOS),
        ("tokenizer.ggml.add_bos_token", BOOL, True),
        ("tokenizer.ggml.add_eos_token", BOOL, False),
    ]
    entries = [_string(key) + struct.pack("<I", kind) + _value(kind, v) for key, kind, v in scalars]
    arrays: list[tuple[str, int, list[object]]] = [
        ("tokenizer.ggml.tokens", STRING, list(tokens)),
        ("tokenizer.ggml.scores", F32, list(scores)),
        ("tokenizer.ggml.token_type", I32, list(types)),
    ]
    for key, kind, values in arrays:
        header = _string(key) + struct.pack("<IIQ", ARRAY, kind, len(values))
        entries.append(header + b"".join(_value(kind, v) for v in values))
    return entries


def _pad(file: BinaryIO) -> None:
    file.write(b"\0" * (-file.tell() % ALIGNMENT))


def write_model(path: Path, seed: int = 0) -> str:
    """Write the model to ``path``; return its SHA-256 (same seed, same bytes)."""
    tokens, scores, types = vocabulary()
    tensors = _tensors(types, seed)
    metadata = _metadata(tokens, scores, types)
    with path.open("wb") as file:
        file.write(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(metadata)))
        file.writelines(metadata)
        offset = 0
        for name, (dims, data) in tensors.items():
            file.write(_string(name) + struct.pack(f"<I{len(dims)}Q", len(dims), *dims))
            file.write(struct.pack("<IQ", GGML_F32, offset))
            size = len(data) * 4
            offset += size + (-size % ALIGNMENT)
        _pad(file)
        for _dims, data in tensors.values():
            file.write(data.tobytes())  # f32, little-endian on every machine Debian builds on
            _pad(file)
    return hashlib.sha256(path.read_bytes()).hexdigest()


if __name__ == "__main__":
    out = Path(sys.argv[1])
    print(write_model(out), out)
