"""The report's figures: matplotlib (seaborn's style and palettes) -> inline SVG text.

No pyplot: each function builds a `matplotlib.figure.Figure` from a table of tables.py
and returns it (None when there is nothing to draw); `svg(fig, salt)` renders it.
Byte-stable: `svg.hashsalt` is set per figure (ids stay unique across the inline SVGs
of one page and equal across builds), `metadata={"Date": None}`, and no statistic
is drawn by seaborn (its bootstrap is random): bands and bars are computed here.
"""
from __future__ import annotations

import io
import math
import re

import matplotlib
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import ticker
from matplotlib.figure import Figure

from . import tables

MAX_PANELS = 8
MAX_CURVE_PANELS = 16  # one per task (its main condition); every band is in learning_curves.csv
RC = {**sns.axes_style("whitegrid"), **sns.plotting_context("paper", font_scale=1.0),
      "svg.fonttype": "none", "axes.titlesize": 9, "axes.labelsize": 8.5, "legend.fontsize": 7.5,
      "xtick.labelsize": 7.5, "ytick.labelsize": 7.5, "font.family": "sans-serif",
      "font.sans-serif": ["DejaVu Sans"], "axes.titleweight": "normal"}


def palette(names) -> dict[str, tuple]:
    """A stable colour per name (architectures keep their colour across all figures)."""
    names = sorted({str(n) for n in names})
    cols = sns.color_palette("colorblind", max(len(names), 1))
    if len(names) > len(cols):
        cols = sns.color_palette("husl", len(names))
    return dict(zip(names, cols))


def svg(fig: Figure | None, salt: str) -> str:
    """The figure as an <svg> element (no XML prolog), deterministic for equal inputs."""
    if fig is None:
        return ""
    buf = io.StringIO()
    for ax in fig.axes:   # log axes: plain tick labels (mathtext "10^k" is slow to lay out)
        for axis in (ax.xaxis, ax.yaxis):
            if axis.get_scale() == "log":
                axis.set_major_formatter(ticker.FuncFormatter(_tick))
                axis.set_minor_locator(ticker.NullLocator())
    with matplotlib.rc_context({**RC, "svg.hashsalt": f"rnnbench-{salt}"}):
        fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight", pad_inches=0.05)
    text = buf.getvalue()
    text = re.sub(r"^<\?xml[^>]*>\s*", "", text)
    text = re.sub(r"^<!DOCTYPE[^>]*>\s*", "", text)
    return text.strip()


def _wrap(text: str, width: int = 42) -> str:
    import textwrap
    return "\n".join(textwrap.wrap(text, width)) or text


def _tick(v, _pos=None) -> str:
    return f"{v:g}"


def _figure(n: int, ncols: int = 3, w: float = 3.1, h: float = 2.4, sharey: bool = False):
    """n panels on a grid. No layout engine (constrained layout costs seconds per figure on a
    busy 2-core machine): fixed spacing, and svg() trims the margins with bbox_inches="tight"."""
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(w * ncols, h * nrows))
        axes = fig.subplots(nrows, ncols, squeeze=False, sharey=sharey)
        fig.subplots_adjust(wspace=0.38, hspace=0.62, left=0.08, right=0.98, top=0.92, bottom=0.12)
    flat = axes.ravel()
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _styled(fn):
    """Run a figure function under the report's rc (style at creation time)."""
    def wrapper(*a, **k):
        with matplotlib.rc_context(RC):
            return fn(*a, **k)
    wrapper.__name__, wrapper.__doc__ = fn.__name__, fn.__doc__
    return wrapper


def _legend(fig, axes, title=None):
    handles, labels = {}, []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in handles and not lab.startswith("_"):
                handles[lab] = h
                labels.append(lab)
    if handles:
        fig.legend([handles[k] for k in labels], labels, loc="upper left", bbox_to_anchor=(0.995, 0.95),
                   title=title, frameon=False)


def _positive(values) -> bool:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return len(v) > 0 and (v > 0).all() and v.max() / max(v.min(), 1e-300) > 30


# ---- section 2 ------------------------------------------------------------------------
@_styled
def comparison_forest(comp: pd.DataFrame) -> Figure | None:
    """Relative difference (b vs a) with its interval per task; > 0 means b is better."""
    comp = comp[np.isfinite(comp["diff"].astype(float))]
    if not len(comp):
        return None
    a, b = comp["a"].iloc[0], comp["b"].iloc[0]
    sign = np.where(comp["direction"] == "max", -1.0, 1.0)   # diff = a - b; flip so > 0 = b better
    scale = comp["mean_a"].abs().replace(0, np.nan).to_numpy(float)
    d = sign * comp["diff"].to_numpy(float) / scale * 100
    lo = sign * comp["ci_low"].to_numpy(float) / scale * 100
    hi = sign * comp["ci_high"].to_numpy(float) / scale * 100
    lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
    labels = [f"{t} {c}".strip() for t, c in zip(comp["task"], comp["condition"])]
    fig = Figure(figsize=(6.2, 0.32 * len(comp) + 0.9))
    ax = fig.subplots()
    y = np.arange(len(comp))[::-1]
    decided = comp["better"].astype(str) != ""
    ax.errorbar(d, y, xerr=[np.nan_to_num(d - lo), np.nan_to_num(hi - d)], fmt="none", ecolor="0.45", lw=1)
    ax.scatter(d[decided], y[decided], color="C3", zorder=3, label="interval excludes 0")
    ax.scatter(d[~decided], y[~decided], facecolor="white", edgecolor="0.3", zorder=3, label="undecided")
    ax.axvline(0, color="0.2", lw=0.8)
    ax.set_yticks(y, labels)
    ax.set_xlabel(f"{b} vs {a}: relative difference of the metric, % (> 0: {b} better)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


# ---- section 3 ------------------------------------------------------------------------
@_styled
def longdep(lt: pd.DataFrame, colors: dict) -> Figure | None:
    """Metric vs sequence length per architecture; dashed: baseline; filled: solved (>= half
    the seeds). A task of fixed length gets one panel, its conditions side by side."""
    if not len(lt):
        return None
    panels = []
    for task, g in lt.groupby("task", sort=True):
        if g["seq_len"].isna().all():
            panels.append((task, None, g))
            continue
        lengths = g.groupby("condition")["seq_len"].nunique()
        keep = lengths[lengths > 1].index if (lengths > 1).any() else lengths.index
        panels += [(task, cond, g[g["condition"] == cond]) for cond in keep]
    panels = [p for p in panels if p[2]["mean"].notna().any()][:MAX_PANELS]   # runs still missing: no panel
    if not panels:
        return None
    fig, axes = _figure(len(panels), ncols=3, w=3.3, h=2.6)
    for ax, (task, cond, g) in zip(axes, panels):
        ax.set_title(_wrap(f"{task} {cond or ''}".strip()))
        ax.set_ylabel(f"{g['metric'].iloc[0]} ({'lower' if g['direction'].iloc[0] == 'min' else 'higher'} "
                      "is better)")
        if cond is None:
            _fixed_length(ax, g, colors)
            continue
        for arch, h in g.groupby("arch", sort=True):
            h = h.sort_values("seq_len")
            c = colors.get(arch, "0.3")
            ax.errorbar(h["seq_len"], h["mean"], yerr=h["std"].fillna(0), color=c, lw=1.4, capsize=2,
                        label=arch)
            solved = h["solved_frac"] >= 0.5
            ax.scatter(h.loc[solved, "seq_len"], h.loc[solved, "mean"], color=c, s=26, zorder=3)
            ax.scatter(h.loc[~solved, "seq_len"], h.loc[~solved, "mean"], facecolor="white", edgecolor=c,
                       s=26, zorder=3)
        base = g.groupby("seq_len")["baseline"].mean()
        ax.plot(base.index, base.values, ls="--", color="0.35", lw=1, label="baseline")
        ax.set_xlabel("sequence length T")
        if g["seq_len"].nunique() > 1 and g["seq_len"].max() / max(g["seq_len"].min(), 1) >= 8:
            ax.set_xscale("log")
        if _positive(pd.concat([g["mean"], g["baseline"]])):
            ax.set_yscale("log")
    _legend(fig, axes, "filled = solved")
    return fig


def _fixed_length(ax, g: pd.DataFrame, colors: dict) -> None:
    """Conditions on x, architectures side by side (a task with one sequence length)."""
    conds = sorted(g["condition"].unique())
    archs = sorted(g["arch"].unique())
    width = 0.7 / max(len(archs), 1)
    for k, arch in enumerate(archs):
        h = g[g["arch"] == arch].set_index("condition").reindex(conds)
        x = np.arange(len(conds)) + (k - (len(archs) - 1) / 2) * width
        c = colors.get(arch, "0.3")
        solved = (h["solved_frac"] >= 0.5).to_numpy()
        ax.errorbar(x, h["mean"], yerr=h["std"].fillna(0), fmt="none", ecolor=c, capsize=2, label=arch)
        ax.scatter(x[solved], h["mean"].to_numpy()[solved], color=c, s=26, zorder=3)
        ax.scatter(x[~solved], h["mean"].to_numpy()[~solved], facecolor="white", edgecolor=c, s=26, zorder=3)
    ax.axhline(g["baseline"].mean(), ls="--", color="0.35", lw=1, label="baseline")
    ax.set_xticks(range(len(conds)), [_wrap(c.replace(", ", "\n"), 24) or "(one length)" for c in conds],
                  fontsize=6.5)
    ax.grid(False, axis="x")


# ---- section 5 ------------------------------------------------------------------------
@_styled
def learning_curves(panels: list[tuple[str, str, pd.DataFrame]], colors: dict) -> Figure | None:
    """One panel per (title, metric, bands): validation metric vs step, mean line, seed band."""
    panels = [p for p in panels if len(p[2])][:MAX_CURVE_PANELS]
    if not panels:
        return None
    fig, axes = _figure(len(panels), ncols=4, w=3.0, h=2.3)
    for ax, (title, metric, g) in zip(axes, panels):
        for arch, h in g.groupby("arch", sort=True):
            c = colors.get(arch, "0.3")
            sparse = len(h) <= 3                # a run or two evaluated once: show the points
            ax.plot(h["step"], h["mean"], color=c, lw=1.3, label=arch, marker="o" if sparse else None, ms=3)
            if sparse:
                ax.vlines(h["step"], h["low"], h["high"], color=c, alpha=0.5)
            else:
                ax.fill_between(h["step"], h["low"], h["high"], color=c, alpha=0.2, lw=0)
        ax.set_title(_wrap(title))
        ax.set_xlabel("step")
        ax.set_ylabel(f"validation {metric}")
        if _positive(pd.concat([g["low"], g["high"]])):
            ax.set_yscale("log")
    _legend(fig, axes, "band: seed min..max")
    return fig


@_styled
def generation(frames: list[tuple[str, pd.DataFrame]]) -> Figure | None:
    """Free-running generation (sine's generation.csv: sample, t, target, generated):
    the first sample's numeric columns against t (or the first column)."""
    frames = [(t, f) for t, f in frames if f is not None and f.shape[1] >= 2][:4]
    if not frames:
        return None
    fig, axes = _figure(len(frames), ncols=2, w=4.2, h=2.2)
    for ax, (title, f) in zip(axes, frames):
        if "sample" in f.columns:
            f = f[f["sample"] == f["sample"].iloc[0]]
        x = next((c for c in ("t", "step", "time") if c in f.columns), f.columns[0])
        ys = [c for c in f.columns if c not in (x, "sample") and pd.api.types.is_numeric_dtype(f[c])]
        for k, col in enumerate(ys):
            ax.plot(f[x], f[col], lw=1.1, label=col, ls="-" if k == 0 else "--")
        ax.set_title(title)
        ax.set_xlabel(x)
    _legend(fig, axes)
    return fig


# ---- section 6 ------------------------------------------------------------------------
@_styled
def gradient_flow(gc: pd.DataFrame, colors: dict) -> Figure | None:
    """||dL/dh_t|| vs lag per architecture (log y), at initialisation and trained."""
    if not len(gc):
        return None
    tasks = sorted(gc["task"].unique())[:3]
    phases = [p for p in ("init", "trained") if p in set(gc["phase"])]
    fig, axes = _figure(len(tasks) * len(phases), ncols=len(phases), w=3.6, h=2.6)
    styles = {"h": "-", "c": "--"}
    for k, (task, phase) in enumerate((t, p) for t in tasks for p in phases):
        ax = axes[k]
        g = gc[(gc["task"] == task) & (gc["phase"] == phase)]
        for (arch, state), h in g.groupby(["arch", "state"], sort=True):
            h = h[h["norm"] > 0].sort_values("lag")
            ax.plot(h["lag"], h["norm"], color=colors.get(arch, "0.3"), ls=styles.get(state, ":"), lw=1.3,
                    label=arch if state in ("h", "?") else f"{arch} ({state})")
        ax.set_yscale("log")
        ax.set_title(f"{task}: {'at initialisation' if phase == 'init' else 'trained'}")
        ax.set_xlabel("lag T - t")
        ax.set_ylabel("||dL/dh_t||")
    _legend(fig, axes)
    return fig


def iterated_functions() -> pd.DataFrame:
    """rnnbench.gradients.iterated_functions() when it exists, else the same demo computed here:
    the logistic map 3.5x(1-x), the identity, tanh(0.5x) and tanh(2x), each iterated 1..6 times."""
    try:
        from ..gradients import iterated_functions as f  # another module's, if built
        df = f()
        if isinstance(df, pd.DataFrame) and {"function", "iteration", "x", "y"} <= set(df.columns):
            return df
    except Exception:  # noqa: BLE001 - absent or broken: compute the demo here
        pass
    rows = []
    fns = {"3.5 x (1 - x)": (lambda x: 3.5 * x * (1 - x), np.linspace(0, 1, 201)),
           "identity": (lambda x: x, np.linspace(-2, 2, 201)),
           "tanh(0.5 x)": (lambda x: np.tanh(0.5 * x), np.linspace(-4, 4, 201)),
           "tanh(2 x)": (lambda x: np.tanh(2 * x), np.linspace(-2, 2, 201))}
    for name, (fn, x) in fns.items():
        y = x.copy()
        for it in range(1, 7):
            y = fn(y)
            rows.append(pd.DataFrame({"function": name, "iteration": it, "x": x, "y": y}))
    return pd.concat(rows, ignore_index=True)


@_styled
def iterated(df: pd.DataFrame) -> Figure | None:
    """Why gradients vanish or explode: a function composed with itself (RNN = the same map each step)."""
    if not len(df):
        return None
    funcs = list(dict.fromkeys(df["function"]))[:4]
    fig, axes = _figure(len(funcs), ncols=4, w=2.5, h=2.3)
    its = sorted(df["iteration"].unique())
    cmap = dict(zip(its, sns.color_palette("viridis", len(its))))
    for ax, fn in zip(axes, funcs):
        g = df[df["function"] == fn]
        for it, h in g.groupby("iteration", sort=True):
            ax.plot(h["x"], h["y"], color=cmap[it], lw=1.1, label=f"{int(it)}")
        ax.set_title(f"f(x) = {fn}" if not fn.startswith(("f", "identity")) else fn)
        ax.set_xlabel("x")
    axes[0].set_ylabel("f applied n times")
    _legend(fig, axes, "n")
    return fig


@_styled
def clipping(ct: pd.DataFrame, runs: pd.DataFrame, norms: pd.DataFrame) -> Figure | None:
    """Gradient norm per step (before clipping) for runs differing only in `clip`; x: divergence."""
    if not len(ct) or not len(norms):
        return None
    groups = list(ct.groupby("group", sort=True))[:4]
    fig, axes = _figure(len(groups), ncols=2, w=4.0, h=2.6)
    sub = tables.clipping_runs(runs)
    cc = palette(sorted(ct["clip"].unique()))
    by_run = tables.curves_by_run(norms)
    for ax, (gid, g) in zip(axes, groups):
        task, arch, cond = g["task"].iloc[0], g["arch"].iloc[0], g["condition"].iloc[0]
        members = sub[(sub["task"] == task) & (sub["arch"] == arch) & (sub["condition"] == cond)]
        for i, r in members.iterrows():
            if i not in by_run:
                continue
            c = by_run[i].sort_values("step")
            fin = _peaks(c[np.isfinite(c["grad_norm"].astype(float))])
            ax.plot(fin["step"], fin["grad_norm"], color=cc[r["clip"]], lw=0.9, alpha=0.85,
                    label=f"clip={r['clip']}", marker="o" if len(fin) <= 3 else None, ms=3)
            if r["status"] == "diverged" and len(fin):
                ax.scatter(fin["step"].iloc[-1:], fin["grad_norm"].iloc[-1:], marker="x", color="black", s=30,
                           zorder=4, label="diverged")
        ax.set_yscale("log")
        ax.set_title(_wrap(f"{task} / {arch} {cond}".strip()))
        ax.set_xlabel("step")
        ax.set_ylabel("gradient norm (before clipping)")
    _legend(fig, axes)
    return fig


def _peaks(c: pd.DataFrame, bins: int = 400) -> pd.DataFrame:
    """At most `bins` points: the largest norm of each run of consecutive steps (spikes stay)."""
    if len(c) <= bins:
        return c
    idx = [chunk[np.argmax(c["grad_norm"].to_numpy(float)[chunk])]
           for chunk in np.array_split(np.arange(len(c)), bins)]
    return c.iloc[idx]


# ---- section 7 ------------------------------------------------------------------------
@_styled
def seq2seq(st: pd.DataFrame) -> Figure | None:
    """Horizontal bars per variant (mean ± std over seeds), one panel per task / condition / cell."""
    if not len(st):
        return None
    panels = list(st.groupby(["task", "condition", "arch"], sort=True))[:MAX_PANELS]
    sizes = [len(g) for _, g in panels]
    fig = Figure(figsize=(5.6, 0.26 * sum(sizes) + 0.75 * len(panels)))
    axes = fig.subplots(len(panels), 1, squeeze=False,
                        gridspec_kw={"height_ratios": [n + 1.2 for n in sizes]})[:, 0]
    fig.subplots_adjust(hspace=0.9 if len(panels) > 1 else 0.2)
    color = sns.color_palette("colorblind")[0]
    for ax, ((task, cond, arch), g) in zip(axes, panels):
        y = np.arange(len(g))[::-1]
        ax.barh(y, g["mean"], xerr=g["std"].fillna(0), height=0.65, color=color, alpha=0.85,
                error_kw={"lw": 1, "capsize": 2})
        ax.set_yticks(y, g["variant"])
        ax.set_ylim(-0.6, len(g) - 0.4)
        ax.set_title(f"{task} {cond} ({arch})".strip())
        ax.set_xlabel(g["metric"].iloc[0])
    return fig


def _tokens(x) -> list[str]:
    if isinstance(x, str):
        return list(x) if " " not in x else x.split()
    if isinstance(x, (list, tuple)):
        return [str(t) for t in x]
    return []


def attention_examples(data) -> list[dict]:
    """Normalise attention.json entries to {input: [...], output: [...], weights: ndarray}."""
    out = []
    items = data if isinstance(data, list) else (data.get("examples", []) if isinstance(data, dict) else [])
    for e in items:
        if not isinstance(e, dict):
            continue
        w = next((e[k] for k in ("weights", "attention", "alignment") if k in e), None)
        try:
            w = np.asarray(w, dtype=float)
        except (TypeError, ValueError):
            continue
        if w.ndim != 2 or not w.size:
            continue
        inp = next((_tokens(e[k]) for k in ("input", "inputs", "input_tokens", "src", "source") if k in e), [])
        outp = next((_tokens(e[k]) for k in ("output", "outputs", "output_tokens", "prediction", "tgt", "target")
                     if k in e), [])
        out.append({"input": inp, "output": outp, "weights": w})
    return out


@_styled
def attention(examples: list[tuple[str, dict]]) -> Figure | None:
    """Attention weights [output step x input step] of a few examples."""
    if not examples:
        return None
    examples = examples[:4]
    fig, axes = _figure(len(examples), ncols=2, w=3.4, h=3.0)
    for ax, (title, e) in zip(axes, examples):
        w = e["weights"]
        ax.imshow(w, cmap="viridis", vmin=0, vmax=max(float(np.nanmax(w)), 1e-9), aspect="auto",
                  interpolation="nearest")
        ax.grid(False)
        if len(e["input"]) == w.shape[1] and w.shape[1] <= 40:
            ax.set_xticks(range(w.shape[1]), e["input"], fontsize=6)
        if len(e["output"]) == w.shape[0] and w.shape[0] <= 40:
            ax.set_yticks(range(w.shape[0]), e["output"], fontsize=6)
        ax.set_xlabel("input step")
        ax.set_ylabel("output step")
        ax.set_title(title, fontsize=8)
    return fig


# ---- section 8 ------------------------------------------------------------------------
@_styled
def lab_times(lt: pd.DataFrame) -> Figure | None:
    lt = lt[np.isfinite(lt["train_seconds"].astype(float))]
    if not len(lt):
        return None
    labels = [f"{r.lab_task} ({r.arch})" for r in lt.itertuples()]
    y = np.arange(len(lt))[::-1]
    fig = Figure(figsize=(6.0, 0.3 * len(lt) + 1.0))
    ax = fig.subplots()
    pal = sns.color_palette("colorblind")
    ax.barh(y + 0.18, lt["train_seconds"], height=0.36, color=pal[0], label="this run (mean)")
    ax.barh(y - 0.18, lt["quoted_seconds"], height=0.36, color=pal[7], label="lab's quoted time")
    ax.set_yticks(y, labels)
    ax.set_xscale("log")
    ax.set_xlabel("training wall time, s")
    ax.legend(frameon=False, loc="lower right")
    return fig


# ---- section 9 ------------------------------------------------------------------------
@_styled
def throughput(tt: pd.DataFrame) -> Figure | None:
    """Step-samples/s per cell and shape, a bar per backend (log scale); one layer,
    unidirectional where such rows exist (every point is in the table)."""
    tt = tt[np.isfinite(tt["step_samples_per_s"].astype(float))]
    simple = tt[(tt["layers"] == 1) & ~tt["bidirectional"].astype(bool)]
    tt = simple if len(simple) else tt
    if not len(tt):
        return None
    tt = tt.assign(label=[f"{a} {sh}" + (" bi" if bi else "") + (f" L{_i(lay)}" if lay and lay > 1 else "")
                          for a, sh, bi, lay in zip(tt["arch"], tt["shape"], tt["bidirectional"], tt["layers"])])
    panels = list(tt.groupby(["source", "pass"], sort=True))[:6]
    backends = sorted(tt["backend"].astype(str).unique())
    colors = palette(backends)
    nshape = max(g["label"].nunique() for _, g in panels)
    w = min(13.0, max(3.6, 0.22 * nshape * len(backends) + 1.5))
    fig, axes = _figure(len(panels), ncols=1 if w > 6.5 else 2, w=w, h=2.9)
    width = 0.8 / max(len(backends), 1)
    for ax, ((src, pass_), g) in zip(axes, panels):
        labels = sorted(g["label"].unique())
        x = np.arange(len(labels))
        for k, be in enumerate(backends):
            h = g[g["backend"].astype(str) == be].groupby("label")["step_samples_per_s"].median()
            ax.bar(x + (k - (len(backends) - 1) / 2) * width, h.reindex(labels).to_numpy(float), width,
                   color=colors[be], label=be)
        ax.set_xticks(x, labels, rotation=40, ha="right", fontsize=6.5)
        ax.set_yscale("log")
        ax.set_ylabel("step-samples / s")
        ax.set_title(_wrap(f"{src}: {pass_}", 60), fontsize=8)
    _legend(fig, axes, "backend")
    return fig


def _i(v) -> str:
    try:
        return str(int(v))
    except (TypeError, ValueError):
        return "?"
