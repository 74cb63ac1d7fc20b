"""Yorsh & Kovalenko (ICANN 2022): a trainable feed-forward kernel φ approximates softmax attention in
linear attention better than Performer-style random features ("...with small parameter overhead").

Source: V. Yorsh, A. Kovalenko, "Linear self-attention approximation via trainable feedforward kernel",
ICANN 2022 (arXiv 2211.04076), abstract [S]; the paper trains end-to-end on Long Range Arena. Our own
measurable analogue (algorithms.md §4): φ fitted offline (GLU, L-BFGS) on n training tokens of a head and
scored on n held-out tokens, vs Performer FAVOR+ at equal feature count m — the ``ff-kernel`` experiment.

Decision rule (fixed in advance): at every m of the sweep and for every input kind, the mean held-out
relative output loss of the FF kernel fitted to the attention output is below that of Performer FAVOR+.
The kernel error (fit to the kernel) is measured and reported.
"""
import numpy as np


def test_fitted_ff_kernel_beats_performer_at_equal_features(experiment, claim):
    c = claim("A fitted feed-forward kernel reaches a lower held-out attention-output error than Performer "
              "FAVOR+ at equal feature count (our offline analogue)",
              "Yorsh & Kovalenko, ICANN 2022 (arXiv 2211.04076), abstract [S]; algorithms.md §4")
    data = experiment("ff-kernel")
    meta = data["meta"]
    methods = meta["methods"]
    ff = methods.index("FF kernel (fit: attention)")
    ffk = methods.index("FF kernel (fit: kernel)")
    pf = methods.index("Performer (FAVOR+)")
    out = np.nanmean(data["output_error"], axis=-1)                  # (kind, method, m)
    ker = np.nanmean(data["kernel_error"], axis=-1)
    assert np.all(np.isfinite(out[:, [ff, pf]])), "broken check: non-finite output losses"
    ratio = out[:, ff] / out[:, pf]
    c.measured(out_ratio_ff_over_performer=f"{np.round(ratio, 3).tolist()}",
               kernel_ratio_ff_over_performer=f"{np.round(ker[:, ffk] / ker[:, pf], 3).tolist()}",
               m=f"{np.asarray(data['ms']).tolist()}", inputs=meta.get("inputs", ""))
    c.band("max_out_ratio_ff_over_performer", ratio.max(), 0.0, 1.0)      # FF strictly better everywhere
