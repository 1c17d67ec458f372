"""Handing freed memory back to the operating system (glibc's allocator).

ONNX Runtime without its arena (the lean default, `embed.OnnxMiniLM`) frees each
run's tensors, but glibc keeps freed heap pages for reuse: embedding a
conversation left ~120 MiB of them mapped in the server (docs/PERFORMANCE.md,
memory section). `release()` returns them. glibc also gives each thread that
allocates while another holds the lock an arena of its own (up to 8 per core),
and freed memory stays scattered over all of them: `limit_arenas()` caps their
number. Elsewhere than glibc both do nothing.
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


M_ARENA_MAX = -8  # mallopt's parameter number, from glibc's malloc.h


def limit_arenas(arenas: int) -> None:
    """Let glibc's allocator use at most `arenas` arenas from now on; call it before the
    process starts its threads (arenas already made stay)."""
    libc = _glibc()
    if libc is not None:
        libc.mallopt(M_ARENA_MAX, arenas)


def release() -> None:
    """Return the allocator's free pages to the operating system (malloc_trim)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
