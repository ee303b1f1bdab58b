"""Does a model fit in memory? Load refuses a model larger than what the kernel says is free.

llama-server maps the model file and needs roughly its size in RAM (plus the KV cache, which
the size check does not guess at). MemAvailable is the kernel's own estimate of memory that
can be used without swapping.
"""

from pathlib import Path

MEMINFO = Path("/proc/meminfo")
GIB = 1 << 30


def available_memory(meminfo: Path = MEMINFO) -> int | None:
    """MemAvailable in bytes, or None if the kernel does not say."""
    try:
        text = meminfo.read_text(encoding="ascii")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key == "MemAvailable":
            fields = rest.split()
            if fields and fields[0].isdigit():
                return int(fields[0]) * 1024
    return None


def memory_refusal(model_size: int, available: int | None) -> str | None:
    """A sentence refusing the load, or None if the model fits (or nothing is known)."""
    if available is None or model_size <= available:
        return None
    return (
        f"not enough memory: model needs {model_size / GIB:.1f} GiB, "
        f"{available / GIB:.1f} GiB available (LoadWithOptions with force=true tries anyway)"
    )
