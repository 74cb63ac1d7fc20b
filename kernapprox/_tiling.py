"""The one tiling and memory policy of the package: tile sizes from one byte budget, one eps.

Every streamed loop (kernel products, Nyström factors, attention score tiles, Lanczos blocks,
bootstrap replicates) sizes its tiles here, so that the working set of a call is predictable:
``TILE_BYTES`` per live tile plus the output.

Why tiles of a few MiB, and why one buffer per loop: on the target machines (2 cores, shared
caches) touching fresh pages costs more than the arithmetic on them — a first call that allocates
its temporaries anew runs 2–3x slower than a later one that finds them mapped. Loops therefore
allocate one tile buffer (:func:`tile_buffer`) and overwrite it, rather than a temporary per tile,
and tiles are tall enough that a parallel numba launch (a few ms of fixed cost) is amortised.
"""
from __future__ import annotations

import numpy as np

__all__ = ["TILE_BYTES", "EPS", "eps_of", "out_dtype", "tile_rows", "row_tiles", "tile_buffer"]

#: The byte budget of one live tile (8 MiB: one (1024 × 1024) float64 block).
TILE_BYTES = 8 * 1024 * 1024

#: Unit roundoff of float64, the package's default working precision.
EPS = float(np.finfo(np.float64).eps)


def out_dtype(*arrays_or_dtypes) -> np.dtype:
    """float32 if every argument (an array, a dtype or an object with ``.dtype``) is float32, else float64."""
    dts = [np.dtype(getattr(a, "dtype", a)) for a in arrays_or_dtypes]
    return np.dtype(np.float32) if dts and all(d == np.float32 for d in dts) else np.dtype(np.float64)


def eps_of(dtype_or_array) -> float:
    """Unit roundoff of the working dtype of ``dtype_or_array`` (float32 or float64)."""
    return float(np.finfo(out_dtype(dtype_or_array)).eps)


def tile_rows(width: int, itemsize: int = 8, *, budget: int = TILE_BYTES, low: int = 16,
              high: int = 8192, n: int | None = None) -> int:
    """Rows per tile so that a ``(rows × width)`` tile of ``itemsize``-byte entries is about ``budget``.

    ``clip(budget // (width · itemsize), low, high)``, and at most ``n`` (the number of rows there
    are) when given, at least 1.
    """
    rows = int(max(low, min(high, budget // max(1, int(width) * int(itemsize)))))
    if n is not None:
        rows = min(rows, max(1, int(n)))
    return max(1, rows)


def row_tiles(n: int, rows: int):
    """Consecutive ``(i0, i1)`` row ranges of at most ``rows`` rows covering ``range(n)``."""
    for i0 in range(0, int(n), int(rows)):
        yield i0, min(int(n), i0 + int(rows))


def tile_buffer(rows: int, width: int, dtype) -> np.ndarray:
    """One C-contiguous ``(rows, width)`` buffer to overwrite tile after tile (slice ``buf[:i1 - i0]``)."""
    return np.empty((int(rows), int(width)), dtype=dtype)
