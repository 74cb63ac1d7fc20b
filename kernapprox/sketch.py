"""Sketch operators ``S ∈ R^{n×s}`` with ``E[S Sᵀ] = I_n`` (where the construction promises it).

``S = make_sketch(kind, n, s, rng=..., **options)`` returns a :class:`Sketch` of shape (n, s) that is
applied without forming a dense matrix when the structure allows it:

* ``S.T @ A`` (A of shape (n, k)) → (s, k): the sketch of the rows of A;
* ``A @ S`` (A of shape (k, n)) → (k, s): e.g. ``K @ S`` for a kernel block;
* ``S @ B`` (B of shape (s, k)) → (n, k) and ``B @ S.T`` (B of shape (k, s)) → (k, n);
* ``S.to_dense()``, ``S.shape``, ``S.T`` (a transposed view, shape (s, n)).

Kinds (algorithms.md §1.1, §5.2):

=================  ==============================================================  ================
kind               column j of S                                                   E[S Sᵀ] = I_n
=================  ==============================================================  ================
"gaussian"         i.i.d. N(0, 1/s) entries                                        yes
"rademacher"       i.i.d. ±1/√s entries                                            yes
"srht"             √(N/s) D Hᵀ e_{i_j}: rows of a randomised Hadamard transform    yes
"sparse_sign"      each ROW of S has ζ nonzeros ±1/√ζ (Tropp et al. sparse sign)   yes
"countsketch"      sparse_sign with ζ = 1                                          yes
"subsample"        e_{i_j} / √(s p_{i_j}), i_j ~ p (Skeinformer Def. 3.1)          yes (replace=True,
                                                                                   or uniform)
"accumulated"      √(n/(m s)) Σ_{t≤m} r_{tj} e_{J_{tj}} (Chen & Yang 2021)         yes
=================  ==============================================================  ================

References
----------
Woodruff, "Sketching as a tool for numerical linear algebra", FnT-TCS 2014 (§2.1 JL, §2.1 CountSketch);
Tropp, "Improved analysis of the subsampled randomized Hadamard transform", 2011 (SRHT);
Tropp, Yurtsever, Udell, Cevher, SIAM J. Sci. Comput. 2019, §3.3 (sparse sign);
Chen, Zeng, Hakkani-Tur, Jin, Ji, Yang (Skeinformer), NAACL 2022, Def. 3.1; Chen & Yang,
"Accumulations of projections — a unified framework for random sketches in kernel ridge regression",
AISTATS 2021 (accumulated sub-sampling); algorithms.md §1.1, §5.2.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._numba.fwht import fwht_rows, next_pow2
from ._random import rademacher
from ._validation import as_generator, check_choice, check_int, check_matrix, check_size_product, fail

__all__ = ["make_sketch", "Sketch", "DenseSketch", "SparseSketch", "SRHTSketch", "KINDS"]

KINDS = ("gaussian", "rademacher", "srht", "sparse_sign", "countsketch", "subsample", "accumulated")

#: default number of nonzeros per row of a sparse sign sketch (Tropp et al. 2019 recommend ζ = 8)
SPARSE_SIGN_ZETA = 8


class Sketch:
    """Base class of sketch operators of shape (n, s). Subclasses implement ``_rsketch`` (Sᵀ A) and
    ``_expand`` (S B) on 2-D arrays; everything else derives from these two."""

    kind = ""
    identity_in_expectation = True
    __array_ufunc__ = None  # make ``ndarray @ S`` defer to ``S.__rmatmul__``

    def __init__(self, n: int, s: int):
        self.n, self.s = int(n), int(s)

    @property
    def shape(self):
        return (self.n, self.s)

    @property
    def T(self) -> "_Transposed":
        return _Transposed(self)

    # -- the two primitive products ------------------------------------------------------------
    def _rsketch(self, A: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        """Sᵀ A for A (n, k) → (s, k)."""
        raise NotImplementedError

    def _expand(self, B: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        """S B for B (s, k) → (n, k)."""
        raise NotImplementedError

    # -- public products -----------------------------------------------------------------------
    @staticmethod
    def _as2d(A, func, name, rows):
        A = check_matrix(A, func, name, ndim=None)
        if A.ndim > 2:
            raise fail(func, name, "be a 1-D or 2-D array", f"shape {A.shape}")
        vec = A.ndim == 1
        A2 = A[:, None] if vec else A
        if A2.shape[0] != rows:
            raise fail(func, name, f"have {rows} rows", f"shape {A.shape}")
        return A2, vec

    def rmatmul_T(self, A):
        """``Sᵀ @ A`` for A of shape (n,) or (n, k)."""
        A2, vec = self._as2d(A, f"{type(self).__name__}.T @", "A", self.n)
        out = self._rsketch(A2)
        return out[:, 0] if vec else out

    def matmul(self, B):
        """``S @ B`` for B of shape (s,) or (s, k)."""
        B2, vec = self._as2d(B, f"{type(self).__name__} @", "B", self.s)
        out = self._expand(B2)
        return out[:, 0] if vec else out

    def __matmul__(self, B):
        return self.matmul(B)

    def __rmatmul__(self, A):
        """``A @ S`` = (Sᵀ Aᵀ)ᵀ for A of shape (k, n) or (n,)."""
        A = np.asarray(A)
        if A.ndim == 1:
            return self.rmatmul_T(A)
        return self.rmatmul_T(A.T).T

    def to_dense(self) -> np.ndarray:
        """The (n, s) matrix (float64)."""
        return self._expand(np.eye(self.s))

    def support(self) -> np.ndarray | None:
        """Sorted row indices where S is nonzero (None: dense). ``K S`` then needs only K[:, support]."""
        return None

    def __repr__(self):
        return f"{type(self).__name__}(kind={self.kind!r}, shape={self.shape})"


class _Transposed:
    """Sᵀ as an operator of shape (s, n)."""

    __array_ufunc__ = None

    def __init__(self, S: Sketch):
        self._S = S

    @property
    def shape(self):
        return (self._S.s, self._S.n)

    @property
    def T(self) -> Sketch:
        return self._S

    def __matmul__(self, A):
        return self._S.rmatmul_T(A)

    def __rmatmul__(self, B):
        B = np.asarray(B)
        if B.ndim == 1:
            return self._S.matmul(B)
        return self._S.matmul(B.T).T

    def to_dense(self) -> np.ndarray:
        return self._S.to_dense().T

    def __repr__(self):
        return f"Transposed({self._S!r})"


class DenseSketch(Sketch):
    """A sketch stored as a dense (n, s) float64 matrix (Gaussian, Rademacher, or user-given)."""

    def __init__(self, S, kind: str = "dense"):
        S = check_matrix(S, "DenseSketch", "S", ndim=2, dtype=np.float64)
        super().__init__(*S.shape)
        self.S = S
        self.kind = kind
        self._cast = {np.dtype(np.float64): S}

    def _mat(self, dt):
        dt = np.dtype(dt) if np.dtype(dt) in (np.float32, np.float64) else np.dtype(np.float64)
        if dt not in self._cast:
            self._cast[dt] = self.S.astype(dt)
        return self._cast[dt]

    def _rsketch(self, A):
        return self._mat(A.dtype).T @ A

    def _expand(self, B):
        return self._mat(B.dtype) @ B

    def to_dense(self):
        return self.S.copy()


class SparseSketch(Sketch):
    """A sketch stored as a scipy.sparse CSR matrix of shape (n, s) (sub-sampling, sparse sign,
    CountSketch, accumulated). Products cost O(nnz · k)."""

    def __init__(self, S, kind: str = "sparse", identity_in_expectation: bool = True):
        S = sp.csr_matrix(S, dtype=np.float64)
        S.eliminate_zeros()
        super().__init__(*S.shape)
        self.S = S
        self.ST = S.T.tocsr()
        self.kind = kind
        self.identity_in_expectation = identity_in_expectation

    def _rsketch(self, A):
        out = self.ST @ A
        return out.astype(A.dtype, copy=False) if A.dtype == np.float32 else out

    def _expand(self, B):
        out = self.S @ B
        return out.astype(B.dtype, copy=False) if B.dtype == np.float32 else out

    def to_dense(self):
        return self.S.toarray()

    def support(self):
        return np.flatnonzero(np.diff(self.S.indptr))

    @property
    def nnz(self) -> int:
        return int(self.S.nnz)


class SRHTSketch(Sketch):
    """Subsampled randomised Hadamard transform ``Sᵀ = √(N/s) P H D`` (N = n padded to a power of
    two, H the normalised Walsh–Hadamard matrix, D Rademacher diagonal, P selects s rows uniformly
    without replacement). ``Sᵀ A`` costs O(N k log N) through the fast Walsh–Hadamard transform.

    Parameters
    ----------
    signs : ndarray of shape (N,), entries ±1 — the diagonal D (entries beyond n unused).
    rows : int ndarray of shape (s,) — the selected rows of H D, distinct, in [0, N).
    n : int

    References
    ----------
    Tropp 2011; Woodruff 2014, §2.1.
    """

    kind = "srht"

    def __init__(self, signs, rows, n: int):
        signs = np.asarray(signs, dtype=np.float64)
        N = signs.shape[0]
        if N != next_pow2(N) or N < n:
            raise fail("SRHTSketch", "signs", f"have a power-of-two length >= n = {n}", f"length {N}")
        rows = np.asarray(rows, dtype=np.intp)
        super().__init__(n, rows.shape[0])
        self.signs, self.rows, self.N = signs, rows, N
        self.scale = np.sqrt(N / self.s) / np.sqrt(N)  # √(N/s) times the 1/√N of normalised H

    def _rsketch(self, A):
        dt = np.dtype(A.dtype if A.dtype in (np.float32, np.float64) else np.float64)
        T = np.zeros((A.shape[1], self.N), dtype=dt)  # transposed: FWHT runs along contiguous rows
        T[:, : self.n] = A.T
        T[:, : self.n] *= self.signs[: self.n].astype(dt)
        fwht_rows(T)
        out = T[:, self.rows].T
        out *= dt.type(self.scale)
        return np.ascontiguousarray(out)

    def _expand(self, B):
        dt = np.dtype(B.dtype if B.dtype in (np.float32, np.float64) else np.float64)
        T = np.zeros((B.shape[1], self.N), dtype=dt)
        T[:, self.rows] = B.T
        fwht_rows(T)
        out = T[:, : self.n].T * self.signs[: self.n, None].astype(dt)
        out *= dt.type(self.scale)
        return np.ascontiguousarray(out)


def _distinct_columns(gen, n: int, s: int, zeta: int) -> np.ndarray:
    """(n, zeta) column indices, each row a uniformly random zeta-subset of [s]."""
    if zeta == 1:
        return gen.integers(0, s, size=(n, 1))
    if s <= 4 * zeta or n * s <= 4_000_000:
        # argpartition of uniforms: exact uniform subsets, O(n s) work
        return np.argpartition(gen.random((n, s)), zeta - 1, axis=1)[:, :zeta]
    # s >> zeta: draw with replacement and redraw the rows that hold a repeat (rare: P ≈ zeta²/(2s))
    cols = gen.integers(0, s, size=(n, zeta))
    while True:
        srt = np.sort(cols, axis=1)
        bad = np.flatnonzero((srt[:, 1:] == srt[:, :-1]).any(axis=1))
        if bad.size == 0:
            return cols
        cols[bad] = gen.integers(0, s, size=(bad.size, zeta))


def make_sketch(kind: str, n: int, s: int, *, rng=None, **options) -> Sketch:
    """Draw a sketch operator ``S`` of shape (n, s).

    Parameters
    ----------
    kind : {"gaussian", "rademacher", "srht", "sparse_sign", "countsketch", "subsample", "accumulated"}
    n : int — ambient dimension (rows of the sketched matrix).
    s : int — sketch size.
    rng : None, int, SeedSequence or Generator
    **options
        "sparse_sign": ``zeta`` (nonzeros per row, default min(8, s)).
        "subsample": ``p`` (probabilities over [n], default uniform), ``replace`` (True),
        ``weighted`` (True: columns e_i/√(s p_i); False: plain selection e_i, which changes nothing
        for Nyström but breaks E[S Sᵀ] = I).
        "accumulated": ``m`` (number of accumulated sub-sampling terms, default 4; m = 1 is uniform
        sub-sampling with random signs).

    Returns
    -------
    Sketch
        ``S.T @ A``, ``A @ S``, ``S @ B``, ``S.to_dense()``, ``S.shape``; ``S.support()`` gives the
        rows used by sparse sketches (so ``K S`` needs only those kernel columns).

    Notes
    -----
    Storage: dense kinds O(n s); SRHT O(N + s); sparse kinds O(nnz) with nnz = n ζ (sparse sign),
    s (subsample), s m (accumulated). ``Sᵀ A`` for A (n, k): O(n s k) dense, O(N k log N) SRHT,
    O(nnz k) sparse.

    References
    ----------
    See the module docstring; algorithms.md §1.1 and §5.2.

    Examples
    --------
    >>> import numpy as np, kernapprox as ka
    >>> S = ka.make_sketch("srht", 100, 20, rng=0)
    >>> A = np.random.default_rng(1).normal(size=(100, 3))
    >>> (S.T @ A).shape, np.allclose(S.T @ A, S.to_dense().T @ A)
    ((20, 3), True)
    """
    func = "make_sketch"
    check_choice(kind, KINDS, func, "kind")
    n = check_int(n, func, "n", low=1)
    s = check_int(s, func, "s", low=1)    # s > n is refused by the kinds that need s <= n (srht, subsample w/o replacement)
    check_size_product(func, {"n": n, "s": s})             # the densest kinds hold an n×s array
    gen = as_generator(rng, func)

    def done():
        if options:
            raise TypeError(f"make_sketch: unexpected option(s) {sorted(options)} for kind {kind!r}")

    if kind == "gaussian":
        done()
        return DenseSketch(gen.standard_normal((n, s)) / np.sqrt(s), kind)
    if kind == "rademacher":
        done()
        return DenseSketch(rademacher(gen, (n, s)) / np.sqrt(s), kind)
    if kind == "srht":
        done()
        N = next_pow2(n)
        if s > N:
            raise fail(func, "s", f"be <= {N} (n padded to a power of two) for an SRHT", s)
        return SRHTSketch(rademacher(gen, N), gen.choice(N, size=s, replace=False), n)
    if kind in ("sparse_sign", "countsketch"):
        zeta = 1 if kind == "countsketch" else options.pop("zeta", min(SPARSE_SIGN_ZETA, s))
        done()
        zeta = check_int(zeta, func, "zeta", low=1, high=s)
        # each row i of S gets zeta distinct columns (a uniformly random zeta-subset of [s])
        cols = _distinct_columns(gen, n, s, zeta)
        vals = rademacher(gen, (n, zeta)) / np.sqrt(zeta)
        S = sp.csr_matrix((vals.ravel(), cols.ravel(), np.arange(0, n * zeta + 1, zeta)), shape=(n, s))
        return SparseSketch(S, kind)
    if kind == "subsample":
        p = options.pop("p", None)
        replace = options.pop("replace", True)
        weighted = options.pop("weighted", True)
        done()
        check_choice(replace, (True, False), func, "replace")
        check_choice(weighted, (True, False), func, "weighted")
        if p is not None:
            p = check_matrix(p, func, "p", ndim=1, dtype=np.float64)
            if p.shape[0] != n or np.any(p < 0) or p.sum() <= 0:
                raise fail(func, "p", f"be {n} non-negative probabilities with a positive sum",
                           f"shape {p.shape}")
            p = p / p.sum()
        if not replace and s > n:
            raise fail(func, "s", f"be <= n = {n} when sampling without replacement", s)
        if not replace and p is not None and int(np.count_nonzero(p)) < s:
            raise fail(func, "p", f"have at least s = {s} positive entries without replacement",
                       int(np.count_nonzero(p)))
        idx = gen.choice(n, size=s, replace=replace, p=p)
        if weighted:
            w = 1.0 / np.sqrt(s * (p[idx] if p is not None else np.full(s, 1.0 / n)))
        else:
            w = np.ones(s)
        S = sp.csr_matrix((w, (idx, np.arange(s))), shape=(n, s))
        exact = weighted and (replace or p is None)
        out = SparseSketch(S, kind, identity_in_expectation=exact)
        out.indices = idx
        return out
    # accumulated
    m = options.pop("m", 4)
    done()
    m = check_int(m, func, "m", low=1)
    J = gen.integers(0, n, size=(m, s))
    r = rademacher(gen, (m, s)) * np.sqrt(n / (m * s))
    cols = np.broadcast_to(np.arange(s), (m, s))
    S = sp.csr_matrix((r.ravel(), (J.ravel(), cols.ravel())), shape=(n, s))  # duplicates are summed
    out = SparseSketch(S, kind)
    out.m = m
    return out
