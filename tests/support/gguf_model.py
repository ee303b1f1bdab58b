"""Deterministic llama-architecture GGUF models for tests, written with the ``gguf`` package.

The models are nonsense (random weights) but real: llama-server loads them and answers
completions. Two traps are handled here:

- The tokenizer is SentencePiece-style (``llama``) with the 256 byte-fallback tokens
  ``<0x00>..<0xFF>``, so any input, including non-ASCII text, tokenizes.
- With plain random weights the model would emit lone byte tokens, which detokenize to invalid
  UTF-8, and llama-server answers such completions with HTTP 500. Every token embedding
  therefore carries a constant channel, and the output head maps that channel to a large
  positive logit for printable ASCII pieces and a large negative one for byte and control
  tokens. Generations stay ASCII; EOS is practically never sampled, so a request runs to its
  ``n_predict`` (handy for keeping one in flight).

Same spec → byte-identical file (the SHA-256 is stable for a pinned gguf/numpy).

    python -m tests.support.gguf_model OUT.gguf [tiny|large]
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np

from tests.support.gguf_stdlib import VOCAB_SIZE, vocabulary

GENERATOR_VERSION = 1  # bump when the output of a spec changes
UNK, BOS, EOS = 0, 1, 2
BIAS_CHANNEL = 0
BIAS = 2.0


@dataclass(frozen=True)
class ModelSpec:
    name: str
    n_embd: int
    n_layer: int
    n_head: int
    n_ff: int
    context_length: int = 4096
    seed: int = 0

    @property
    def cache_key(self) -> str:
        """Names this spec's file among cached models: changes when the output would."""
        text = f"{GENERATOR_VERSION}:{self}:{gguf.__name__}:{np.__version__}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# ~600 KiB: loads in tens of milliseconds; the model of most tests.
TINY = ModelSpec(name="hal0-tiny", n_embd=64, n_layer=2, n_head=4, n_ff=128)
# ~105 MiB: long enough to load and to download that progress and load time are observable.
LARGE = ModelSpec(name="hal0-large", n_embd=512, n_layer=8, n_head=8, n_ff=1408)
SPECS = {"tiny": TINY, "large": LARGE}


def tensors(spec: ModelSpec, types: list[int]) -> dict[str, np.ndarray]:
    """The llama tensors in numpy shape (the transpose of ggml's ne order)."""
    rng = np.random.default_rng(spec.seed)

    def normal(*shape: int, std: float) -> np.ndarray:
        return (rng.standard_normal(shape, dtype=np.float32) * std).astype(np.float32)

    ones = np.ones(spec.n_embd, dtype=np.float32)
    printable = np.array(types) == int(gguf.TokenType.NORMAL)
    embedding = normal(VOCAB_SIZE, spec.n_embd, std=0.1)
    embedding[:, BIAS_CHANNEL] = 1.0
    head = normal(VOCAB_SIZE, spec.n_embd, std=0.1)
    head[:, BIAS_CHANNEL] = np.where(printable, BIAS, -BIAS)
    out = {"token_embd.weight": embedding}
    for layer in range(spec.n_layer):
        block = f"blk.{layer}"
        out[f"{block}.attn_norm.weight"] = ones
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            out[f"{block}.{name}.weight"] = normal(spec.n_embd, spec.n_embd, std=0.02)
        out[f"{block}.ffn_norm.weight"] = ones
        out[f"{block}.ffn_gate.weight"] = normal(spec.n_ff, spec.n_embd, std=0.02)
        out[f"{block}.ffn_up.weight"] = normal(spec.n_ff, spec.n_embd, std=0.02)
        out[f"{block}.ffn_down.weight"] = normal(spec.n_embd, spec.n_ff, std=0.02)
    out["output_norm.weight"] = ones
    out["output.weight"] = head
    return out


def write_model(spec: ModelSpec, path: Path) -> str:
    """Write ``spec`` to ``path`` atomically (temp file + rename); return its SHA-256."""
    tokens, scores, types = vocabulary()
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    temp = Path(temp_name)
    try:
        writer = gguf.GGUFWriter(temp, arch="llama")
        writer.add_name(spec.name)
        writer.add_file_type(int(gguf.LlamaFileType.ALL_F32))
        writer.add_vocab_size(VOCAB_SIZE)
        writer.add_context_length(spec.context_length)
        writer.add_embedding_length(spec.n_embd)
        writer.add_block_count(spec.n_layer)
        writer.add_feed_forward_length(spec.n_ff)
        writer.add_head_count(spec.n_head)
        writer.add_head_count_kv(spec.n_head)
        writer.add_rope_dimension_count(spec.n_embd // spec.n_head)
        writer.add_layer_norm_rms_eps(1e-5)
        writer.add_tokenizer_model("llama")
        writer.add_token_list(tokens)
        writer.add_token_scores(scores)
        writer.add_token_types(types)
        writer.add_unk_token_id(UNK)
        writer.add_bos_token_id(BOS)
        writer.add_eos_token_id(EOS)
        writer.add_add_bos_token(True)
        writer.add_add_eos_token(False)
        for name, array in tensors(spec, types).items():
            writer.add_tensor(name, array)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        temp.chmod(0o644)
        temp.replace(path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return sha256_file(path)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def cached_model(spec: ModelSpec, cache_dir: Path) -> tuple[Path, str]:
    """The model file for ``spec`` under ``cache_dir``, generated on first use; (path, sha256)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"{spec.name}-{spec.cache_key}.gguf"
    digest_file = path.with_suffix(".sha256")
    if path.exists() and digest_file.exists():
        return path, digest_file.read_text().strip()
    digest = write_model(spec, path)
    digest_file.write_text(digest + "\n")
    return path, digest


def main(argv: list[str]) -> int:
    out = Path(argv[1])
    spec = SPECS[argv[2] if len(argv) > 2 else "tiny"]
    print(write_model(spec, out), out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
