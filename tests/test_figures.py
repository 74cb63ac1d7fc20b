"""The committed figures and their captions agree with the committed data.

``figures/`` holds build artefacts of ``kernapprox run NAME --out figures`` (FULL config, seed 0) and
``figures/README.md`` describes them. These tests read ``figures/data/NAME.json`` (provenance) and
``figures/data/NAME.npz`` (numbers) and check that

* every registered experiment has its figure, data, provenance and a README row with its command;
* the data came from the configuration the README states: the current FULL config, seed 0, a clean
  source tree, and the commit named in the row (``commit 1234abcd``, also in the figure's footer);
* every number the README quotes is the number the data give (:data:`QUOTES`: one function per figure
  computes the quoted strings from the data; the row must contain each of them verbatim).

A caption edited without new data, or data regenerated without updating the caption, fails here.
"""
from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest

from kernapprox import experiments
from kernapprox.experiments import _common as C
from kernapprox.experiments import real_attention

ROOT = Path(__file__).resolve().parents[1]
FIG = ROOT / "figures"
README = (FIG / "README.md").read_text(encoding="utf-8")
NAMES = experiments.names()


def _row(name: str) -> str:
    """The README table row of figure ``name`` (the line that links ``name.png``)."""
    rows = [ln for ln in README.splitlines() if ln.startswith(f"| [{name}.png]({name}.png)")]
    assert len(rows) == 1, f"figures/README.md needs exactly one table row for {name}.png; found {len(rows)}"
    return rows[0]


def _data(name: str) -> dict:
    return C.load_data(FIG, name)


def _mean(a, axis=-1):
    return np.nanmean(np.asarray(a, dtype=float), axis=axis)


def _idx(labels, label) -> int:
    return [str(x) for x in np.atleast_1d(labels)].index(label)


# --------------------------------------------------------------------------------------------------
# per figure: the strings its README row quotes, computed from the data
# --------------------------------------------------------------------------------------------------
def _first_d_best_from(mean, ds, c):
    """Smallest d from which method ``c`` has the lowest mean at this and every larger d (None: never)."""
    best = np.argmin(mean, axis=0) == c            # (ds,)
    for j in range(len(ds)):
        if best[j:].all():
            return int(ds[j])
    return None


def q_skyformer_fig1(d):
    err, ns, ds = d["err"], d["ns"], d["ds"]
    kinds, methods = list(d["kinds"]), list(d["methods"])
    pre = kinds.index("pretrained")
    sky, raw, nys = (_idx(methods, m) for m in ("Skyformer", "Skyformer, raw keys", "Nystromformer"))
    m = _mean(err[pre, -1])                          # (methods, ds) at the largest n
    out = {
        "trials": f"{err.shape[-1]} trials",
        "max_centred": f"max loss {np.nanmax(err[pre, :, sky]):.0f}",
        "max_raw": f"losses up to {np.nanmax(err[pre, :, raw]):.0e}",
        "largest_n": (f"n = {int(ns[-1])}: {m[sky, 0]:.1f} → {m[sky, -1]:.1f} vs Nyströmformer "
                      f"{m[nys, 0]:.1f} → {m[nys, -1]:.1f}"),
    }
    best = []
    for b, n in enumerate(ns):
        mb = _mean(err[pre, b])
        mb = np.where(np.isfinite(mb), mb, np.inf)
        dfrom = _first_d_best_from(mb, ds, sky)
        best.append(f"n = {int(n)}: " + ("never" if dfrom is None else f"d ≥ {dfrom}"))
    out["best_from"] = "lowest of all methods at " + "; ".join(best)
    return out


def q_skyformer_bound(d):
    vac, lam, err = np.asarray(d["vacuous"], bool), d["lam_star"], d["err"]
    scales, ds = d["scales"], d["ds"]
    ok = [(a, j) for a in range(len(scales)) for j in range(len(ds)) if not vac[a, j]]
    ratio = [lam[a, j] / _mean(err[a, j]) for a, j in ok]
    return {
        "trials": f"{err.shape[-1]} draws",
        "sandwich": f"sandwich holds in {np.mean(d['sandwich']):.0%} of draws",
        "non_vacuous": "non-vacuous only at " + ", ".join(f"(s = {scales[a]:g}, d = {int(ds[j])})" for a, j in ok),
        "ratio": (f"λ* is {min(ratio):.0f}–{max(ratio):.0f}× the observed mean error" if ratio else "never"),
    }


def q_kernelized_target(d):
    err, ds, ns = d["err"], d["ds"], d["ns"]
    kinds, methods = list(d["kinds"]), list(d["methods"])
    ini, pre = kinds.index("initialized"), kinds.index("pretrained")
    paper = _idx(methods, "Skyformer (paper: uniform 2n, pinv)")
    code = _idx(methods, "Skyformer (code: stratified, NS γ=0.1)")
    rf = [_idx(methods, m) for m in ("RFF", "ORF", "SORF")]
    nys6, nyspinv = _idx(methods, "Nystromformer on κ (6 Razavi)"), _idx(methods, "Nystromformer on κ (pinv)")
    mi, mp = _mean(err[ini, -1]), _mean(err[pre, -1])     # largest n
    return {
        "trials": f"{err.shape[-1]} trials",
        "paper_init": f"Skyformer-paper falls from {mi[paper, 0]:.1e} to {mi[paper, -1]:.1e} (d = {int(ds[0])} → {int(ds[-1])}, n = {int(ns[-1])})",
        "code_init": f"the code variant reaches {mi[code, -1]:.1e} at d = {int(ds[-1])}",
        "rf_init": f"random features stay at {np.min(mi[rf]):.2f}–{np.max(mi[rf]):.2f}",
        "paper_pre": f"Skyformer-paper {np.min(mp[paper]):.2f}–{np.max(mp[paper]):.2f}",
        "rf_pre": f"random features {np.min(mp[rf]):.0f}–{np.max(mp[rf]):.0f}",
        "nys_init": (f"Nyströmformer on κ {np.min(mi[nys6]):.1e}–{np.max(mi[nys6]):.1e} (6 steps), "
                     f"{np.min(mi[nyspinv]):.1e}–{np.max(mi[nyspinv]):.1e} (exact pinv)"),
        "nys_pre": f"the exact-pinv Nyströmformer {np.min(mp[nyspinv]):.0f}–{np.max(mp[nyspinv]):.0f}",
    }


def q_skeinformer_fig1(d):
    err, ds, ns = d["err"], d["ds"], d["ns"]
    kinds, methods = list(d["kinds"]), list(d["methods"])
    ini, pre = kinds.index("initialized"), kinds.index("pretrained")
    sk, vm, inf, lin = (_idx(methods, m) for m in ("Skeinformer", "V-Mean", "Informer", "Linformer"))
    mi = _mean(err[ini])                                  # (ns, methods, ds)
    ratio = mi[:, lin] / mi[:, sk]
    lowest = np.argmin(mi, axis=1) == sk                  # (ns, ds)
    mp = _mean(err[pre, -1])
    beats = np.where((mp[sk] < mp[vm]) & (mp[sk] < mp[inf]))[0]
    return {
        "trials": f"{err.shape[-1]} trials",
        "linformer": f"Linformer is {ratio.min():.0f}–{ratio.max():.0f}× worse than Skeinformer",
        "lowest_init": f"lowest at {int(lowest.sum())} of {lowest.size} (n, d) points",
        "pre_beats": (f"beats Informer and V-Mean from d = {int(ds[beats[0]])}" if beats.size
                      else "never beats Informer and V-Mean") + f" (n = {int(ns[-1])})",
    }


def q_skeinformer_ablation(d):
    err = d["err"]
    methods = list(d["methods"])
    sk, wo = _idx(methods, "Skeinformer"), _idx(methods, "w/o row normalization")
    m = _mean(err[:, 0])                                  # (kinds, methods, ds)
    r = m[:, wo] / m[:, sk]
    return {"trials": f"{err.shape[-1]} trials",
            "row_norm": f"without it the loss is {r.min():.1f}–{r.max():.0f}× larger"}


def q_singular_values(d):
    sv = d["sv"]                                          # (kinds, layers, targets, heads, i)
    kinds, targets = list(d["kinds"]), list(d["targets"])
    out = {"n": f"n = {int(d['n'])}", "heads": f"{sv.shape[3]} heads"}
    ratio = sv[..., 10] / sv[..., 0]                      # σ₁₀/σ₀ per (kind, layer, target, head)
    for k in kinds:
        for t in targets:
            r = np.median(ratio[kinds.index(k), :, targets.index(t)])
            out[f"{k}_{t}"] = f"{k} {'BV' if t == 'softmax' else 'CV'} {r:.1e}"
    return out


def q_samplers(d):
    te = d["trace_error"]                                 # (datasets, methods, ks, trials)
    names, methods, ks = d["meta"]["datasets"], d["meta"]["methods"], list(d["ks"])
    med = np.nanmedian(te, axis=-1)
    o, g = names.index("outliers"), names.index("digits")
    M = {m: methods.index(m) for m in methods}
    k_of = ks.index
    out = {
        "trials": f"median of {te.shape[-1]} trials",
        "bandwidths": "bandwidths " + ", ".join(f"{n} {b:g}" for n, b in zip(names, d["bandwidth"])),
        "sizes": "n = " + ", ".join(f"{int(s)}" for s in d["n_points"]),
        "uniform_plateau": (f"uniform / diagonal / column-norm stay at {np.min(med[o, [M['uniform'], M['diagonal'], M['column_norm']]]):.0e}"
                            f"–{np.max(med[o, [M['uniform'], M['diagonal'], M['column_norm']]]):.0e}"),
        "leverage": f"exact leverage reaches {med[o, M['leverage'], k_of(160)]:.0e} at k = 160",
        "rpcholesky": (f"RPCholesky {med[o, M['rpcholesky'], k_of(40)]:.0e} at k = 40 and "
                       f"{med[o, M['rpcholesky'], k_of(80)]:.0e} at k = 80"),
    }
    last = med[g, :, -1]
    out["digits"] = f"on digits all samplers are within {last.max() / last.min() - 1:.0%} of each other at k = {ks[-1]}"
    n2 = float(d["n_points"][o]) ** 2
    ev = np.nanmedian(d["n_evals"][o], axis=-1)
    out["cost"] = (f"column-norm {ev[M['column_norm'], -1] / n2:.2f} n², exact leverage "
                   f"{ev[M['leverage'], -1] / n2:.2f} n² entries at k = {ks[-1]}")
    return out


def q_rff_bootstrap(d):
    cov, tq, bq = d["coverage"], d["true_quantile"], d["bootstrap_quantile"]   # (D, M, S[, draws])
    metrics = d["meta"]["metrics"]
    dev = np.abs(_mean(bq) - tq) / tq                                           # (D, M, S)
    out = {"coverage": f"coverage {np.nanmin(cov):.2f}–{np.nanmax(cov):.2f}",
           "draws": f"{d['true_error'].shape[-1]} draws", "boot": f"B = {d['meta']['B']}, {bq.shape[-1]} draws"}
    for b, m in enumerate(metrics):
        out[f"dev_{m}"] = f"'{m}' within {np.nanmax(dev[:, b]):.0%}"
    low = np.unravel_index(np.nanargmin(cov), cov.shape)
    out["lowest"] = (f"lowest {np.nanmin(cov):.2f} at s = {int(d['s'][low[2]])} "
                     f"({d['meta']['datasets'][low[0]]}, '{metrics[low[1]]}')")
    return out


def q_accumulation_krr(d):
    err = d["error"]                                       # (designs, sketches, ds, trials)
    designs, sketches, ds = d["meta"]["designs"], d["meta"]["sketches"], list(d["ds"])
    h = designs.index("high coherence")
    m = _mean(err[h])
    j = len(ds) - 1
    return {
        "trials": f"{err.shape[-1]} trials",
        "high": (f"d = {ds[j]}: {m[sketches.index('m=1'), j]:.4f} (m=1) → {m[sketches.index('m=8'), j]:.4f} (m=8) "
                 f"vs {m[sketches.index('gaussian'), j]:.4f} Gaussian, exact KRR {d['exact_error'][h]:.4f}"),
        "coherence": "coherence n·max ℓ/d_stat = " + ", ".join(f"{c:.1f}" for c in d["coherence"]),
        "low": _low_coherence(err, designs, ds, d["exact_error"]),
    }


def _low_coherence(err, designs, ds, exact):
    lo = designs.index("low coherence")
    within = np.all(_mean(err[lo]) <= 1.01 * exact[lo], axis=0)     # every sketch within 1 % (ds,)
    j = next((j for j in range(len(ds)) if within[j:].all()), None)
    return f"every sketch within 1 % of exact KRR from d = {ds[j]}" if j is not None else "not every sketch within 1 %"


def q_nystrom_kpca(d):
    err, ms = d["error"], list(d["ms"])                    # (datasets, methods, ms, trials)
    names, methods = d["meta"]["datasets"], d["meta"]["methods"]
    u, rf = methods.index("nystrom (uniform)"), methods.index("random features (rff)")
    out = {"trials": f"{err.shape[-1]} trials"}
    for a, name in enumerate(names):
        ex = float(d["exact_error"][a])
        excess = _mean(err[a]) / ex - 1                    # (methods, ms)
        j = next((j for j in range(len(ms)) if excess[u, j] < 0.02), None)
        out[f"{name}_u"] = (f"{name}: uniform Nyström within 2 % of exact KPCA from m = {ms[j]} ({excess[u, j]:.2%})"
                            if j is not None else f"{name}: uniform Nyström never within 2 %")
        out[f"{name}_rf"] = f"RF-KPCA {excess[rf].min():.0%}–{excess[rf].max():.0%} above exact"
    first = _mean(err[:, :, 0])                            # (datasets, methods) at the smallest m
    out["rf_small"] = (f"at m = {ms[0]} RF-KPCA beats uniform Nyström on "
                       f"{int(np.sum(first[:, rf] < first[:, u]))} of {len(names)} data sets")
    return out


def q_ff_kernel(d):
    oe, ke = d["output_error"], d["kernel_error"]          # (kinds, methods, ms, trials)
    kinds, methods = d["meta"]["kinds"], d["meta"]["methods"]
    fk, fit = methods.index("FF kernel (fit: kernel)"), methods.index("FF kernel (fit: attention)")
    favor = methods.index("Performer (FAVOR+)")
    out = {"trials": f"{oe.shape[-1]} trials"}
    for g, k in enumerate(kinds):
        mo = _mean(oe[g])
        out[k] = (f"{k}: fit to attention {mo[fit].min():.3f}–{mo[fit].max():.3f}, fit to kernel "
                  f"{mo[fk].min():.3f}–{mo[fk].max():.3f} vs FAVOR+ {mo[favor].min():.3f}–{mo[favor].max():.3f}")
        fitted_best = np.isin(np.argmin(mo, axis=0), [fk, fit])
        out[f"{k}_best"] = f"a fitted map is lowest at {int(fitted_best.sum())} of {mo.shape[1]} m ({k})"
    pre = kinds.index("pretrained")
    mk = _mean(ke[pre])
    out["kernel_pre"] = (f"held-out kernel error on pretrained inputs: {mk[fk].min():.1f}–{mk[fk].max():.1f} "
                         f"(fit to kernel), {mk[fit].min():.1f}–{mk[fit].max():.1f} (fit to attention)")
    return out


QUOTES = {
    "skyformer-fig1": q_skyformer_fig1, "skyformer-bound": q_skyformer_bound,
    "kernelized-target": q_kernelized_target, "skeinformer-fig1": q_skeinformer_fig1,
    "skeinformer-ablation": q_skeinformer_ablation, "singular-values": q_singular_values,
    "samplers": q_samplers, "rff-bootstrap": q_rff_bootstrap, "accumulation-krr": q_accumulation_krr,
    "nystrom-kpca": q_nystrom_kpca, "ff-kernel": q_ff_kernel, "real-attention": real_attention.caption_numbers,
}


# --------------------------------------------------------------------------------------------------
def test_every_experiment_has_a_figure_data_and_a_readme_row():
    assert set(QUOTES) == set(NAMES), "add a QUOTES entry (and a README row) for every experiment"
    for name in NAMES:
        for rel in (f"{name}.png", f"{name}.pdf", f"data/{name}.npz", f"data/{name}.json"):
            assert (FIG / rel).stat().st_size > 0, rel
        assert f"`kernapprox run {name} --out figures`" in _row(name)


@pytest.mark.parametrize("name", NAMES)
def test_data_came_from_the_stated_configuration_and_commit(name):
    prov = json.loads((FIG / "data" / f"{name}.json").read_text())
    mod = experiments.get(name)
    full = json.loads(json.dumps(dataclasses.asdict(mod.FULL), default=C._json_default))
    assert prov["name"] == name and prov["mode"] == "full" and prov["seed"] == 0
    assert prov["config"] == full, f"{name}: the committed data are not from the current FULL config; re-run it"
    sha = str(prov["git_sha"])
    assert re.fullmatch(r"[0-9a-f]{40}", sha), f"{name}: data from an unknown or modified source tree ({sha})"
    stated = re.findall(r"commit ([0-9a-f]{8})\b", _row(name))
    assert stated == [sha[:8]], f"{name}: the README row must state `commit {sha[:8]}` (the footer's commit)"


@pytest.mark.parametrize("name", NAMES)
def test_readme_quotes_the_numbers_of_the_data(name):
    row = _row(name)
    missing = {k: v for k, v in QUOTES[name](_data(name)).items() if v not in row}
    assert not missing, f"figures/README.md row {name} does not quote the data: {missing}"


def test_wall_times_quoted_in_the_readme_are_the_recorded_ones():
    line = next(ln for ln in README.splitlines() if ln.startswith("Wall times"))
    for name in NAMES:
        prov = json.loads((FIG / "data" / f"{name}.json").read_text())
        assert f"{name} {prov['wall_time_s']:.0f} s" in line, name


def test_quote_functions_see_a_change_of_the_data():
    """The check can fail: perturbing the data changes the quoted strings of every figure."""
    for name in NAMES:
        d = _data(name)
        q = QUOTES[name](d)

        def bump(x):
            if isinstance(x, dict):
                return {k: bump(v) for k, v in x.items()}
            a = np.asarray(x)
            return a * 1.37 + 0.011 if a.dtype.kind == "f" and a.ndim > 0 else x

        changed = QUOTES[name](bump(d))
        assert any(changed[k] != q[k] for k in q), name
