"""Tiled, multi-threaded Gaussian / exponential kernel blocks and fused streamed products (numba).

Both kernels are one formula on the inner-product tile ``G = X_I Y_Jᵀ`` (computed by BLAS):

    K[i, j] = exp(min(alpha * G[i, j] + bx[i] + by[j], upper))

* Gaussian ``exp(-||x-y||² / (2h²))`` on the centred, power-of-two scaled points ``z = (x - mu) 2^-e``
  (:func:`kernapprox._numba.gaussian_terms`): ``c = (2^e/h)²/2``, ``alpha = 2c``, ``bx = -c ||z||²``,
  ``by = -c ||w||²``, ``upper = 0`` (the clamp is the ``max(D, 0)`` of the GEMM expansion);
* Exponential ``exp(x·y / T)``: ``alpha = 4^e/T``, ``bx = by = 0``, ``upper = +inf``.

The exponent is formed in the output dtype (float32 blocks: float32 throughout, full SIMD width).

Error control (Gaussian): the expansion ``D' = ||z||² + ||w||² - 2 z·w`` has a certified absolute error
``<= (d + 8) u (||z||² + ||w||²)``. A tile whose largest such bound is below ``tau / c`` is done (an
O(TR + TC) test; always the case for well-conditioned data); otherwise :func:`_refine_tile` checks each
entry and recomputes by direct differences (:func:`direct_exponent`, float64, overflow-free) every
entry whose bound exceeds ``tau·max(1, |t|)`` in the exponent t and whose value is not certainly 0:
points close to each other but far from the common centre (separated clusters, huge bandwidth
ratios) come out exact to rounding at the cost of O(d) per such entry.

Each parallel task (``prange`` over row tiles) owns a TR×TC scratch tile that stays in L1/L2: one BLAS
GEMM fills it, one fused pass turns it into kernel values with a vectorisable ``exp`` (Cody–Waite range
reduction, Taylor polynomial, exponent bits built with an LLVM bitcast) and writes them to the output
(or multiplies them into ``V`` for :func:`matvec_kernel`). No temporary larger than a tile is created.
Blocks far larger than the caches are written with non-temporal stores (``stream``: the values are
formed in the tile, then copied out a 64-byte line per store without the destination line being read
first), which halves their memory traffic.

The two parallel kernels release the GIL (``nogil=True``), so other Python threads (dask workers, thread
pools) keep running while a block is computed. BLAS calls made from inside numba threads must stay
single-threaded, or BLAS's own thread pool fights the
numba workers. OpenBLAS runs a GEMM single-threaded when ``M·N·K <= 65536·4`` (its
``GEMM_MULTITHREAD_THRESHOLD``); :func:`tile_shape` keeps every tile GEMM under :data:`BLAS_SERIAL_MNK`,
or, for large blocks whose caller holds the BLAS pools to one thread (threadpoolctl, see
:mod:`kernapprox._numba`), uses larger tiles (:data:`SERIAL_TILE_ENTRIES`): a 64 × 64 × 64 GEMM runs
well below BLAS's peak, a 256 × 256 × 64 one near it.

Every routine here has a plain numpy reference in :mod:`kernapprox._numba.reference`, against which
``tests/test_numba.py`` checks it (float32 and float64). ``fastmath`` is restricted to ``{"contract"}``
(fused multiply–add only); the accuracy of the resulting ``exp`` is pinned by tests against ``np.exp``
over the whole range, subnormal outputs included (measured max: 1 ulp float64, 2 ulp float32; NaN
propagates, +inf gives inf, -inf gives 0).

Cost per kernel entry: d multiply–adds in the tile GEMM, one ``exp`` (~25 flops), one store (block) or r
multiply–adds (product). ``benchmarks/bench_kernels.py`` compares the blocks with their floor (one GEMM
into a fresh array, then ``np.exp`` in place).

References
----------
W. J. Cody, W. Waite, *Software Manual for the Elementary Functions*, Prentice-Hall, 1980 (exp: range
reduction x = k ln2 + r with ln2 split in a high and a low part, §6).
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic, overload

__all__ = ["exp64", "exp32", "exp_inplace", "row_dots", "direct_exponent", "direct_exponent_rows", "block_kernel",
           "matvec_kernel", "tile_shape", "BLAS_SERIAL_MNK", "TILE_ENTRIES", "SERIAL_TILE_ENTRIES"]

#: Largest M·N·K for which OpenBLAS runs a GEMM on the calling thread only (65536 · 4).
BLAS_SERIAL_MNK = 262_144
#: Largest number of kernel entries in one scratch tile (128 KiB in float64: stays in L2).
TILE_ENTRIES = 16_384
#: ... when the caller holds BLAS to one thread (256 × 256: a GEMM efficient at any d, 512 KiB in float64)
SERIAL_TILE_ENTRIES = 65_536

_FM = {"contract"}  # FMA contraction only; accuracy pinned by tests/test_numba.py

# ---- float64 exp ---------------------------------------------------------------------------------
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01   # 32 trailing zero bits: k * _LN2_HI is exact for |k| < 2**20
_LN2_LO = 1.90821492927058770002e-10
_X64_MIN = -746.0                      # exp(-746) rounds to 0
_X64_MAX = 710.0                       # exp(710) overflows to inf
# Taylor coefficients 1/k!, k = 13..0; truncation error |r|^14/14! < 5e-18 for |r| <= ln2/2
_C64 = tuple(1.0 / float(np.prod(np.arange(1, k + 1, dtype=np.float64))) for k in range(13, -1, -1))
(_A13, _A12, _A11, _A10, _A9, _A8, _A7, _A6, _A5, _A4, _A3, _A2, _A1, _A0) = _C64

# ---- float32 exp ---------------------------------------------------------------------------------
_F = np.float32
_LOG2E_F = _F(1.4426950408889634)
_LN2_HI_F = _F(0.693359375)            # 355/512: k * _LN2_HI_F exact for |k| < 2**15
_LN2_LO_F = _F(-2.12194440e-4)
_X32_MIN = _F(-104.0)                  # exp(-104) rounds to 0 in float32
_X32_MAX = _F(89.0)                    # exp(89) overflows float32
_HALF_F = _F(0.5)
# Taylor degree 7: |r|^8/8! < 5e-9 for |r| <= ln2/2 (float32 eps = 1.2e-7)
(_B7, _B6, _B5, _B4, _B3, _B2, _B1, _B0) = (_F(1 / 5040), _F(1 / 720), _F(1 / 120), _F(1 / 24),
                                           _F(1 / 6), _F(0.5), _F(1.0), _F(1.0))


@intrinsic
def _i64_as_f64(typingctx, x):
    """Reinterpret the bits of an int64 as a float64 (an LLVM bitcast, vectorisable)."""
    if x != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return types.float64(types.int64), codegen


@intrinsic
def _i32_as_f32(typingctx, x):
    """Reinterpret the bits of an int32 as a float32."""
    if x != types.int32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())
    return types.float32(types.int32), codegen


@intrinsic
def _stream_line(typingctx, dst, di, src, si):
    """Copy the 64 bytes at ``src[si]`` to ``dst[di]`` with one non-temporal vector store (it bypasses the
    caches: the destination line is not read first). ``dst[di]`` must be 64-byte aligned; dst and src
    are 1-D contiguous arrays of one float dtype."""
    ok = (isinstance(dst, types.Array) and isinstance(src, types.Array) and dst.ndim == src.ndim == 1
          and dst.dtype == src.dtype and dst.dtype in (types.float32, types.float64))
    if not ok:
        return None

    def codegen(context, builder, signature, args):
        dty, _, sty, _ = signature.args
        d = context.make_array(dty)(context, builder, args[0])
        s = context.make_array(sty)(context, builder, args[2])
        vt = ir.VectorType(context.get_data_type(dty.dtype), 512 // dty.dtype.bitwidth)
        v = builder.load(builder.bitcast(builder.gep(s.data, [args[3]]), vt.as_pointer()), align=1)
        st = builder.store(v, builder.bitcast(builder.gep(d.data, [args[1]]), vt.as_pointer()), align=64)
        st.set_metadata("nontemporal", builder.module.add_metadata([ir.IntType(32)(1)]))
        return context.get_dummy_value()
    return types.void(dst, types.intp, src, types.intp), codegen


@intrinsic
def _store_fence(typingctx):
    """A full memory fence: the non-temporal stores before it are visible to every thread after it."""
    def codegen(context, builder, signature, args):
        builder.fence("seq_cst")
        return context.get_dummy_value()
    return types.void(), codegen


@njit(cache=True, fastmath=_FM, inline="always")
def exp64(x):
    """exp(x) in float64, vectorisable; <= 2 ulp from ``np.exp`` (pinned by tests); inf above 709.78."""
    x = min(max(x, _X64_MIN), _X64_MAX)
    k = np.floor(x * _LOG2E + 0.5)
    r = (x - k * _LN2_HI) - k * _LN2_LO
    p = _A13
    p = p * r + _A12
    p = p * r + _A11
    p = p * r + _A10
    p = p * r + _A9
    p = p * r + _A8
    p = p * r + _A7
    p = p * r + _A6
    p = p * r + _A5
    p = p * r + _A4
    p = p * r + _A3
    p = p * r + _A2
    p = p * r + _A1
    p = p * r + _A0
    ki = np.int64(k)
    k1 = ki >> 1                      # 2^k = 2^k1 · 2^k2 keeps both factors normal (overflow/subnormal safe)
    k2 = ki - k1
    return (p * _i64_as_f64((k1 + 1023) << 52)) * _i64_as_f64((k2 + 1023) << 52)


@njit(cache=True, fastmath={"reassoc", "contract"})
def row_dots(A, i, B, lo, k0, k1, out):
    """``out[k] = A[i] · B[lo + k]`` for k0 <= k < k1: dot products of one row with consecutive rows,
    reassociated (vectorised; a float64 sum in another order than the loop's)."""
    p = A.shape[1]
    for k in range(k0, k1):
        acc = 0.0
        for t in range(p):
            acc += A[i, t] * B[lo + k, t]
        out[k] = acc


@njit(cache=True, fastmath=_FM, inline="always")
def exp32(x):
    """exp(x) in float32 (x float32), vectorisable; <= 2 ulp from ``np.exp`` in float32."""
    x = min(max(x, _X32_MIN), _X32_MAX)
    k = np.floor(x * _LOG2E_F + _HALF_F)
    r = (x - k * _LN2_HI_F) - k * _LN2_LO_F
    p = _B7
    p = p * r + _B6
    p = p * r + _B5
    p = p * r + _B4
    p = p * r + _B3
    p = p * r + _B2
    p = p * r + _B1
    p = p * r + _B0
    ki = np.int32(k)
    k1 = ki >> 1
    k2 = ki - k1
    return (p * _i32_as_f32(np.int32((k1 + 127) << 23))) * _i32_as_f32(np.int32((k2 + 127) << 23))


def _exp_like(x, like):  # pragma: no cover - replaced by the overload below inside jitted code
    raise NotImplementedError


@overload(_exp_like, inline="always")
def _exp_like_ov(x, like):
    """exp of a float64 argument, evaluated and returned in the dtype of the array ``like``."""
    if like.dtype == types.float32:
        return lambda x, like: exp32(np.float32(x))
    return lambda x, like: exp64(x)


@njit(cache=True, fastmath=_FM)
def exp_inplace(a):
    """``a[:] = exp(a)`` for a 1-D contiguous float32/float64 array (test hook for exp64/exp32)."""
    for j in range(a.shape[0]):
        a[j] = _exp_like(a[j], a)


@njit(cache=True, inline="always")
def _stream_row(src, dst, base, w):
    """``dst[base:base + w] = src[:w]``: the whole 64-byte lines of the destination by non-temporal
    stores (:func:`_stream_line`), the unaligned head and tail by ordinary ones."""
    isz = dst.itemsize
    step = 64 // isz
    addr = dst.ctypes.data + base * isz
    head = w
    if addr % isz == 0:
        head = min(w, ((64 - addr % 64) % 64) // isz)
    for j in range(head):
        dst[base + j] = src[j]
    j = head
    while j + step <= w:
        _stream_line(dst, base + j, src, j)
        j += step
    for k in range(j, w):
        dst[base + k] = src[k]


@njit(cache=True, inline="always")
def direct_exponent(u, v, hm, eh):
    """``-||u - v||² / (2 h²)`` by direct differences in float64, for rows u, v (float32 or float64) and
    ``h = hm·2^eh``.

    Overflow- and underflow-free at every scale: with ``a = max_k |u_k - v_k| = am·2^ea`` (frexp), the
    sum ``s = Σ_k ((u_k - v_k)·2^-ea)²`` lies in [1/4, d] and ``||u - v||/h = sqrt(s)·R`` with
    ``R = ldexp(1/hm, ea - eh)`` (exact power-of-two arithmetic); ``R²`` overflowing gives ``-inf``
    (the kernel value 0 is then exact). Relative error <= (d + 3) u (u the float64 unit roundoff), like
    ``scipy.spatial.distance.cdist``. Differences below 2^-1000 give 0: with the validated bandwidth
    (>= 2^-500) they change the exponent by less than 2^-997.
    """
    a = 0.0
    for k in range(u.shape[0]):
        a = max(a, abs(np.float64(u[k]) - np.float64(v[k])))
    if not a < np.inf:
        return -np.inf
    am, ea = math.frexp(a)
    if ea < -1000:                    # includes a == 0 (frexp gives exponent 0 there; handled below)
        return 0.0
    if a == 0.0:
        return 0.0
    sc = math.ldexp(1.0, -ea)
    s = 0.0
    for k in range(u.shape[0]):
        q = (np.float64(u[k]) - np.float64(v[k])) * sc
        s += q * q
    R = math.ldexp(1.0 / hm, ea - eh)
    return -0.5 * s * (R * R)


@njit(cache=True)
def direct_exponent_rows(A, B, hm, eh, out):
    """``out[i] = direct_exponent(A[i], B[i], hm, eh)`` (test hook and row-wise pairs)."""
    for i in range(A.shape[0]):
        out[i] = direct_exponent(A[i], B[i], hm, eh)
    return out


@njit(cache=True, fastmath=_FM, inline="always")
def _fused_tile(S, nr, w, bx, by, i0, j0, alpha, upper, out, oi0, oj0):
    """out[oi0+i, oj0+j] = exp(min(alpha*S[i, j] + bx[i0+i] + by[j0+j], upper)) for i < nr, j < w.

    ``bx``, ``by``, ``alpha`` and ``upper`` are in the dtype of ``out``: float32 outputs are computed in
    float32 throughout (full-width SIMD), float64 outputs in float64.
    """
    for i in range(nr):
        b = bx[i0 + i]
        srow = S[i]
        orow = out[oi0 + i]
        for j in range(w):
            t = alpha * srow[j] + (b + by[j0 + j])
            orow[oj0 + j] = _exp_like(min(t, upper), out)


@njit(cache=True, inline="always")
def _needs_direct(dd, b, gam, tau, inv_c, tmin_d):
    """True when the expansion ``dd = zx + zy - 2 z·w`` (with ``b = zx + zy``) is not accurate enough:
    its error bound ``gam·b`` exceeds ``tau·max(inv_c, dd)`` and the exponent may be above -TMIN."""
    err = gam * b
    return err > tau * max(inv_c, dd) and dd - err < tmin_d


@njit(cache=True, inline="always")
def _tile_needs_refine(nr, w, zx, zy, i0, j0, refine):
    """False when no entry of the tile can need direct differences: the largest expansion error bound,
    ``gam (max zx + max zy)``, is below ``tau·inv_c`` (O(nr + w); always False with ``gam = 0``)."""
    gam, tau, inv_c, tmin_d = refine
    if gam == 0.0:
        return False
    mx = 0.0
    for i in range(nr):
        mx = max(mx, zx[i0 + i])
    my = 0.0
    for j in range(w):
        my = max(my, zy[j0 + j])
    return gam * (mx + my) > tau * inv_c


@njit(cache=True, inline="always")
def _refine_tile(S, nr, w, zx, zy, i0, j0, refine, C, D, hm, eh, out, oi0, oj0):
    """Recompute by direct differences the entries whose expansion error bound is not small.

    ``refine = (gam, tau, inv_c, tmin_d)``: the expansion ``D' = zx_i + zy_j - 2 S_ij`` has absolute error
    at most ``gam (zx_i + zy_j)`` (``gam = (d + 8) u``); the entry is recomputed by
    :func:`direct_exponent` on the raw float64 rows ``C[i]``, ``D[j]`` when that bound exceeds
    ``tau·max(inv_c, D')`` (``inv_c = 1/|c'|``, i.e. ``tau·max(1, |t|)`` in exponent units) and the
    exponent is not certainly below the underflow threshold (``D' - bound < tmin_d``). A tile whose
    largest bound is below ``tau·inv_c`` is skipped after O(nr + w) work.
    """
    if not _tile_needs_refine(nr, w, zx, zy, i0, j0, refine):
        return
    gam, tau, inv_c, tmin_d = refine
    for i in range(nr):
        a = zx[i0 + i]
        for j in range(w):
            b = a + zy[j0 + j]
            dd = b - 2.0 * np.float64(S[i, j])
            if _needs_direct(dd, b, gam, tau, inv_c, tmin_d):
                out[oi0 + i, oj0 + j] = _exp_like(direct_exponent(C[i0 + i], D[j0 + j], hm, eh), out)


@njit(cache=True, parallel=True, nogil=True, fastmath=_FM)
def block_kernel(X, Y, bx, by, alpha, upper, sym, unit_diag, out, TR, TC, zx, zy, refine, C, D, hm, eh, stream):
    """Fill ``out`` with ``exp(min(alpha X Yᵀ + bx 1ᵀ + 1 byᵀ, upper))``; returns ``out``.

    Parameters
    ----------
    X : ndarray of shape (n, d), Y : ndarray of shape (m, d)
        Same float dtype (float32 or float64), C-contiguous.
    bx : ndarray of shape (n,), by : ndarray of shape (m,)
        Row / column terms of the exponent, in the dtype of ``out``.
    alpha, upper : scalars of the dtype of ``out``
        Scale of the inner products and clamp of the exponent (0 for Gaussian, +inf for exponential).
    sym : bool
        ``X is Y``: only tiles on and above the diagonal are computed; the strictly lower triangle is
        mirrored from them (exact symmetry). Tasks pair row tiles t and T-1-t to balance the triangle.
    unit_diag : bool
        With ``sym``, set ``K[i, i] = 1`` exactly (Gaussian).
    out : ndarray of shape (n, m), dtype of X
    TR, TC : int
        Tile rows and columns (:func:`tile_shape`).
    zx, zy, refine, C, D, hm, eh
        Gaussian error control (:func:`_refine_tile`): float64 squared norms of the rows of X and Y (the scaled, centred points), the
        tuple ``(gam, tau, inv_c, tmin_d)`` (``gam = 0`` disables it: exponential kernel), the raw
        float64 points and the bandwidth ``hm·2^eh`` for :func:`direct_exponent`.
    stream : bool
        Write the tiles with non-temporal stores (:func:`_stream_row`): the kernel values are formed in
        the scratch tile and copied to ``out`` without reading its lines first, which halves the memory
        traffic of a block much larger than the caches. A tile that needs direct differences, and with
        ``sym`` a tile on the diagonal, is written with ordinary stores, so no address receives both
        kinds of store.

    Notes
    -----
    Time O(n m d) (half with ``sym``); extra memory one TR×TC tile per thread.
    """
    n = X.shape[0]
    m = Y.shape[0]
    ntr = (n + TR - 1) // TR
    if sym:
        ntask = (ntr + 1) // 2
    else:
        ntask = ntr
    flat = out.reshape(n * m)
    for task in prange(ntask):
        buf = np.empty(TR * TC, dtype=X.dtype)
        for half in range(2):
            tk = np.int64(task)            # prange indices may be unsigned: keep index arithmetic int64
            if half == 0:
                t = tk
            else:
                if not sym:
                    break
                t = ntr - 1 - tk
                if t == tk:
                    break
            i0 = t * TR
            i1 = min(n, i0 + TR)
            nr = i1 - i0
            Xi = X[i0:i1]
            jstart = i0 if sym else 0
            for j0 in range(jstart, m, TC):
                j1 = min(m, j0 + TC)
                w = j1 - j0
                S = buf[:nr * w].reshape((nr, w))
                np.dot(Xi, Y[j0:j1].T, S)
                # streamed: tiles off the diagonal (a diagonal tile's lower part is overwritten by its
                # mirror below: those addresses get ordinary stores only)
                if stream and not (sym and j0 < i1) and not _tile_needs_refine(nr, w, zx, zy, i0, j0, refine):
                    _fused_tile(S, nr, w, bx, by, i0, j0, alpha, upper, S, 0, 0)
                    for i in range(nr):
                        _stream_row(S[i], flat, (i0 + i) * m + j0, w)
                    T = S                       # the tile's values, for the mirror below
                else:
                    _fused_tile(S, nr, w, bx, by, i0, j0, alpha, upper, out, i0, j0)
                    _refine_tile(S, nr, w, zx, zy, i0, j0, refine, C, D, hm, eh, out, i0, j0)
                    T = out[i0:i1, j0:j1]
                if sym:
                    if j0 >= i1:
                        # tile strictly above the diagonal: mirror all of it
                        for jj in range(w):
                            orow = out[j0 + jj]
                            for ii in range(nr):
                                orow[i0 + ii] = T[ii, jj]
                    else:
                        # tile meets the diagonal: mirror its strictly-upper part, then fix the diagonal
                        for jj in range(w):
                            orow = out[j0 + jj]
                            for ii in range(nr):
                                if j0 + jj > i0 + ii:
                                    orow[i0 + ii] = T[ii, jj]
                        if unit_diag:
                            for g in range(max(i0, j0), min(i1, j1)):
                                out[g, g] = 1.0
        if stream:
            _store_fence()
    return out


@njit(cache=True, parallel=True, nogil=True, fastmath=_FM)
def matvec_kernel(X, Y, bx, by, alpha, upper, V, out, TR, TC, zx, zy, refine, C, D, hm, eh):
    """``out = exp(min(alpha X Yᵀ + bx 1ᵀ + 1 byᵀ, upper)) @ V`` streamed, never forming the n×m matrix.

    Parameters
    ----------
    X : ndarray of shape (n, d), Y : ndarray of shape (m, d)
        Same float dtype, C-contiguous.
    bx, by, alpha, upper, zx, zy, refine, C, D, hm, eh
        As in :func:`block_kernel`, in the accumulation dtype.
    V : ndarray of shape (m, r), out : ndarray of shape (n, r)
        In the accumulation dtype (float32 or float64); the kernel tile is produced in that dtype, so
        float32 points with float64 accumulation give float64 kernel values and sums.
    TR, TC : int
        Tile shape (:func:`tile_shape` with ``inner = max(d, r)``).

    Notes
    -----
    Time O(n m (d + r)); each task owns rows [i0, i1) of ``out`` (no races); extra memory three tiles
    per thread, independent of n and m.
    """
    n = X.shape[0]
    m = Y.shape[0]
    r = V.shape[1]
    ntr = (n + TR - 1) // TR
    for task in prange(ntr):
        t = np.int64(task)
        i0 = t * TR
        i1 = min(n, i0 + TR)
        nr = i1 - i0
        Xi = X[i0:i1]
        sbuf = np.empty(TR * TC, dtype=X.dtype)
        kbuf = np.empty(TR * TC, dtype=out.dtype)
        pbuf = np.empty(TR * r, dtype=out.dtype)
        acc = out[i0:i1]
        acc[:, :] = 0
        P = pbuf[:nr * r].reshape((nr, r))
        for j0 in range(0, m, TC):
            j1 = min(m, j0 + TC)
            w = j1 - j0
            S = sbuf[:nr * w].reshape((nr, w))
            np.dot(Xi, Y[j0:j1].T, S)
            Kt = kbuf[:nr * w].reshape((nr, w))
            _fused_tile(S, nr, w, bx, by, i0, j0, alpha, upper, Kt, 0, 0)
            _refine_tile(S, nr, w, zx, zy, i0, j0, refine, C, D, hm, eh, Kt, 0, 0)
            np.dot(Kt, V[j0:j1], P)
            for i in range(nr):
                arow = acc[i]
                prow = P[i]
                for q in range(r):
                    arow[q] += prow[q]
    return out


def tile_shape(n: int, m: int, inner: int, serial_blas: bool = False) -> tuple[int, int]:
    """(TR, TC): tile rows/columns with TR·TC·inner <= BLAS_SERIAL_MNK and TR·TC <= TILE_ENTRIES, or,
    with ``serial_blas`` (the caller holds BLAS to one thread), TR·TC <= SERIAL_TILE_ENTRIES.

    ``inner`` is the largest GEMM inner/outer dimension a tile sees (d, or max(d, r) for products).
    """
    if serial_blas:
        tc = max(1, min(m, 256))
        return int(max(1, min(n, SERIAL_TILE_ENTRIES // tc))), int(tc)
    entries = max(1, min(TILE_ENTRIES, BLAS_SERIAL_MNK // max(1, inner)))
    tc = 128 if entries >= 8192 else 64
    tc = max(1, min(m, tc, entries))
    tr = max(1, min(n, entries // tc))
    return int(tr), int(tc)
