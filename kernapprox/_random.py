"""Random draws shared by several modules (one implementation each).

Every function takes a ``numpy.random.Generator`` already normalised by
:func:`kernapprox._validation.as_generator`; none touches global state.
"""
from __future__ import annotations

import numpy as np

__all__ = ["rademacher", "sample_proportional"]


def rademacher(gen: np.random.Generator, shape, dtype=np.float64) -> np.ndarray:
    """I.i.d. ±1 entries (probability 1/2 each) of the given shape and dtype.

    Drawn as ``gen.choice([-1, 1], size=shape)`` (one uniform integer per entry), the stream every
    ±1 draw site of the package uses, so equal seeds give equal signs wherever they are drawn.
    """
    return gen.choice(np.array([-1.0, 1.0]), size=shape).astype(dtype, copy=False)


def sample_proportional(weights: np.ndarray, size: int, gen: np.random.Generator) -> np.ndarray:
    """``size`` i.i.d. indices with ``P(i) ∝ weights[i]`` (weights >= 0, positive sum), by inverse-CDF search.

    ``searchsorted`` on the cumulative sums of ``weights`` with uniforms scaled to the total; an
    index with zero weight is never drawn. Returns an ``intp`` array of shape ``(size,)``.
    """
    c = np.cumsum(weights, dtype=np.float64)
    u = gen.random(size) * c[-1]
    s = np.searchsorted(c, u, side="right")
    return np.minimum(s, c.size - 1).astype(np.intp)
