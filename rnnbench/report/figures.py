"""The report's figures: matplotlib (seaborn's style and palettes) -> inline SVG text.

No pyplot: each function builds a `matplotlib.figure.Figure` from a table of tables.py
and returns it (None when there is nothing to draw); `svg(fig, salt)` renders it.
Byte-stable: `svg.hashsalt` is set per figure (ids stay unique across the inline SVGs
of one page and equal across builds), `metadata={"Date": None}`, and where seaborn
draws a statistic its error bars are the deterministic kind (errorbar="sd"), never
its default bootstrap.
"""
from __future__ import annotations

import io
import math
import re
import textwrap

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
    return dict(zip(names, sns.color_palette("colorblind", max(len(names), 1))))


def svg(fig: Figure | None, salt: str) -> str:
    """The figure as an <svg> element (no XML prolog), deterministic for equal inputs."""
    if fig is None:
        return ""
    buf = io.StringIO()
    # log axes: plain tick labels (mathtext "10^k" is slow to lay out)
    for axis in (a for ax in fig.axes for a in (ax.xaxis, ax.yaxis) if a.get_scale() == "log"):
        axis.set_major_formatter(ticker.FuncFormatter(lambda v, _pos: f"{v:g}"))
        axis.set_minor_locator(ticker.NullLocator())
    with matplotlib.rc_context({**RC, "svg.hashsalt": f"rnnbench-{salt}"}):
        fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight", pad_inches=0.05)
    return re.sub(r"^(<\?xml[^>]*>|<!DOCTYPE[^>]*>|\s)*", "", buf.getvalue()).strip()


def _wrap(text: str, width: int = 42) -> str:
    return "\n".join(textwrap.wrap(text, width)) or text


def _figure(n: int, ncols: int = 3, w: float = 3.1, h: float = 2.4):
    """n panels on a grid. No layout engine (constrained layout costs seconds per figure on a
    busy 2-core machine): fixed spacing, and svg() trims the margins with bbox_inches="tight"."""
    ncols = max(1, min(ncols, n))
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(w * ncols, h * math.ceil(n / ncols)))
        axes = fig.subplots(math.ceil(n / ncols), ncols, squeeze=False).ravel()
        fig.subplots_adjust(wspace=0.38, hspace=0.62, left=0.08, right=0.98, top=0.92, bottom=0.12)
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def _styled(fn):
    """Run a figure function under the report's rc (style at creation time)."""
    def wrapper(*a, **k):
        with matplotlib.rc_context(RC):
            return fn(*a, **k)
    wrapper.__name__, wrapper.__doc__ = fn.__name__, fn.__doc__
    return wrapper


def _legend(fig, axes, title=None):
    """One legend for all panels, each label once."""
    handles = {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    if handles := {lab: h for lab, h in handles.items() if not lab.startswith("_")}:
        fig.legend(list(handles.values()), list(handles), loc="upper left", bbox_to_anchor=(0.995, 0.95),
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
    d, lo, hi = (sign * comp[c].to_numpy(float) / scale * 100 for c in ("diff", "ci_low", "ci_high"))
    lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
    labels = [f"{t} {c}".strip() for t, c in zip(comp["task"], comp["condition"])]
    ax = (fig := Figure(figsize=(6.2, 0.32 * len(comp) + 0.9))).subplots()
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
            c = colors.get(arch, colors.get(arch.split(" (")[0], "0.3"))    # an arm: its arch's colour
            _marks(ax, h["seq_len"].to_numpy(float), h, c, lw=1.4, label=arch)
        base = g.groupby("seq_len")["baseline"].mean()
        ax.plot(base.index, base.values, ls="--", color="0.35", lw=1, label="baseline")
        ax.set_xlabel("sequence length T")
        if g["seq_len"].nunique() > 1 and g["seq_len"].max() / max(g["seq_len"].min(), 1) >= 8:
            ax.set_xscale("log")
        if _positive(pd.concat([g["mean"], g["baseline"]])):
            ax.set_yscale("log")
    _legend(fig, axes, "filled = solved")
    return fig


def _marks(ax, x: np.ndarray, h: pd.DataFrame, c, **errorbar) -> None:
    """mean ± std at x, the mark filled where at least half the seeds solved the task."""
    y, solved = h["mean"].to_numpy(float), (h["solved_frac"] >= 0.5).to_numpy()
    ax.errorbar(x, y, yerr=h["std"].fillna(0), color=c, ecolor=c, capsize=2, **errorbar)
    ax.scatter(x[solved], y[solved], color=c, s=26, zorder=3)
    ax.scatter(x[~solved], y[~solved], facecolor="white", edgecolor=c, s=26, zorder=3)


def _fixed_length(ax, g: pd.DataFrame, colors: dict) -> None:
    """Conditions on x, architectures side by side (a task with one sequence length)."""
    conds = sorted(g["condition"].unique())
    archs = sorted(g["arch"].unique())
    width = 0.7 / max(len(archs), 1)
    for k, arch in enumerate(archs):
        x = np.arange(len(conds)) + (k - (len(archs) - 1) / 2) * width
        _marks(ax, x, g[g["arch"] == arch].set_index("condition").reindex(conds), colors.get(arch, "0.3"),
               fmt="none", label=arch)
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
        ax.set(title=_wrap(title), xlabel="step", ylabel=f"validation {metric}")
        if _positive(pd.concat([g["low"], g["high"]])):
            ax.set_yscale("log")
    _legend(fig, axes, "band: seed min..max")
    return fig


@_styled
def generation(frames: list[tuple[str, pd.DataFrame]]) -> Figure | None:
    """Free-running generation (sine's generation.csv: sample, t, target, generated): the
    first sample's target and generated values against t."""
    frames = [(t, f) for t, f in frames if {"sample", "t", "target", "generated"} <= set(f.columns)][:4]
    if not frames:
        return None
    fig, axes = _figure(len(frames), ncols=2, w=4.2, h=2.2)
    for ax, (title, f) in zip(axes, frames):
        f = f[f["sample"] == f["sample"].iloc[0]]
        for col, ls in (("target", "-"), ("generated", "--")):
            ax.plot(f["t"], f[col], lw=1.1, label=col, ls=ls)
        ax.set(title=title, xlabel="t")
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
        ax.set(yscale="log", title=f"{task}: {'at initialisation' if phase == 'init' else 'trained'}",
               xlabel="lag T - t", ylabel="||dL/dh_t||")
    _legend(fig, axes)
    return fig


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
        ax.set(yscale="log", title=_wrap(f"{task} / {arch} {cond}".strip()), xlabel="step",
               ylabel="gradient norm (before clipping)")
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
def seq2seq(runs: pd.DataFrame) -> Figure | None:
    """Bars per variant, mean ± std over the ok seeds (seaborn's deterministic errorbar="sd"),
    one panel per task / condition / cell (tables.seq2seq_runs)."""
    runs = runs[runs["status"] == "ok"]
    if not len(runs):
        return None
    panels = list(runs.groupby(["task", "condition", "arch"], sort=True))[:MAX_PANELS]
    sizes = [g["variant"].nunique() for _, g in panels]
    fig = Figure(figsize=(5.6, 0.26 * sum(sizes) + 0.75 * len(panels)))
    axes = fig.subplots(len(panels), 1, squeeze=False, gridspec_kw={"height_ratios": [n + 1.2 for n in sizes]})
    fig.subplots_adjust(hspace=0.9 if len(panels) > 1 else 0.2)
    for ax, ((task, cond, arch), g) in zip(axes[:, 0], panels):
        sns.barplot(g, x="value", y="variant", order=sorted(g["variant"].unique()), orient="h", errorbar="sd",
                    capsize=0.2, width=0.65, color=sns.color_palette("colorblind")[0], alpha=0.85,
                    err_kws={"linewidth": 1}, ax=ax)
        ax.set(title=f"{task} {cond} ({arch})".strip(), xlabel=g["metric"].iloc[0], ylabel="")
    return fig


def attention_examples(data) -> list[dict]:
    """attention.json (rnnbench.tasks.seq2seq: a list of {input, output, weights}) -> the examples
    with a 2-d weight matrix [output step x input step], as an array."""
    out = []
    for e in data if isinstance(data, list) else []:
        w = np.asarray(e.get("weights", []) if isinstance(e, dict) else [], dtype=float)
        if w.ndim == 2 and w.size:
            out.append({"input": list(map(str, e.get("input", []))), "output": list(map(str, e.get("output", []))),
                        "weights": w})
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
        ax.set(xlabel="input step", ylabel="output step")
        ax.set_title(title, fontsize=8)
    return fig


# ---- agreement and external memory --------------------------------------------------------
@_styled
def attractors(curve: pd.DataFrame, colors: dict) -> Figure | None:
    """Agreement accuracy against the number of attractors, a line per architecture (± std over
    seeds), a panel per task (claims/agreement.attractor_curve)."""
    if not len(curve):
        return None
    tasks = sorted(curve["task"].unique())
    fig, axes = _figure(len(tasks), ncols=2, w=3.4, h=2.6)
    for ax, task in zip(axes, tasks):
        for arch, h in curve[curve["task"] == task].groupby("arch", sort=True):
            h = h.sort_values("attractors")
            ax.errorbar(h["attractors"], h["mean"], yerr=h["std"].fillna(0), marker="o", ms=3, lw=1.4,
                        capsize=2, color=colors.get(arch, "0.3"), label=arch)
        ax.axhline(0.5, ls="--", color="0.35", lw=1, label="chance")
        ax.set_xticks(sorted(curve.loc[curve["task"] == task, "attractors"].unique()))
        ax.set(title=task, xlabel="attractors", ylabel="accuracy", ylim=(0, 1.02))
    _legend(fig, axes, "")
    return fig


@_styled
def addressing(frames: dict) -> Figure | None:
    """The NTM's read and write weightings over one test sequence (time across, memory slots down),
    as the paper's figure 6."""
    if not frames:
        return None
    fig = Figure(figsize=(7.0, 2.8))
    axes = fig.subplots(1, 2, sharey=True)
    for ax, key in zip(axes, ("write", "read")):
        w = np.asarray(frames[key], dtype=float).T          # [slots, T]
        ax.imshow(w, aspect="auto", cmap="Greys", vmin=0, vmax=1, interpolation="nearest")
        ax.set(title=f"{key} weightings", xlabel="time step")
    axes[0].set_ylabel("memory slots used (in order of first use)")
    return fig


# ---- section 8 ------------------------------------------------------------------------
@_styled
def lab_times(lt: pd.DataFrame) -> Figure | None:
    lt = lt[np.isfinite(lt["train_seconds"].astype(float))]
    if not len(lt):
        return None
    y, pal = np.arange(len(lt))[::-1], sns.color_palette("colorblind")
    ax = (fig := Figure(figsize=(6.0, 0.3 * len(lt) + 1.0))).subplots()
    ax.barh(y + 0.18, lt["train_seconds"], height=0.36, color=pal[0], label="this run (mean)")
    ax.barh(y - 0.18, lt["reference_seconds"], height=0.36, color=pal[7], label="quoted time")
    ax.set_yticks(y, [f"{t} ({a})" for t, a in zip(lt["task"], lt["arch"])])
    ax.set(xscale="log", xlabel="training wall time, s")
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
    tt = tt.assign(label=[f"{a} {sh}" + (" bi" if bi else "") + (f" L{int(lay)}" if lay > 1 else "")
                          for a, sh, bi, lay in zip(tt["arch"], tt["shape"], tt["bidirectional"], tt["layers"])])
    panels = list(tt.groupby(["source", "pass"], sort=True))[:6]
    backends = sorted(tt["backend"].astype(str).unique())
    colors = palette(backends)
    nshape = max(g["label"].nunique() for _, g in panels)
    w = min(13.0, max(3.6, 0.22 * nshape * len(backends) + 1.5))
    fig, axes = _figure(len(panels), ncols=1 if w > 6.5 else 2, w=w, h=2.9)
    width = 0.8 / max(len(backends), 1)
    for ax, ((src, pass_), g) in zip(axes, panels):
        # cell, then the shape's numbers in numeric order (H = 32 before 128)
        labels = sorted(g["label"].unique(), key=lambda t: [int(x) if x.isdigit() else x
                                                             for x in re.split(r"(\d+)", t)])
        x = np.arange(len(labels))
        for k, be in enumerate(backends):
            h = g[g["backend"].astype(str) == be].groupby("label")["step_samples_per_s"].median()
            ax.bar(x + (k - (len(backends) - 1) / 2) * width, h.reindex(labels).to_numpy(float), width,
                   color=colors[be], label=be)
        ax.set_xticks(x, labels, rotation=40, ha="right", fontsize=6.5)
        ax.set(yscale="log", ylabel="step-samples / s")
        ax.set_title(_wrap(f"{src}: {pass_}", 60), fontsize=8)
    _legend(fig, axes, "backend")
    return fig

