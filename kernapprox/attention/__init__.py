"""Attention targets and approximators (owned by the attention issue; see design.md §2, §3).

``exact(Q, K, V, kind=...)`` and ``approximate(Q, K, V, method=..., d=..., rng=...)``.
Methods are registered in ``_METHODS`` as ``name -> (module, function)`` and imported on first use.
"""
