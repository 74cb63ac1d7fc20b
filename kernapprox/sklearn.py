"""scikit-learn estimators built on kernapprox's approximators.

Drop-in pieces for ``Pipeline`` and ``GridSearchCV``; each is a thin wrapper around one public
kernapprox function, so the mathematics, the cost and the guarantees are those documented there:

=========================  ====================================================================
estimator                  what ``fit`` calls
=========================  ====================================================================
NystromTransformer         :func:`kernapprox.sample_landmarks` (any sampler; ``"kmeans"``:
                           :func:`kernapprox.kmeans_centers`), then :func:`kernapprox.nystrom`
                           with any core policy
RPCholeskyTransformer      :func:`kernapprox.rpcholesky` (simple, block or accelerated)
RandomFeaturesTransformer  :func:`kernapprox.random_features` (rff, orf, sorf, qmc, positive, …)
SketchedKernelRidge        :func:`kernapprox.sketched_krr` (accumulated, Gaussian, SRHT, … sketch)
=========================  ====================================================================

Conventions (scikit-learn's): parameters are stored as given and validated in ``fit`` (with the
library's one message template); ``random_state`` (None, an int, a ``np.random.Generator`` or a
legacy ``np.random.RandomState``, from which one seed is drawn) becomes the library's ``rng``;
fitted attributes end in ``_``; ``n_features_in_`` (and ``feature_names_in_`` for data frames) are
set by ``fit``; float32 input gives float32 features. ``kernel`` is a kernapprox
:class:`~kernapprox.Kernel` or a kernel name for :func:`kernapprox.kernels.get`, with
``kernel_params`` (a dict) passed to the named kernel's constructor — e.g.
``kernel="gaussian", kernel_params={"bandwidth": 2.0}`` or ``kernel=ka.Gaussian(2.0)``.

Nyström features of a point x (both Nyström transformers): with landmarks z_1 … z_k and the core
factor R of ``W = κ(Z, Z)`` (``W⁺ ≈ R Rᵀ``, e.g. R = L⁻ᵀ for the shifted Cholesky core),
``φ(x) = κ(x, Z) R``, so ``φ(x)·φ(y) = κ(x, Z) W⁺ κ(Z, y)`` is the Nyström approximation of
κ(x, y) (Williams & Seeger 2000) — out of sample as well as on the training points. ``transform`` is
:func:`kernapprox.nystrom` on the fitted landmark points ``components_``: n·k kernel entries plus the
k×k landmark block and its core (O(k²d + k³)) per call.

Names: ``n_components`` is scikit-learn's name for the size of a transform (the glossary's ``k``,
ARCHITECTURE.md "Vocabulary"), ``random_state`` its name for the randomness (the library's ``rng``);
every other parameter has the library's name (``lam`` for a ridge).

Where scikit-learn's conventions and the library's differ: a request for more components than
training samples (``n_components > n_samples``) is reduced to ``n_samples`` *with* a
:class:`~kernapprox.KernapproxWarning` — as scikit-learn's ``Nystroem`` does — instead of raising
(all points as landmarks is then the exact kernel); the number actually used is ``n_components_``.
"""
from __future__ import annotations

import numbers
import re

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, RegressorMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from . import kernels as _kernels
from ._validation import (as_generator, check_choice, check_int, check_kernel, check_positive, deprecated_alias, fail,
                          warn)
from .cholesky import rpcholesky
from .features import KINDS as FEATURE_KINDS
from .features import random_features
from .krr import sketched_krr
from .matrix import KernelMatrix
from .nystrom_psd import nystrom
from .sampling import METHODS as SAMPLER_METHODS
from .sampling import kmeans_centers, sample_landmarks
from .sketch import KINDS as SKETCH_KINDS

__all__ = ["NystromTransformer", "RPCholeskyTransformer", "RandomFeaturesTransformer", "SketchedKernelRidge"]

#: samplers of :class:`NystromTransformer`: every :func:`kernapprox.sample_landmarks` method, and
#: ``"kmeans"`` (Lloyd centres from :func:`kernapprox.kmeans_centers`, landmarks that are not data points)
SAMPLERS = (*SAMPLER_METHODS, "kmeans")
#: core policies of :func:`kernapprox.nystrom`
CORES = ("shifted_cholesky", "eig", "pinv", "ridge")
_DTYPES = (np.float64, np.float32)


# --------------------------------------------------------------------------------------------------
# parameter checks shared by the estimators (validated in fit, scikit-learn's convention)
# --------------------------------------------------------------------------------------------------
def _rng(random_state, func):
    """``random_state`` → ``rng``: a legacy RandomState contributes one drawn seed, the rest is ``rng``."""
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(np.iinfo(np.int32).max))
    if not (random_state is None or isinstance(random_state, (numbers.Integral, np.random.Generator))) \
            or isinstance(random_state, bool):
        raise fail(func, "random_state", "be None, an int, a np.random.Generator or a np.random.RandomState",
                   repr(random_state), TypeError)
    if isinstance(random_state, numbers.Integral) and int(random_state) < 0:
        raise fail(func, "random_state", "be None, an int >= 0, a np.random.Generator or a np.random.RandomState",
                   int(random_state))
    return as_generator(random_state, func)


def _options(value, func, name):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise fail(func, name, "be a dict or None", type(value).__name__, TypeError)
    return dict(value)


def _kernel(est, func, *, psd=True):
    params = _options(est.kernel_params, func, "kernel_params")
    check_kernel(est.kernel, func)
    try:
        kernel = _kernels.get(est.kernel, **params)
    except TypeError as exc:
        raise fail(func, "kernel_params", f"hold parameters of {est.kernel!r}", repr(params), TypeError) from exc
    if psd and not kernel.is_psd:
        raise fail(func, "kernel", "be positive semi-definite (Nyström, KRR)", repr(kernel))
    return kernel


def _n_components(value, n, func, name="n_components"):
    k = check_int(value, func, name, low=1)
    if k > n:
        warn(f"{func}: `{name}` = {k} > n_samples = {n}; using all {n} training points",
             stacklevel=4)
        k = n
    return k


def _nystrom_features(kernel, X, Z, core, rcond, lam):
    """``φ(X) = κ(X, Z) R``: the Nyström factor of the points X on the landmark points Z."""
    return nystrom(KernelMatrix(kernel, X), points=Z, core=core, rcond=rcond, lam=lam).F


class _NystromFeatures(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Shared ``transform`` of the Nyström transformers: ``φ(X) = κ(X, Z) R`` (module docstring)."""

    def _finish_fit(self, kernel, Z, core, rcond, lam):
        """Store the landmarks and the width of φ (the rank the core keeps)."""
        F = _nystrom_features(kernel, Z, Z, core, rcond, lam)
        self.kernel_ = kernel
        self.components_ = Z
        self.n_components_ = int(Z.shape[0])
        self._n_features_out = int(F.shape[1])
        self._fit_core = (core, rcond, lam)
        return self

    def transform(self, X):
        """Nyström features of X.

        Parameters
        ----------
        X : array-like of shape (n, d)

        Returns
        -------
        ndarray of shape (n, r), float32 for float32 X (r <= ``n_components_``: the rank the core keeps)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=_DTYPES)
        core, rcond, lam = self._fit_core
        return _nystrom_features(self.kernel_, X, self.components_.astype(X.dtype, copy=False), core, rcond, lam)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


class NystromTransformer(_NystromFeatures):
    """Nyström features with any landmark sampler and any core policy.

    Parameters
    ----------
    kernel : str or Kernel, default "gaussian"
        A PSD kernel (name for :func:`kernapprox.kernels.get` or instance).
    kernel_params : dict, optional
        Constructor arguments of a named kernel, e.g. ``{"bandwidth": 2.0}``.
    n_components : int, default 100
        Number of landmarks k (reduced to n_samples with a warning when larger).
    sampler : str, default "uniform"
        ``"uniform"``, ``"diagonal"``, ``"column_norm"``, ``"leverage"``, ``"recursive_rls"``,
        ``"kmeanspp"``, ``"greedy"``, ``"rpcholesky"`` (:func:`kernapprox.sample_landmarks`) or
        ``"kmeans"`` (Lloyd centres, :func:`kernapprox.kmeans_centers`).
    sampler_options : dict, optional
        Extra keywords of the sampler (e.g. ``{"lam": 1e-3}`` for leverage scores,
        ``{"block_size": 50}`` for rpcholesky, ``{"n_iter": 20}`` for kmeans).
    core : {"shifted_cholesky", "eig", "pinv", "ridge"}, default "shifted_cholesky"
        Core policy of :func:`kernapprox.nystrom`.
    rcond : float, optional
        Eigenvalue cutoff of the ``"eig"`` / ``"pinv"`` cores.
    lam : float, optional
        Ridge λ of the ``"ridge"`` core (required there).
    random_state : None, int, Generator or RandomState
        The sampler's randomness (``rng``).
    gamma : float, optional
        Deprecated alias of ``lam`` (DeprecationWarning in ``fit``).

    Attributes
    ----------
    components_ : ndarray of shape (n_components_, n_features_in_) — the landmarks Z.
    component_indices_ : ndarray of int or None — their rows in the training data (None for "kmeans").
    n_components_ : int — landmarks used (fewer than asked when an adaptive sampler stops early).
    kernel_ : Kernel
    n_features_in_ : int
    feature_names_in_ : ndarray of str (only for data frames with string column names)

    Notes
    -----
    ``fit`` costs the sampler's kernel entries (``KM.n_evals``: 0 for uniform, (k + 1)·n for
    rpcholesky, n² for leverage — see :func:`kernapprox.sample_landmarks`) plus k² and O(k³) for the
    core; ``transform`` of n points costs n·k + k² kernel entries and O(n k² + k³) time.

    References
    ----------
    Williams & Seeger, NeurIPS 2000 (Nyström); Chen, Epperly, Tropp, Webber, CPAM 2025
    (RPCholesky); Musco & Musco, NeurIPS 2017 (recursive RLS); algorithms.md §1.2.

    Examples
    --------
    >>> import numpy as np
    >>> from kernapprox.sklearn import NystromTransformer
    >>> X = np.random.default_rng(0).normal(size=(300, 4))
    >>> nys = NystromTransformer(kernel_params={"bandwidth": 2.0}, n_components=40, sampler="rpcholesky",
    ...                          random_state=0).fit(X)
    >>> nys.transform(X[:5]).shape
    (5, 40)
    """

    def __init__(self, kernel="gaussian", kernel_params=None, n_components=100, sampler="uniform",
                 sampler_options=None, core="shifted_cholesky", rcond=None, lam=None, random_state=None,
                 gamma=None):
        self.kernel = kernel
        self.kernel_params = kernel_params
        self.n_components = n_components
        self.sampler = sampler
        self.sampler_options = sampler_options
        self.core = core
        self.rcond = rcond
        self.lam = lam
        self.random_state = random_state
        self.gamma = gamma

    def fit(self, X, y=None):
        """Choose the landmarks (``y`` is ignored).

        Parameters
        ----------
        X : array-like of shape (n, d)
        y : ignored

        Returns
        -------
        self
        """
        func = "NystromTransformer.fit"
        X = validate_data(self, X, dtype=_DTYPES)
        kernel = _kernel(self, func)
        check_choice(self.sampler, SAMPLERS, func, "sampler")
        options = _options(self.sampler_options, func, "sampler_options")
        check_choice(self.core, CORES, func, "core")
        rcond = None if self.rcond is None else check_positive(self.rcond, func, "rcond")
        name = "gamma" if self.gamma is not None else "lam"
        lam = deprecated_alias(func, "gamma", self.gamma, "lam", self.lam)
        lam = None if lam is None else check_positive(lam, func, name)
        if self.core == "ridge" and lam is None:
            raise fail(func, "lam", "be given for core='ridge'", None)
        rng = _rng(self.random_state, func)
        k = _n_components(self.n_components, X.shape[0], func)
        if self.sampler == "kmeans":
            Z = kmeans_centers(X, k, rng=rng, **options).astype(X.dtype, copy=False)
            self.component_indices_ = None
        else:
            idx = sample_landmarks(KernelMatrix(kernel, X), k, method=self.sampler, rng=rng, **options)
            idx = np.unique(idx)  # with-replacement samplers may repeat a landmark; the core drops repeats anyway
            Z = X[idx]
            self.component_indices_ = idx
        return self._finish_fit(kernel, Z, self.core, rcond, lam)


class RPCholeskyTransformer(_NystromFeatures):
    """Nyström features on the pivots of randomly pivoted Cholesky.

    Parameters
    ----------
    kernel : str or Kernel, default "gaussian"
    kernel_params : dict, optional
    n_components : int, default 100
        Number of pivots k (fewer when ``tol`` is reached or the numerical rank is smaller; reduced to
        n_samples with a warning when larger).
    block_size : int, default 1
        1: simple RPCholesky; b > 1: block RPCholesky.
    accelerated : bool, default False
        Rejection-sampling RPCholesky (same law as the simple algorithm at block cost).
    tol : float, optional
        Stop when the residual trace falls below ``tol``·tr K.
    random_state : None, int, Generator or RandomState

    Attributes
    ----------
    components_ : ndarray of shape (n_components_, n_features_in_) — the pivot points.
    component_indices_ : ndarray of int — the pivots, in the order chosen.
    n_components_ : int
    trace_error_ : float — relative trace error ``tr(K − K̂)/tr K`` on the training data (exact, free).
    kernel_, n_features_in_, feature_names_in_

    Notes
    -----
    ``fit``: (k + 1)·n kernel entries, O(n k²) time (:func:`kernapprox.rpcholesky`); ``transform``:
    as :class:`NystromTransformer` with the shifted Cholesky core.

    References
    ----------
    Chen, Epperly, Tropp, Webber, "Randomly pivoted Cholesky", CPAM 2025, Alg. 1–2; Epperly, Tropp,
    Webber 2024 (accelerated).

    Examples
    --------
    >>> import numpy as np
    >>> from kernapprox.sklearn import RPCholeskyTransformer
    >>> X = np.random.default_rng(0).normal(size=(300, 4))
    >>> rpc = RPCholeskyTransformer(kernel_params={"bandwidth": 2.0}, n_components=40, random_state=0).fit(X)
    >>> rpc.transform(X).shape, bool(0 < rpc.trace_error_ < 1)
    ((300, 40), True)
    """

    def __init__(self, kernel="gaussian", kernel_params=None, n_components=100, block_size=1,
                 accelerated=False, tol=None, random_state=None):
        self.kernel = kernel
        self.kernel_params = kernel_params
        self.n_components = n_components
        self.block_size = block_size
        self.accelerated = accelerated
        self.tol = tol
        self.random_state = random_state

    def fit(self, X, y=None):
        """Run RPCholesky on the training kernel matrix (``y`` is ignored).

        Returns
        -------
        self
        """
        func = "RPCholeskyTransformer.fit"
        X = validate_data(self, X, dtype=_DTYPES)
        kernel = _kernel(self, func)
        rng = _rng(self.random_state, func)
        k = _n_components(self.n_components, X.shape[0], func)
        KM = KernelMatrix(kernel, X)
        approx = rpcholesky(KM, k, block_size=self.block_size, accelerated=self.accelerated, tol=self.tol,
                            rng=rng)
        idx = np.asarray(approx.info["indices"])
        total = float(approx.info["trace"])
        self.trace_error_ = float(approx.info["residual_trace"]) / total if total > 0 else 0.0
        self.component_indices_ = idx
        return self._finish_fit(kernel, X[idx], "shifted_cholesky", None, None)


class RandomFeaturesTransformer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Random features ``z(x)`` with ``E[z(x)·z(y)] = κ(x, y)`` (or low-variance structured variants).

    Parameters
    ----------
    kernel : str or Kernel, default "gaussian"
        Shift-invariant kernels for "rff" / "orf" / "sorf" / "qmc"; the exponential (softmax) kernel
        for "positive" / "hyperbolic" / "trig"; the polynomial kernel for "tensorsketch".
    kernel_params : dict, optional
    n_components : int, default 100
        Number of random draws m (the output has 2m columns for "rff_sincos", "hyperbolic", "trig").
    kind : str, default "rff"
        Any kind of :func:`kernapprox.random_features`: "rff", "rff_sincos", "orf", "sorf", "qmc",
        "positive", "hyperbolic", "trig", "tensorsketch".
    feature_options : dict, optional
        Extra keywords of the kind (e.g. ``{"orthogonal": True}`` for "positive",
        ``{"sequence": "halton"}`` for "qmc").
    random_state : None, int, Generator or RandomState

    Attributes
    ----------
    feature_map_ : FeatureMap — the drawn map (``omega``, ``phase``, … as drawn).
    kernel_, n_features_in_, feature_names_in_

    Notes
    -----
    ``fit`` draws the map in O(m d) (ORF: O(⌈m/d⌉ d³)) and does not look at the data beyond its width;
    ``transform`` costs O(n m d) (SORF: O(n m log d)).

    References
    ----------
    Rahimi & Recht 2007; Yu et al. 2016 (ORF, SORF); Avron et al. 2016 (QMC); Choromanski et al.
    2021 (positive features); algorithms.md §9.

    Examples
    --------
    >>> import numpy as np
    >>> from kernapprox.sklearn import RandomFeaturesTransformer
    >>> X = np.random.default_rng(0).normal(size=(10, 4)).astype(np.float32)
    >>> RandomFeaturesTransformer(n_components=64, kind="orf", random_state=0).fit_transform(X).dtype
    dtype('float32')
    """

    def __init__(self, kernel="gaussian", kernel_params=None, n_components=100, kind="rff", feature_options=None,
                 random_state=None):
        self.kernel = kernel
        self.kernel_params = kernel_params
        self.n_components = n_components
        self.kind = kind
        self.feature_options = feature_options
        self.random_state = random_state

    def fit(self, X, y=None):
        """Draw the feature map for inputs of X's width (``y`` is ignored).

        Returns
        -------
        self
        """
        func = "RandomFeaturesTransformer.fit"
        X = validate_data(self, X, dtype=_DTYPES)
        kernel = _kernel(self, func, psd=False)
        check_choice(self.kind, FEATURE_KINDS, func, "kind")
        options = _options(self.feature_options, func, "feature_options")
        m = check_int(self.n_components, func, "n_components", low=1)
        try:
            self.feature_map_ = random_features(kernel, X.shape[1], m, kind=self.kind,
                                                rng=_rng(self.random_state, func), **options)
        except ValueError as exc:       # the estimator calls the count `n_components`
            hit = re.match(r"random_features: `(m|n_features)` (.*)", str(exc), re.S)
            if hit:
                raise ValueError(f"{func}: `n_components` {hit.group(2)}") from exc
            raise
        self.kernel_ = kernel
        self._n_features_out = int(self.feature_map_.n_features)
        return self

    def transform(self, X):
        """Features ``z(X)`` of shape (n, ``feature_map_.n_features``), float32 for float32 X."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=_DTYPES)
        return self.feature_map_.transform(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


class SketchedKernelRidge(RegressorMixin, BaseEstimator):
    """Kernel ridge regression with the coefficients restricted to a sketch, ``α = S θ``.

    Minimises ``(1/n)‖y − K S θ‖² + λ θᵀ Sᵀ K S θ`` (scikit-learn's ``KernelRidge(alpha)`` is the
    unsketched problem with ``alpha = n·lam``).

    Parameters
    ----------
    kernel : str or Kernel, default "gaussian"
    kernel_params : dict, optional
    lam : float, default 1e-3
        λ > 0.
    sketch : str, default "accumulated"
        Sketch kind of :func:`kernapprox.make_sketch`: "accumulated", "subsample", "gaussian",
        "rademacher", "srht", "sparse_sign", "countsketch".
    n_components : int, default 100
        Sketch size s (reduced to n_samples with a warning when larger).
    sketch_options : dict, optional
        Extra keywords of the sketch (e.g. ``{"m": 8}`` accumulated terms).
    random_state : None, int, Generator or RandomState

    Attributes
    ----------
    model_ : KRRModel — ``model_.predict``, ``model_.info`` (kernel entries evaluated, support size).
    support_vectors_ : ndarray of shape (r, n_features_in_) — training points with a coefficient.
    dual_coef_ : ndarray of shape (r,) or (r, t) — their coefficients α.
    n_components_ : int — the sketch size used.
    kernel_, n_features_in_, feature_names_in_

    Notes
    -----
    Sparse sketches (accumulated, subsample) evaluate n·r kernel entries (r <= s·m support rows);
    dense ones stream K S (n² entries). Time O(n r d + n r s + (n + s) s²); ``predict`` O(n r d).

    References
    ----------
    Yang, Pilanci, Wainwright, "Randomized sketches for kernels", Ann. Statist. 2017, Eq. (4);
    Chen & Yang, "Accumulations of projections", ICML 2021; algorithms.md §5.2.

    Examples
    --------
    >>> import numpy as np
    >>> from kernapprox.sklearn import SketchedKernelRidge
    >>> X = np.random.default_rng(0).normal(size=(200, 2)); y = np.sin(X[:, 0])
    >>> krr = SketchedKernelRidge(n_components=40, random_state=0).fit(X, y)
    >>> bool(krr.score(X, y) > 0.9)
    True
    """

    def __init__(self, kernel="gaussian", kernel_params=None, lam=1e-3, sketch="accumulated", n_components=100,
                 sketch_options=None, random_state=None):
        self.kernel = kernel
        self.kernel_params = kernel_params
        self.lam = lam
        self.sketch = sketch
        self.n_components = n_components
        self.sketch_options = sketch_options
        self.random_state = random_state

    def fit(self, X, y):
        """Solve the sketched KRR problem.

        Parameters
        ----------
        X : array-like of shape (n, d)
        y : array-like of shape (n,) or (n, t)

        Returns
        -------
        self
        """
        func = "SketchedKernelRidge.fit"
        X, y = validate_data(self, X, y, dtype=_DTYPES, multi_output=True, y_numeric=True)
        kernel = _kernel(self, func)
        lam = check_positive(self.lam, func, "lam")
        check_choice(self.sketch, SKETCH_KINDS, func, "sketch")
        options = _options(self.sketch_options, func, "sketch_options")
        s = _n_components(self.n_components, X.shape[0], func)
        model = sketched_krr(KernelMatrix(kernel, X), np.asarray(y, dtype=np.float64), lam, self.sketch, s=s,
                             rng=_rng(self.random_state, func), **options)
        self.model_ = model
        self.kernel_ = kernel
        self.support_vectors_ = model.X_support
        self.dual_coef_ = model.coef
        self.n_components_ = s
        return self

    def predict(self, X):
        """Predictions ``κ(X, support_vectors_) @ dual_coef_``, shape (n,) or (n, t)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=_DTYPES)
        return self.model_.predict(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
