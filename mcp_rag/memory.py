"""Handing freed memory back to the operating system (glibc's allocator).

ONNX Runtime without its arena (the lean default, `embed.OnnxMiniLM`) frees each
run's tensors, but glibc keeps freed heap pages for reuse: embedding a
conversation left ~120 MiB of them mapped in the server (docs/PERFORMANCE.md,
memory section). `release()` returns them. Elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import lru_cache


@lru_cache(maxsize=1)
def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


def release() -> None:
    """Return the allocator's free pages to the operating system (malloc_trim)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
