"""Performer / FAVOR+ attention (Choromanski et al., ICLR 2021; algorithms.md §9.2, §2.10).

Softmax attention ``D⁻¹ A V`` with ``A = exp(Q Kᵀ/√p) = SM(Q̂, K̂)`` (Q̂ = Q/p^¼, K̂ = K/p^¼) is
replaced by ``diag(φ(Q̂) φ(K̂)ᵀ 1)⁻¹ φ(Q̂) (φ(K̂)ᵀ V)`` with random features φ of the softmax kernel:

* ``kind="positive"`` (FAVOR+): ``φ(x) = exp(ωᵀx − ‖x‖²/2)/√d`` — positive, so the denominator is
  positive;
* ``kind="hyperbolic"``: ``exp(−‖x‖²/2)/√(2d) [exp(ωᵀx), exp(−ωᵀx)]`` — positive, lower variance;
* ``kind="trig"``: ``exp(‖x‖²/2)/√d [cos ωᵀx, sin ωᵀx]`` — unbiased but the denominator can be ≤ 0.

Options that separate the paper from the authors' / the Skyformer LRA code (all named, none hidden):

* ``orthogonal`` (default True) and ``scaling`` (0: χ_p row norms, keeps Gaussian marginals;
  1: √p row norms) — ``gaussian_orthogonal_random_matrix`` of the reference code;
* ``stabilizer``: how the exponents are shifted before ``exp`` and whether an ε is added after it.
  The shifts of the exact stabilisers cancel in the row normalisation; the reference codes add ε
  after ``exp``, which does not cancel, so each reference's exact shift is its own named option:

  =======================  ====================================================  ====  ============================
  ``stabilizer``           shift subtracted from the exponent before ``exp``     ε     reproduces
  =======================  ====================================================  ====  ============================
  ``"exact"`` (default)    keys: per-feature max ``c_f`` of ``ω_fᵀk̂ − ‖k̂‖²/2``;  0     the paper's estimator
                           queries: row max of ``ωᵀq̂ − ‖q̂‖²/2 + c`` (c moved           (Lemma 1), safeguarded
                           to the query side, so every shift cancels)
  ``"none"``               nothing (overflows / underflows for large ‖x̂‖)        0     the paper's formula as is
  ``"skyformer"``          queries: row max of ``ωᵀq̂`` only; keys: max of        1e-4  Skyformer / Skeinformer
                           ``ωᵀk̂`` over the WHOLE batch tensor (``key_max``)           repos' ``performer.py``
  ``"performer_pytorch"``  queries as "skyformer"; keys: max of ``ωᵀk̂`` per      1e-4  lucidrains performer-pytorch
                           head (over the head's keys and features)                    ``FastAttention``
  ``"google_research"``    as "performer_pytorch"                                1e-6  google-research
                                                                                       ``performer/fast_attention``
  =======================  ====================================================  ====  ============================

  The reference stabilisers compute ``φ(x) = d^{-1/2}(exp(ωᵀx̂ − ‖x̂‖²/2 − M) + ε)`` exactly as the
  code (``x̂ = x·p^{-1/4}``, ``‖x̂‖²/2`` formed as ``Σx²/2·p^{-1/2}``); they are for positive
  features only. ``feature_eps`` overrides the ε (``feature_eps=None``: the column above).
  Without ε the three reference shifts cancel like the exact one; with ε they bias the estimate
  differently (measured, n = 256, p = 16, d = 32: "skyformer" vs "exact" 7e-3 relative for
  N(0, 0.5²) inputs and 1.0 for N(0, 2²); "google_research" vs "exact" 7e-5 and 0.7).
  Presets of the oracle (:data:`kernapprox.oracle.VARIANTS`): ``"paper"`` = ``"exact"``,
  ``"code"`` = ``"performer_pytorch"`` (ε 1e-4), ``"lra-double-scaling"`` = ``"skyformer"`` with
  ``double_scaling=True`` (the Skyformer LRA code path). ``stabilize=False`` is
  ``stabilizer="none"``.

  Safeguard of the default ("exact"): with the per-feature key shift every column of φ(K̂) has an
  entry equal to d^{-1/2} and every row of φ(Q̂) an entry whose exponent is the row's largest, so
  the denominator is ≥ d^{-1} > 0 and every output row is a convex combination of rows of V, finite
  at every input scale (×1e8 included) — mathematically the same estimator as "none". Inputs whose
  ``‖x̂‖²`` overflows the dtype are refused with a ValueError. (The reference stabilisers with
  ε > 0 are finite too, every feature being ≥ ε d^{-1/2}; a single global key shift without ε
  is not: once Q, K are scaled by ~300 every key feature a query weights underflows and the row
  becomes 0/0.)
* Padding: the reference codes zero the padded keys (Skyformer: ``K·mask``, ``V·mask``; performer-pytorch:
  ``k.masked_fill``) and keep them in the sums, where each adds ``d^{-1/2}(exp(−M) + ε)`` to every key
  feature; ``approximate(..., key_padding_mask=...)`` drops padded keys instead. To reproduce the
  codes on padded batches pass the zero-padded K, V without ``key_padding_mask``.
* ``double_scaling`` (default False): the Skyformer/Skeinformer LRA code divides Q, K by p^¼ twice,
  so it approximates ``exp(q·k/p)`` instead of ``exp(q·k/√p)`` (algorithms.md §2.10, §12).

The randomness is the projection ``omega`` (d, p), drawn by :func:`draw` (also ``performer.draw``).
"""
from __future__ import annotations

import numpy as np

from .._validation import as_generator, check_choice, check_matrix, fail
from ..features import SoftmaxFeatures, draw_orthogonal
from ._common import check_d, check_d_matches, check_qkv, factor_rows
from ._protocol import AttentionMethod, v_array, v_bool, v_choice, v_optional, v_real

__all__ = ["performer", "draw", "draw_omega", "resolve_options", "default_features", "METHODS"]

_FUNC = "performer"

#: the ε the reference FAVOR+ PyTorch codes add to every stabilised feature (Skyformer repo, performer-pytorch)
REFERENCE_EPS = 1e-4
#: the ε (``numerical_stabilizer``) of google-research ``performer/fast_attention`` (JAX and TF)
GOOGLE_EPS = 1e-6
#: stabilizer -> default ε (module docstring table)
STABILIZERS = {"exact": 0.0, "none": 0.0, "skyformer": REFERENCE_EPS, "performer_pytorch": REFERENCE_EPS,
               "google_research": GOOGLE_EPS}
#: the stabilisers that transcribe a reference code's feature map
_REFERENCE_STABILIZERS = ("skyformer", "performer_pytorch", "google_research")


def default_features(p: int) -> int:
    """FAVOR+ default number of random features when none is given: ``int(p · ln p)`` (at least 1)."""
    return max(1, int(p * np.log(p)))


def draw_omega(p: int, d: int, *, orthogonal: bool = True, scaling: int = 0, rng=None) -> np.ndarray:
    """Projection matrix ω of shape (d, p): i.i.d. N(0, I_p) rows, or block-orthogonal rows with χ_p
    (``scaling=0``) or √p (``scaling=1``) norms (Performer §2.4, Thm 2)."""
    gen = as_generator(rng)
    if orthogonal:
        return draw_orthogonal(d, p, scaling=scaling, rng=gen)
    return gen.standard_normal((d, p))


def draw(Q, K, V, *, d=None, rng=None, omega=None, orthogonal=True, scaling=0) -> dict:
    """Performer's projection ``omega`` (d, p) for one head (``d=None``: ``int(p ln p)``)."""
    p = Q.shape[1]
    if omega is None:
        d = default_features(p) if d is None else check_d(d, _FUNC)
        check_choice(orthogonal, (True, False), _FUNC, "orthogonal")
        check_choice(scaling, (0, 1), _FUNC, "scaling")
        omega = draw_omega(p, d, orthogonal=orthogonal, scaling=scaling, rng=rng)
    omega = check_matrix(omega, _FUNC, "omega", ndim=2)
    if omega.shape[1] != p:
        raise fail(_FUNC, "omega", f"have shape (d, p = {p})", f"shape {omega.shape}")
    return {"omega": omega}



def _resolve_stabilizer(stabilize, stabilizer, feature_eps, kind):
    """(stabilizer, ε) actually used (module docstring table); validates the three options together."""
    check_choice(stabilize, (True, False), _FUNC, "stabilize")
    if stabilizer is None:
        stabilizer = "exact" if stabilize else "none"
    check_choice(stabilizer, tuple(STABILIZERS), _FUNC, "stabilizer")
    if not stabilize and stabilizer != "none":
        raise fail(_FUNC, "stabilizer", "be None or 'none' with stabilize=False", repr(stabilizer))
    if stabilizer in _REFERENCE_STABILIZERS and kind != "positive":
        raise fail(_FUNC, "stabilizer", f"be 'exact' or 'none' for kind={kind!r} (the reference codes "
                   "transcribed by the other stabilisers have positive features only)", repr(stabilizer))
    if feature_eps is None:
        return stabilizer, STABILIZERS[stabilizer]
    if isinstance(feature_eps, bool) or not isinstance(feature_eps, (int, float, np.floating, np.integer)) \
            or not np.isfinite(feature_eps) or feature_eps < 0:
        raise fail(_FUNC, "feature_eps", "be None or a finite number >= 0", repr(feature_eps))
    return stabilizer, float(feature_eps)


def _overflow(name, dt):
    return fail(_FUNC, name, f"have squared row norms ‖x/p^¼‖² representable in {dt} (the exponents of the "
                "softmax features)", "an overflow")


def _log_features(X, omega, kind, name):
    """Exponents ``ωᵀx − ‖x‖²/2`` (positive; hyperbolic: ``±ωᵀx − ‖x‖²/2``) of φ for scaled inputs X,
    from :meth:`kernapprox.features.SoftmaxFeatures.log_features` (``name``: the argument X comes from,
    for the refusal of an overflow)."""
    dt = X.dtype
    P, sq = SoftmaxFeatures(omega, kind=kind).log_features(X)
    half = 0.5 * sq
    if not np.all(np.isfinite(half)):
        raise _overflow(name, dt)
    L = P if kind == "positive" else np.concatenate([P, -P], axis=1)
    L -= half[:, None]
    return L


def _exact_features(Qs, Ks, omega, kind):
    """φ(Q̂), φ(K̂) with the exact stabiliser: per-feature key maxima ``c_f`` moved to the query side,
    then the query row maxima; every shift cancels in ``φ(Q̂)φ(K̂)ᵀ`` up to a positive factor per row."""
    nf = omega.shape[0] if kind == "positive" else 2 * omega.shape[0]
    dt = Qs.dtype
    Lk = _log_features(Ks, omega, kind, "K")
    c = Lk.max(axis=0)
    Lk -= c
    Lq = _log_features(Qs, omega, kind, "Q")
    Lq += c
    Lq -= Lq.max(axis=1, keepdims=True)
    r = dt.type(1.0 / np.sqrt(nf))
    return np.exp(Lq) * r, np.exp(Lk) * r


def _plain_features(X, omega, kind, *, query: bool, stabilize: bool, eps: float):
    """φ(X) without shift (``stabilize=False``) or, for "trig", with the prefactor shift."""
    name = "Q" if query else "K"
    dt = X.dtype
    d = omega.shape[0]
    if kind == "trig":
        P, sq = SoftmaxFeatures(omega, kind=kind).log_features(X)
        logpref = 0.5 * sq
        if not (np.all(np.isfinite(logpref)) and np.all(np.isfinite(P))):
            raise _overflow(name, dt)
        if stabilize:
            logpref = np.zeros_like(logpref) if query else logpref - logpref.max()
        pref = np.exp(logpref) / np.sqrt(d)
        return np.concatenate([np.cos(P), np.sin(P)], axis=1) * pref[:, None].astype(dt)
    L = _log_features(X, omega, kind, name)
    np.exp(L, out=L)
    if eps:
        L += dt.type(eps)
    L *= dt.type(1.0 / np.sqrt(d if kind == "positive" else 2 * d))
    return L


def _reference_features(X, omega, c, *, query: bool, eps: float, key_max=None):
    """The reference codes' ``softmax_kernel`` on one head, transcribed: ``data_dash = (c·X) ωᵀ``,
    ``diag = Σ X² / 2 · c²``, ``ratio·(exp(data_dash − diag − M) + ε)`` with ``M`` the row max of
    ``data_dash`` (queries) or ``key_max`` (keys; default the max of ``data_dash`` over the head)."""
    dt = X.dtype
    ratio = dt.type(omega.shape[0] ** -0.5)
    dash = (c * X) @ omega.T.astype(dt, copy=False)
    diag = (np.einsum("ij,ij->i", X, X) / dt.type(2.0)) * (c * c)
    if not np.all(np.isfinite(diag)) or not np.all(np.isfinite(dash)):
        raise _overflow("Q" if query else "K", dt)
    M = dash.max(axis=1, keepdims=True) if query else (dash.max() if key_max is None else dt.type(key_max))
    return ratio * (np.exp(dash - diag[:, None] - M) + dt.type(eps))


def performer(Q, K, V, *, d=None, rng=None, return_factors: bool = False, kind: str = "positive",
              orthogonal: bool = True, scaling: int = 0, stabilize: bool = True, stabilizer: str | None = None,
              feature_eps: float | None = None, key_max: float | None = None, double_scaling: bool = False,
              omega=None):
    """FAVOR+ (Performer) attention for one head, approximating ``softmax(QKᵀ/√p) V``.

    Parameters
    ----------
    Q : ndarray of shape (n, p)
    K : ndarray of shape (m, p)
    V : ndarray of shape (m, pv)
    d : int, optional
        Number of random projections (features); default ``int(p ln p)``; inferred from ``omega``.
    rng : None, int, SeedSequence or Generator
    return_factors : bool
        Also return ``{"omega", "phi_q" (n, f), "phi_k" (m, f), "kv" (f, pv), "k_sum" (f,),
        "denominator" (n,), "stabilizer", "feature_eps"}`` (f = d, or 2d for hyperbolic / trig).
        ``phi_q phi_kᵀ`` is the estimate of ``A`` up to a positive factor per row (the stabiliser's
        shifts).
    kind : {"positive", "hyperbolic", "trig"}
    orthogonal : bool — block-orthogonal projections (default) or i.i.d. Gaussian.
    scaling : {0, 1} — row norms of orthogonal projections: χ_p draws (0) or √p (1).
    stabilize : bool — ``False`` is ``stabilizer="none"``.
    stabilizer : {None, "exact", "none", "skyformer", "performer_pytorch", "google_research"}
        Shift of the exponents and default ε (module docstring table); None: "exact" (or "none" with
        ``stabilize=False``). The reference stabilisers need ``kind="positive"``.
    feature_eps : float >= 0, optional
        ε added to every positive / hyperbolic feature after ``exp`` (does not cancel); None: the
        stabiliser's own (0 for "exact" / "none", 1e-4 = :data:`REFERENCE_EPS` for "skyformer" and
        "performer_pytorch", 1e-6 = :data:`GOOGLE_EPS` for "google_research"). With "exact" an ε > 0
        reproduces no reference code. Ignored for "trig".
    key_max : float, optional
        ``stabilizer="skyformer"`` only: the maximum of ``ωᵀk̂`` subtracted in the key features. The
        Skyformer code takes it over the whole (batch, head) tensor; :func:`approximate` passes that
        batch maximum for batched inputs; default (one head): the maximum over this head's keys.
    double_scaling : bool — divide Q, K by p^¼ twice (Skyformer LRA code quirk → ``exp(q·k/p)``).
    omega : ndarray of shape (d, p), optional — pre-drawn projections (see :func:`draw`).

    Returns
    -------
    out : ndarray of shape (n, pv)
    factors : dict, only with ``return_factors=True``

    Notes
    -----
    Time O((n + m) d p + (n + m) d pv). Memory: without factors the features are streamed over row
    tiles through one reused (tile, f) buffer of about ``FACTOR_BUDGET`` (``attention._common``), so
    besides the output only O(tile·f + f·pv) (same estimator; the output agrees with the factor path
    up to rounding, another summation order); with ``return_factors`` the full φ(Q̂), φ(K̂),
    O((n + m) d). Unbiased numerator and denominator
    (for ε = 0); the ratio is consistent, not unbiased. With the default stabiliser every output row
    is a convex combination of rows of V (module docstring, safeguard).

    References
    ----------
    Choromanski et al., "Rethinking Attention with Performers", ICLR 2021, Lemma 1 (positive and
    hyperbolic features), Thm 2 (orthogonal features), §2.4; algorithms.md §9.2, §2.10.

    Examples
    --------
    >>> import numpy as np, kernapprox as ka
    >>> Q, K, V = np.random.default_rng(0).normal(size=(3, 64, 8)) * 0.5
    >>> ka.attention.approximate(Q, K, V, method="performer", d=32, rng=0).shape
    (64, 8)
    """
    Q, K, V = check_qkv(Q, K, V, _FUNC)
    check_choice(kind, ("positive", "hyperbolic", "trig"), _FUNC, "kind")
    check_choice(double_scaling, (True, False), _FUNC, "double_scaling")
    stab, eps = _resolve_stabilizer(stabilize, stabilizer, feature_eps, kind)
    if key_max is not None:
        if stab != "skyformer":
            raise fail(_FUNC, "key_max", "be None unless stabilizer='skyformer'", repr(key_max))
        if isinstance(key_max, bool) or not isinstance(key_max, (int, float, np.floating, np.integer)) \
                or not np.isfinite(key_max):
            raise fail(_FUNC, "key_max", "be a finite number", repr(key_max))
    om = draw(Q, K, V, d=d, rng=rng, omega=omega, orthogonal=orthogonal, scaling=scaling)["omega"]
    if omega is not None:
        check_d_matches(d, om.shape[0], _FUNC, "omega", "rows")
    if return_factors:
        return _with_factors(Q, K, V, om, kind, stab, eps, key_max, double_scaling)
    return _streamed(Q, K, V, om, kind, stab, eps, key_max, double_scaling)


def _with_factors(Q, K, V, om, kind, stab, eps, key_max, double_scaling):
    """:func:`performer` with ``return_factors=True``: the full feature matrices φ(Q̂), φ(K̂) are formed
    (they are returned), then ``out = φ(Q̂)(φ(K̂)ᵀV) / φ(Q̂)(φ(K̂)ᵀ1)``."""
    p = Q.shape[1]
    dt = Q.dtype
    c = dt.type(p ** -0.25)
    if stab in _REFERENCE_STABILIZERS:
        Q0, K0 = (Q * c, K * c) if double_scaling else (Q, K)
        phi_q = _reference_features(Q0, om, c, query=True, eps=eps)
        phi_k = _reference_features(K0, om, c, query=False, eps=eps,
                                    key_max=key_max if stab == "skyformer" else None)
    else:
        cs = dt.type(p ** (-0.5 if double_scaling else -0.25))
        Qs, Ks = Q * cs, K * cs
        if stab == "exact" and kind != "trig":
            phi_q, phi_k = _exact_features(Qs, Ks, om, kind)
            if eps:
                r = dt.type(eps / np.sqrt(phi_q.shape[1]))
                phi_q += r
                phi_k += r
        else:
            phi_q = _plain_features(Qs, om, kind, query=True, stabilize=stab == "exact", eps=eps)
            phi_k = _plain_features(Ks, om, kind, query=False, stabilize=stab == "exact", eps=eps)
    kv = phi_k.T @ V
    k_sum = phi_k.sum(axis=0)
    den = phi_q @ k_sum
    out = (phi_q @ kv) / den[:, None]
    out = out.astype(dt, copy=False)
    return out, {"omega": om, "phi_q": phi_q, "phi_k": phi_k, "kv": kv, "k_sum": k_sum, "denominator": den,
                 "stabilizer": stab, "feature_eps": eps,
                 "n_evals": (Q.shape[0] + K.shape[0]) * om.shape[0], "exact_fraction": 0.0}


def _exponents_into(X, omT, kind, name, buf, scale=None):
    """Exponents of φ for the row tile X written into ``buf`` (t, f): positive ``ωᵀx − ‖x‖²/2``,
    hyperbolic ``[ωᵀx, −ωᵀx] − ‖x‖²/2`` (the values of :func:`_log_features`); for the reference codes
    (``scale`` = p^{-1/4}) ``(scale·x)ωᵀ − Σx²/2·scale²`` before their shift (:func:`_reference_features`).
    Returns ``(E, P)``: E = buf and P its ``ωᵀx`` block (the left d columns, before the norm term)."""
    dt = X.dtype
    d = omT.shape[1]
    P = buf[:, :d]
    if scale is None:
        np.matmul(X, omT, out=P)
        half = 0.5 * np.einsum("ij,ij->i", X, X)
        if not np.all(np.isfinite(half)):
            raise _overflow(name, dt)
        if kind != "positive":
            np.negative(P, out=buf[:, d:])
        buf -= half[:, None]
        return buf, None
    np.matmul(scale * X, omT, out=P)
    half = (np.einsum("ij,ij->i", X, X) / dt.type(2.0)) * (scale * scale)
    if not np.all(np.isfinite(half)) or not np.all(np.isfinite(P)):
        raise _overflow(name, dt)
    Pmax = P.max(axis=1, keepdims=True)
    buf -= half[:, None]
    return buf, Pmax


def _trig_into(X, omT, name, G, P):
    """``[cos ωᵀx, sin ωᵀx]`` of the row tile X into G (t, 2d) (P: a (t, d) scratch view) and ``‖x‖²/2``."""
    d = omT.shape[1]
    np.matmul(X, omT, out=P)
    a = 0.5 * np.einsum("ij,ij->i", X, X)
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(P))):
        raise _overflow(name, X.dtype)
    np.cos(P, out=G[:, :d])
    np.sin(P, out=G[:, d:])
    return G, a


def _streamed(Q, K, V, om, kind, stab, eps, key_max, double_scaling):
    """:func:`performer` without the factors, streamed over row tiles with one reused tile buffer.

    Keys: ``A = Σ_i w_i v_iᵀ`` and ``z = Σ_i w_i`` with ``w_i = exp(e_i − s)`` (e_i the row of exponents;
    trig: ``[cos, sin] exp(‖k̂‖²/2 − s)``) are accumulated tile by tile under a running shift s — per
    feature for "exact" (positive / hyperbolic), one scalar for the reference codes without
    ``key_max`` and for stabilised "trig", fixed otherwise — and rescaled by ``exp(s_old − s_new)``
    when a tile raises it (the running maximum of streamed softmax). At the end s is the shift of the
    full formula, so ``φ(K̂)ᵀV = r (A + ε Σ_i v_i)`` and ``φ(K̂)ᵀ1 = r (z + ε m)`` (r = f^{-1/2}, trig
    d^{-1/2}) equal those of :func:`_with_factors` up to rounding (another summation order).
    Queries: each tile's rows of φ(Q̂), then ``(φ kv) / (φ k_sum)`` into the output rows.
    Extra memory: one (t, f) tile of about ``FACTOR_BUDGET`` (trig: two) plus O(f pv), whatever n, m.
    """
    n, p = Q.shape
    m = K.shape[0]
    dt = Q.dtype
    d = om.shape[0]
    f = d if kind == "positive" else 2 * d
    trig = kind == "trig"
    omT = om.T.astype(dt, copy=False)
    ref = stab in _REFERENCE_STABILIZERS
    c = dt.type(p ** -0.25)
    if ref:
        # the codes' x̂ = (c·x) formed inside _exponents_into; double scaling pre-divides once more
        Qs, Ks = (Q * c, K * c) if double_scaling else (Q, K)
        cs, scale = None, c
    else:
        Qs, Ks = Q, K
        cs, scale = dt.type(p ** (-0.5 if double_scaling else -0.25)), None
    r = dt.type((d if (trig or ref) else f) ** -0.5)
    if stab == "exact":
        mode = "scalar" if trig else "feature"
    elif ref and not (stab == "skyformer" and key_max is not None):
        mode = "scalar"
    else:
        mode = "fixed"
    s = dt.type(key_max) if (ref and mode == "fixed") else dt.type(0.0)
    if mode == "feature":
        s = np.full(f, -np.inf, dtype=dt)
    elif mode == "scalar":
        s = dt.type(-np.inf)
    rows = min(factor_rows(f, dt.itemsize), max(n, m, 1))
    buf = np.empty((rows, f), dtype=dt)
    Pbuf = np.empty((rows, d), dtype=dt) if trig else None
    pv = V.shape[1]
    A = np.zeros((f, pv), dtype=np.result_type(dt, V.dtype))
    z = np.zeros(f, dtype=dt)
    for i0 in range(0, m, rows):
        i1 = min(m, i0 + rows)
        t = i1 - i0
        X = Ks[i0:i1] if ref else Ks[i0:i1] * cs
        if trig:
            W, a = _trig_into(X, omT, "K", buf[:t], Pbuf[:t])
            if mode == "scalar":
                new = max(s, a.max())
                if new > s:
                    A *= np.exp(s - new)
                    z *= np.exp(s - new)
                    s = new
            W *= np.exp(a - s)[:, None]
        else:
            E, Pmax = _exponents_into(X, omT, kind, "K", buf[:t], scale=scale)
            if mode != "fixed":
                # exact: per-feature max of the exponents; reference codes: max of (c·k)ωᵀ over the head
                new = np.maximum(s, E.max(axis=0) if mode == "feature" else Pmax.max())
                if np.any(new > s):
                    g = np.exp(s - new)                       # 0 where s was −inf (A, z are 0 there)
                    A *= g[:, None] if mode == "feature" else g
                    z *= g
                    s = new
            if mode == "feature" or s != 0:
                E -= s
            W = np.exp(E, out=E)
        A += W.T @ V[i0:i1]
        z += W.sum(axis=0)
    if eps and not trig:
        A += dt.type(eps) * V.sum(axis=0)
        z += dt.type(eps) * dt.type(m)
    kv = A * r
    k_sum = z * r
    out = np.empty((n, pv), dtype=np.result_type(dt, V.dtype))
    for i0 in range(0, n, rows):
        i1 = min(n, i0 + rows)
        t = i1 - i0
        X = Qs[i0:i1] if ref else Qs[i0:i1] * cs
        if trig:
            W, a = _trig_into(X, omT, "Q", buf[:t], Pbuf[:t])
            if stab != "exact":
                W *= np.exp(a)[:, None]
        else:
            E, Pmax = _exponents_into(X, omT, kind, "Q", buf[:t], scale=scale)
            if stab == "exact":
                E += s
                E -= E.max(axis=1, keepdims=True)
            elif ref:
                E -= Pmax
            W = np.exp(E, out=E)
            if eps:
                W += dt.type(eps)
        den = W @ k_sum
        np.divide(W @ kv, den[:, None], out=out[i0:i1])
    return out.astype(dt, copy=False)


def resolve_options(options: dict, *, d=None, dtype=None) -> dict:
    """The options with ``stabilizer`` and ``feature_eps`` resolved (module docstring table)."""
    out = dict(options)
    stab, eps = _resolve_stabilizer(out.get("stabilize", True), out.get("stabilizer"), out.get("feature_eps"),
                                    out.get("kind", "positive"))
    out["stabilizer"], out["feature_eps"] = stab, eps
    return out


def _batch_prepare(Q, K, V, *, omega=None, stabilizer=None, key_max=None, double_scaling=False) -> dict:
    """``stabilizer="skyformer"``: the Skyformer code's key maximum, ``max ωᵀk̂`` over the whole batch
    tensor (one scalar shared by every item). Called by the dispatcher after every item's ``omega``
    is drawn."""
    if stabilizer != "skyformer" or key_max is not None or omega is None:
        return {}
    batch = Q.shape[:-2]
    om_all = np.asarray(omega)
    p = Q.shape[-1]
    dt = Q.dtype
    c = dt.type(p ** -0.25)
    best = -np.inf
    for b in np.ndindex(*batch):
        om = om_all[b] if om_all.ndim > 2 else om_all
        X = K[b] * c if double_scaling else K[b]
        best = max(best, float(((c * X) @ om.T.astype(dt, copy=False)).max()))
    return {"key_max": best}


METHODS = (AttentionMethod(
    name="performer", formula=performer, draw=draw,
    options={"kind": v_choice("positive", "hyperbolic", "trig"), "orthogonal": v_bool, "scaling": v_choice(0, 1),
             "stabilize": v_bool, "stabilizer": v_optional(v_choice(*STABILIZERS)),
             "feature_eps": v_optional(v_real(low=0.0)), "key_max": v_optional(v_real()),
             "double_scaling": v_bool, "omega": v_optional(v_array)},
    per_item_options={"omega": 2, "key_max": 0}, batch_prepare=_batch_prepare,
    d_bytes=lambda n, m, p, pv, d, o: 8 * ((n + m) * 2 * d * 2 + d * (p + pv)),
    resolve_options=resolve_options,
    summary="FAVOR+ positive random features of the softmax kernel (Choromanski et al. 2021)"),)
