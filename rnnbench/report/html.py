"""Assemble the report: inputs -> tables (CSV + HTML) -> figures (inline SVG) -> claims
-> templates/index.html.j2 -> one self-contained index.html.

    build(results_dir, out_dir) -> Path of index.html

Each of the eleven sections is a `Section` of `Block`s (a table, a figure, text, a
preformatted sample); a section without data is kept, with its reason, so the page
always has the same outline. Byte-stable for equal inputs: fixed Styler uuids,
figures per figures.svg, sorted inputs, and no clock read anywhere.
"""
from __future__ import annotations

import json
import math
import multiprocessing as mp
import os
import re
import time
import traceback
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from pandas.io.formats.style import Styler

from .. import __version__
from ..errors import unknown
from ..gradients import iterated_functions
from ..io import atomic_write_text
from .. import claims as claimlib
from ..claims import crosstask
from . import figures, stats, tables
from .inputs import Inputs, load, load_json, load_step_norms, read_csv, run_path

TEMPLATES = Path(__file__).with_name("templates")
MAX_TABLE_ROWS = 2000   # beyond this a table is CSV-only (the page stays light)


@dataclass
class Block:
    kind: str                 # table | figure | text | pre | nodata | facts | claims
    title: str = ""
    html: Any = ""
    csv: str = ""             # the table's CSV file name, beside index.html
    note: str = ""
    data: Any = None


@dataclass
class Section:
    id: str
    title: str
    intro: str = ""
    blocks: list[Block] = field(default_factory=list)

    def nodata(self, why: str, title: str = "") -> "Section":
        self.blocks.append(Block("nodata", title=title, note=why))
        return self


# The page's outline: id, navigation label, heading (numbered in this order).
SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("summary", "Summary", "Summary"),
    ("lstm-gru", "LSTM vs GRU", "LSTM vs GRU"),
    ("long-dependencies", "Long dependencies", "Long dependencies"),
    ("beyond", "Beyond recurrence", "Beyond recurrence"),
    ("systems", "Agreement, memory", "Agreement and external memory"),
    ("grid", "Grid", "The whole grid"),
    ("curves", "Learning curves", "Learning curves"),
    ("gradients", "Gradient flow", "Gradient flow"),
    ("seq2seq", "Seq2seq", "Sequence to sequence"),
    ("lab", "Course lab", "The course lab"),
    ("throughput", "Throughput", "Kernel throughput"),
    ("provenance", "Provenance", "Provenance"),
)


def section(sid: str, intro: str = "") -> Section:
    """A numbered section of the outline above."""
    k = [x[0] for x in SECTIONS].index(sid)
    return Section(sid, f"{k + 1}. {SECTIONS[k][2]}", intro)


# ---- formatting ---------------------------------------------------------------------
def fmt_num(v) -> str:
    if v is None or v is pd.NA or (isinstance(v, (float, np.floating)) and math.isnan(v)):
        return "—"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (float, np.floating)) and math.isinf(v):
        return "∞" if v > 0 else "-∞"
    if isinstance(v, (int, np.integer)) or (isinstance(v, (float, np.floating)) and float(v).is_integer()
                                            and abs(v) < 1e15):
        return str(int(v))
    return f"{float(v):.4g}" if isinstance(v, (float, np.floating)) else str(v)


def pm(mean, std, n=None) -> str:
    s = fmt_num(mean) + (f" ± {fmt_num(std)}" if fmt_num(mean) != "—" and fmt_num(std) != "—" else "")
    return s if n is None else f"{s} (n={fmt_num(n)})"


def _metric(df: pd.DataFrame) -> list[str]:
    """'mse ↓' / 'accuracy ↑': the metric with the way it is better."""
    return [f"{m} {'↓' if d == 'min' else '↑'}" for m, d in zip(df["metric"], df["direction"])]


def _pm(df: pd.DataFrame, x: str = "") -> list[str]:
    return [pm(m, sd, n) for m, sd, n in zip(df[f"mean{x}"], df[f"std{x}"], df[f"n{x}"])]


def table_html(df: pd.DataFrame, uid: str, sortable: bool = False) -> Markup:
    """A pandas Styler table with a fixed uuid (byte-stable), numbers formatted, HTML escaped."""
    st = Styler(df.reset_index(drop=True).head(MAX_TABLE_ROWS), uuid=uid, cell_ids=False, escape="html",
                formatter=fmt_num).hide(axis="index")
    return Markup(st.to_html(table_uuid=uid, table_attributes=f'class="data{" sortable" if sortable else ""}"'))


def default_jobs() -> int:
    """RNNBENCH_REPORT_JOBS, else the cores this process may use (at most 4)."""
    env = os.environ.get("RNNBENCH_REPORT_JOBS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(n, 4))


def write(path: Path, text: str) -> None:
    """Atomically, then readable by all (as a page to serve), minus the umask."""
    atomic_write_text(path, text)
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


class Writer:
    """Writes each table as CSV beside index.html and returns its block; draws each figure,
    in worker processes when there are cores (a figure is most of a report's time), the
    page waiting for them in `finish`."""

    def __init__(self, out: Path, jobs: int = 1):
        self.out = out
        self.written: list[str] = []
        # forked workers start at once, imports done; one job (or no fork): figures drawn in this process
        fork = jobs > 1 and "fork" in mp.get_all_start_methods()
        self.pool = ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("fork")) if fork else None

    def figure(self, name: str, *args, salt: str, title: str = "", note: str = "") -> Block:
        """figures.<name>(*args) drawn as SVG (by a worker, or now); salt: its SVG ids' salt."""
        if self.pool is not None:
            return Block("figure", title=title, html=self.pool.submit(_draw, name, args, salt), note=note)
        try:
            return Block("figure", title=title, html=_draw(name, args, salt), note=note)
        except Exception as e:  # noqa: BLE001 - as in finish(): the figure says so, the section stands
            return _broken(title, e)

    def finish(self, sections: list[Section]) -> None:
        """Wait for the figures; drop empty ones; a figure that failed says so in its place."""
        for s in sections:
            for k, b in enumerate(s.blocks):
                try:
                    if b.kind == "figure":
                        b.html = Markup(b.html.result() if isinstance(b.html, Future) else b.html)
                except Exception as e:  # noqa: BLE001 - one figure must not take the page down
                    s.blocks[k] = _broken(b.title, e)
            s.blocks = [b for b in s.blocks if b.kind != "figure" or b.html]
        self.close()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
            self.pool = None

    def csv(self, name: str, raw: pd.DataFrame) -> str:
        """`raw` as name.csv beside index.html; the file's name."""
        write(self.out / f"{name}.csv", raw.to_csv(index=False, lineterminator="\n"))
        self.written.append(f"{name}.csv")
        return f"{name}.csv"

    def table(self, name: str, raw: pd.DataFrame, shown: pd.DataFrame | None = None, title: str = "",
              note: str = "", sortable: bool = False) -> Block:
        fname = self.csv(name, raw)
        shown = raw if shown is None else shown
        more = (f" (first {MAX_TABLE_ROWS} of {len(shown)} rows; all in the CSV)"
                if len(shown) > MAX_TABLE_ROWS else "")
        return Block("table", title=title, html=table_html(shown, name.replace("-", "_"), sortable), csv=fname,
                     note=(note + more).strip())


def _broken(title: str, e: Exception) -> Block:
    return Block("nodata", title=title, note=f"this figure could not be drawn: {type(e).__name__}: {e}")


def _draw(name: str, args: tuple, salt: str) -> str:
    """figures.<name>(*args) as SVG text ("" when there is nothing to draw); runs in a worker."""
    return figures.svg(getattr(figures, name)(*args), salt)


def _add(section: Section, *blocks: Block | None) -> None:
    section.blocks.extend(b for b in blocks if b is not None)


# ---- sections -----------------------------------------------------------------------
def claim_scope(inp: Inputs) -> tuple[list[str] | None, dict[str, str]]:
    """(the claims to evaluate on these runs: the grid's `claims` list, None = every registered
    claim; {claim: the config that decides it instead}, from the grid's `claims_elsewhere`).
    Names this version does not register are left out (an older results directory)."""
    g = inp.provenance.get("grid.yaml")
    g = g if isinstance(g, dict) else {}
    known = set(claimlib.CLAIMS.names())
    elsewhere = {n: str(cfg) for cfg, names in (g.get("claims_elsewhere") or {}).items() for n in names or []
                 if n in known}
    named = [n for n in g.get("claims") or [] if n in known and n not in elsewhere]
    if not named:
        named = [n for n in claimlib.CLAIMS.names() if n not in elsewhere] if elsewhere else None
    return named, elsewhere


def summary_section(inp: Inputs, verdicts, w: Writer, elsewhere: dict[str, str] | None = None) -> Section:
    elsewhere = elsewhere or {}
    s = section("summary", "What ran, where and when; the claims of the notes and papers, "
                "checked on these results.")
    runs, prov = inp.runs, [(name, d) for name, d in sorted(inp.provenance.items()) if isinstance(d, dict)]
    st = {x: int((runs["status"] == x).sum()) for x in tables.STATUSES}
    cpu = sorted({str(d["cpu_model"]) for _, d in prov if d.get("cpu_model")})
    when = [f"{name}: {k} = {v}" for name, d in prov for k, v in sorted(d.items())   # no clock is read here
            if any(x in str(k).lower() for x in ("date", "time", "when", "created", "generated"))
            and not isinstance(v, (dict, list))]
    uniq = {c: tables.uniq(runs[c]) for c in ("task", "arch", "backend", "hostname", "device", "threads")}
    uniq["seed"] = [str(x) for x in sorted({int(x) for x in runs["seed"]})]
    counts = {x: sum(v.status == x for _, v in verdicts) for x in claimlib.STATUSES}
    facts = [("runs", f"{len(runs)}: " + ", ".join(f"{n} {x}" for x, n in st.items())),
             ("grid", f"{len(uniq['task'])} task(s) × {len(uniq['arch'])} architecture(s) × {len(uniq['seed'])} "
                      "seed(s)"),
             *[(label, ", ".join(uniq[c]) or "—") for label, c in (("tasks", "task"), ("architectures", "arch"),
                                                                     ("backends", "backend"), ("seeds", "seed"))],
             ("where", "; ".join(f"{what} {', '.join(v)}" for what, v in (
                 ("host(s)", uniq["hostname"]), ("device(s)", uniq["device"]), ("threads", uniq["threads"]),
                 ("CPU", cpu)) if v) or "not recorded"),
             ("when", "; ".join(when) or "not recorded in the inputs"),
             ("claims", f"{counts['holds']} hold, {counts['fails']} fail, {counts['not enough data']} without "
                        "enough data" + "".join(f"; {n} decided by {cfg}" for cfg, n in
                                                pd.Series(elsewhere, dtype=object).value_counts().items()))]
    bad = st["diverged"] + st["failed"] + st["missing"]
    planned = int(((runs["status"] == "diverged") & runs.index.isin(tables.clipping_runs(runs).index)
                   & runs[tables.CLIP].isna()).sum()) if tables.CLIP in runs else 0
    note = (f"Partial results: {bad} of {len(runs)} runs did not finish ok ({st['diverged']} diverged, "
            f"{st['failed']} failed, {st['missing']} missing). Every table counts only the ok runs in its means "
            "and shows n; diverged runs count as not solved."
            + (f" {planned} of the diverged runs are the unclipped arm of the clipping ablation (Gradient "
               "flow): the divergence it is there to show." if planned else "")) if bad else ""
    _add(s, Block("facts", data=facts, note=note), Block("claims", title="Claims", data=_claim_rows(verdicts) + _elsewhere_rows(elsewhere)),
         w.table("status", tables.status_table(runs), title="Runs per task and status"))
    return s


def _claim_rows(verdicts) -> list[dict]:
    return [{"name": c.name, "text": c.text, "source": c.source, "status": v.status, "evidence": v.evidence,
             "css": {"holds": "holds", "fails": "fails"}.get(v.status, "unknown"),
             "numbers": table_html(pd.DataFrame(v.numbers), f"claim_{c.name}") if v.numbers else ""}
            for c, v in verdicts]


def _elsewhere_rows(elsewhere: dict[str, str]) -> list[dict]:
    """The claims this grid leaves to another config: named, not evaluated here."""
    out = []
    for name, cfg in elsewhere.items():
        c = claimlib.CLAIMS.get(name)
        out.append({"name": c.name, "text": c.text, "source": c.source, "status": f"decided by {cfg}",
                    "evidence": f"not run here: its experiment is in workflows/config/{cfg} (its measured time "
                                "in that file's header)", "css": "elsewhere", "numbers": ""})
    return out


def _solve_text(steps: float, reached: str) -> str:
    """'median (k/n)' steps to the solved threshold (tables.solve_stats), 'never (0/n)', '—' without a rule."""
    if not reached:
        return "—"
    return f"{steps:.0f} ({reached})" if math.isfinite(steps) else f"never ({reached})"


def _solve_pair(comp: pd.DataFrame) -> list[str]:
    """'median a (k/n) / median b (k/n)' per comparison row, '—' without a rule."""
    return [f"{_solve_text(sa, ra)} / {_solve_text(sb, rb)}" if ra or rb else "—" for sa, ra, sb, rb in
            zip(comp["steps_to_solve_a"], comp["reached_a"], comp["steps_to_solve_b"], comp["reached_b"])]


def comparison_section(inp: Inputs, w: Writer, method: str) -> Section:
    s = section("lstm-gru",
                "In the style of Chung et al. 2014 and Jozefowicz et al. 2015: LSTM vs GRU, the two GRU forms, "
                "and every other cell that ran against LSTM. Per task and condition, the test "
                f"metric's mean ± std over seeds (n = ok runs), the difference with a 95 % {method} interval; the "
                "better one is named only when the interval excludes zero. Where the task has a solved threshold, "
                "the median steps to reach it on validation (of the runs that did; k/n of them), the measure that "
                "tells apart two cells that both solve it. Parameter counts and time per epoch "
                "show whether GRU is indeed smaller and quicker (quicker: by the same interval on seconds per "
                "epoch).")
    titles = inp.runs.groupby("arch")["cell_title"].first()
    for a, b in tables.pairs(inp.runs["arch"].unique()):
        comp = tables.compare(inp.runs, a, b, method)
        if not len(comp):
            s.blocks.append(Block("text", title=f"{a} vs {b}", note="no data: no task ran both"))
            continue
        shown = pd.DataFrame({
            "task": comp["task"], "condition": comp["condition"],
            "metric": _metric(comp), f"{a}": _pm(comp, "_a"), f"{b}": _pm(comp, "_b"),
            f"{a} − {b} [95% CI]": [stats.Interval(d, lo, hi, 0, 0, method).text(".3g")
                                    for d, lo, hi in zip(comp["diff"], comp["ci_low"], comp["ci_high"])],
            "better": comp["better"].replace("", "—"),
            f"steps to solve {a} / {b} (reached)": _solve_pair(comp),
            "diverged": _pair(comp, "diverged"),
            f"params {a} / {b}": _pair(comp, "n_params"), "smaller": comp["smaller"].replace("", "—"),
            f"s/epoch {a} / {b}": _pair(comp, "sec_per_epoch"), f"time {b}/{a}": comp["time_ratio_b_a"],
            "quicker": comp["quicker"].replace("", "—"), "note": comp["note"]})
        n_better = (comp["better"] != "").sum()
        note = (f"{a} better in {(comp['better'] == a).sum()}, {b} better in {(comp['better'] == b).sum()}, "
                f"undecided in {len(comp) - n_better} of {len(comp)}; "
                f"{b} smaller in {(comp['smaller'] == b).sum()}, quicker in {(comp['quicker'] == b).sum()}.")
        _add(s, w.table(f"compare_{a}_{b}", comp, shown, title=f"{a} vs {b}",
                        note=f"{a}: {titles[a]}; {b}: {titles[b]}. {note}", sortable=True),
             w.figure("comparison_forest", comp, salt=f"forest-{a}-{b}"))
    if not s.blocks:
        return s.nodata("no pair of architectures to compare")
    _add(s, across_block(inp, w))
    return s


def across_block(inp: Inputs, w: Writer) -> Block | None:
    """rliable-style aggregates over tasks (claims.crosstask): P(a > b), IQM of normalised scores."""
    try:
        ct = crosstask.table(inp.runs, tables.pairs(inp.runs["arch"].unique()))
    except Exception as e:  # noqa: BLE001 - the pairs' tables above stand without it
        return Block("nodata", title="Across tasks", note=f"not computed: {type(e).__name__}: {e}")
    if not len(ct) or ct["strata"].max() == 0:
        return None
    iv = lambda e, lo, hi: crosstask.Across(e, lo, hi, 0, 0).text()  # noqa: E731
    shown = pd.DataFrame({"a": ct["a"], "b": ct["b"], "P(a better than b) [95% CI]": list(map(
        iv, ct["p_a_better"], ct["p_low"], ct["p_high"])), "strata": ct["strata"],
        "IQM a [95% CI]": list(map(iv, ct["iqm_a"], ct["iqm_a_low"], ct["iqm_a_high"])),
        "IQM b [95% CI]": list(map(iv, ct["iqm_b"], ct["iqm_b_low"], ct["iqm_b_high"]))})
    return w.table("across_tasks", ct, shown, title="Across tasks",
                   note="In the style of rliable (Agarwal et al. 2021): P(a better than b) is, per task and "
                        "condition (a stratum), the chance that a random seed of a beats a random seed of b (where "
                        "the runs stopped once solved: solves it in fewer steps), "
                        "averaged over the strata where both have >= 2 finished runs; IQM: the interquartile mean "
                        "of normalised scores (0 = trivial baseline, 1 = solved threshold; tasks with a "
                        "threshold). 95 % stratified bootstrap intervals (seeds resampled within each stratum).")


def _pair(comp: pd.DataFrame, col: str) -> list[str]:
    return [f"{fmt_num(x)} / {fmt_num(y)}" for x, y in zip(comp[f"{col}_a"], comp[f"{col}_b"])]


def longdep_section(inp: Inputs, w: Writer, colors) -> Section:
    s = section("long-dependencies",
                "The tasks of the long-dependency family (adding, copy, temporal order, pixel digits, ...): the "
                "test metric against the sequence length, per "
                "architecture (mean ± std over seeds), with the task's trivial baseline (dashed) and solved marks "
                "(filled: at least half the seeds reach the task's threshold).")
    lt = tables.longdep_table(inp.runs)
    if not len(lt):
        return s.nodata("no runs of a long-dependency task (task_family)")
    shown = pd.DataFrame({
        "task": lt["task"], "condition": lt["condition"], "arch": lt["arch"], "T": lt["seq_len"],
        "metric": _metric(lt), "mean ± std (n)": _pm(lt),
        "diverged": lt["diverged"], "baseline": lt["baseline"], "solved": lt["solved_frac"]})
    _add(s, w.figure("longdep", lt, colors, salt="longdep"),
         w.table("long_dependencies", lt, shown, sortable=True))
    return s


def beyond_section(inp: Inputs, w: Writer, verdicts=(), method: str = "welch") -> Section:
    """What a user would pick instead of an RNN (issue 18; rnnbench/claims/beyond.py) beside LSTM and GRU,
    and the three claims' verdicts (the report's own where it evaluated them, else evaluated here)."""
    from ..claims import beyond
    s = section("beyond",
                "Models that are not recurrent cells (TCN, Transformer, the window MLP: rnnbench.models.MODELS) and "
                "cells without a recurrent matrix (minGRU, minLSTM) beside LSTM and GRU, like with like: per task, "
                "condition and length, the test metric's mean ± std over seeds (n = ok runs), the median steps to "
                "the solved threshold (of the runs that reached it; k/n), parameters and milliseconds per "
                "optimizer step (training time / steps; measured inside runs that share the machine: compare "
                "only rows of the same device/threads). A model's own settings (model_params match: lstm, "
                "its parameter count matched to LSTM's at the run's hidden; window) are part of its name.")
    bt = beyond.table(inp.runs)
    if not len(bt):
        return s.nodata("no runs of tcn, transformer, window-mlp, mingru or minlstm")
    shown = pd.DataFrame({
        "task": bt["task"], "condition": bt["condition"], "T": bt["T"], "model": bt["model"],
        "metric": _metric(bt), "mean ± std (n)": _pm(bt), "diverged": bt["diverged"],
        "steps to solve (reached)": [_solve_text(x, r) for x, r in zip(bt["steps_to_solve"], bt["reached"])],
        "params": bt["n_params"], "ms/step": bt["ms_per_step"], "device/threads": bt["where"]})
    _add(s, w.table("beyond_recurrence", bt, shown, sortable=True))
    mt = beyond.matched_throughput(inp.throughput)
    if len(mt):
        _add(s, w.table("beyond_matched_throughput", mt, mt.rename(columns={
            "match_hidden": "sized to hidden", "input_size": "input", "speed_vs_match": "speed vs matched fused"}),
            title="Throughput at the same parameter count",
            note=f"`rnnbench throughput --match {mt['match'].iloc[0]}` (the config's sweep, alone): every model at the "
                 "width with as many parameters as that cell's stack at the given hidden; forward + backward ms "
                 "per batch; speed relative to that cell's fused kernel (> 1: faster)."))
    have = {c.name: (c, v) for c, v in verdicts}
    missing = [n for n in beyond.CLAIM_NAMES if n not in have]     # the grid did not name them: evaluated here
    if missing:
        have.update((c.name, (c, v)) for c, v in claimlib.evaluate(inp.runs, inp.gradients, method, names=missing))
    rows = pd.DataFrame([{"claim": n, "text": have[n][0].text, "source": have[n][0].source,
                          "status": have[n][1].status, "evidence": have[n][1].evidence} for n in beyond.CLAIM_NAMES])
    _add(s, w.table("beyond_claims", rows, title="The claims",
                    note="Decided from these runs (rnnbench/claims/beyond.py); the numbers behind each are in the "
                         "summary's claims table where the grid names the claim."))
    return s


def systems_section(inp: Inputs, w: Writer, verdicts=(), method: str = "welch", colors=None) -> Section:
    """The lecture notes' remaining systems (issue 19): subject-verb agreement against the number of
    attractors (rnnbench/claims/agreement.py) and the NTM's copy generalisation with its addressing
    (rnnbench/claims/memory.py), and their claims' verdicts (the report's own where it evaluated
    them, else evaluated here)."""
    from ..claims import agreement, memory
    s = section("systems",
                "Subject-verb agreement (Linzen, Dupoux & Goldberg 2016) on generated sentences whose test split "
                "is balanced by the number of attractors (intervening nouns of the other number): accuracy at "
                "each number of attractors per architecture, mean over seeds (std in the CSV), the overall "
                "metric and the trivial baseline beside it. The Neural Turing Machine (Graves et al. 2014) "
                "against the LSTM on copying sequences longer than the training range: wrong bits per bit at "
                "each test length, and the NTM's read and write weightings on one test sequence.")
    at, ct = agreement.table(inp.runs), memory.table(inp.runs)
    if not len(at) and not len(ct):
        return s.nodata("no runs of agreement, agreement-lm or seqcopy")
    names = []
    if len(at):
        cols = [c for c in at.columns if c.startswith("attractors_") and not c.endswith("_std")]
        shown = at[["task", "arch", "n", "metric", "overall", "baseline", *cols]].rename(
            columns={c: f"{c.split('_')[1]} attractors" for c in cols})
        _add(s, w.figure("attractors", agreement.attractor_curve(inp.runs), colors or {}, salt="attractors"),
             w.table("agreement_by_attractors", at, shown, sortable=True))
        names += agreement.CLAIM_NAMES
    if len(ct):
        _add(s, w.table("copy_generalisation", ct, title="Copy beyond the training range (wrong bits per bit)",
                        note="L<n>: test length n; max_len: the longest length trained on; bits per sequence "
                             "and reached: the training range's metric and the runs that met the threshold."))
        for task, arch, path in _first_files(inp, "addressing.json"):
            try:
                frames = memory.addressing_frames(json.loads(path.read_text()))
            except (OSError, ValueError):
                continue
            _add(s, w.figure("addressing", frames, salt=f"addr{task}",
                             title=f"NTM addressing on {task} (length {frames.get('length')})" if frames else ""))
        names += memory.CLAIM_NAMES
    have = {c.name: (c, v) for c, v in verdicts}
    missing = [n for n in names if n not in have]
    if missing:
        have.update((c.name, (c, v)) for c, v in claimlib.evaluate(inp.runs, inp.gradients, method, names=missing))
    rows = pd.DataFrame([{"claim": n, "text": have[n][0].text, "source": have[n][0].source,
                          "status": have[n][1].status, "evidence": have[n][1].evidence} for n in names])
    _add(s, w.table("systems_claims", rows, title="The claims",
                    note="Decided from these runs (rnnbench/claims/agreement.py, memory.py)."))
    return s


def grid_section(inp: Inputs, w: Writer) -> Section:
    s = section("grid", "One row per architecture × task (× condition where a task ran "
                "several): click a column header to sort.")
    gt = tables.grid_table(inp.runs)
    if not len(gt):
        return s.nodata("no runs")
    s.blocks.append(w.table("grid", gt, gt.assign(metric=_metric(gt)).drop(columns=["direction"]), sortable=True))
    return s


def curves_section(inp: Inputs, w: Writer, colors) -> Section:
    s = section("curves", "Validation metric against optimizer steps, one line per "
                "architecture (mean over seeds), the band spanning the seeds.")
    arrays = tables.curve_arrays(inp.curves)
    tasks = sorted(inp.runs.loc[inp.runs.index.isin(list(arrays)), "task"].unique())
    bands = [b.assign(task=t) for t in tasks if len(b := tables.curve_bands(inp.runs, inp.curves, t, arrays=arrays))]
    if not bands:
        s.nodata("no curve.csv found under the runs' folders")
    else:
        panels, others = [], []
        for b in bands:    # a panel per task: its condition with the most architectures (ties: the first by name)
            counts = b.groupby("condition")["arch"].nunique().sort_index()
            metric = inp.runs.loc[inp.runs["task"] == b["task"].iloc[0], "metric"].iloc[0]
            panels.append((f"{b['task'].iloc[0]} {counts.idxmax()}".strip(), metric,
                           b[b["condition"] == counts.idxmax()]))
            others += [f"{b['task'].iloc[0]}: {len(counts) - 1} other condition(s)"] if len(counts) > 1 else []
        note = "One panel per task (its condition with the most architectures)" + (
            "; not drawn: " + "; ".join(others) if others else "") + \
            ". Every task's and condition's bands are in learning_curves.csv."
        _add(s, w.figure("learning_curves", panels, colors, salt="curves", note=note))
        allbands = pd.concat(bands, ignore_index=True)
        w.csv("learning_curves", allbands[["task"] + [c for c in allbands.columns if c != "task"]])
    gens = [(f"{task} / {arch}", f) for task, arch, p in _first_files(inp, "generation.csv")
            if (f := read_csv(p)) is not None]
    _add(s, w.figure("generation", gens, salt="generation", title="Free-running generation",
                     note="generation.csv of one run per architecture (the first ok seed)"))
    return s


def _first_files(inp: Inputs, name: str) -> list[tuple[str, str, Path]]:
    """(task, arch, path) of the file `name` of the first ok run of each task and cell that wrote one."""
    out = []
    for (task, arch), g in inp.runs[inp.runs["status"] == "ok"].groupby(["task", "arch"], sort=True):
        paths = [p / name for p in (run_path(inp.results_dir, rd) for rd in g["run_dir"]) if p and (p / name).is_file()]
        out += [(task, arch, paths[0])] if paths else []
    return out


def gradients_section(inp: Inputs, w: Writer, colors) -> Section:
    s = section("gradients", "||dL/dh_t|| against the lag T − t per architecture (log "
                "scale), at initialisation and after training; the recurrent matrix's spectral radius; why "
                "repeated application of one map vanishes or explodes; and the clipping ablation.")
    if len(inp.gradients):
        _add(s, w.figure("gradient_flow", tables.gradient_curves(inp.gradients), colors, salt="gradflow"),
             w.table("gradients", tables.gradient_table(inp.gradients), title="Spectral radius and decay per step",
                     note="decay per step: the factor ρ of the least-squares fit ||dL/dh|| ≈ c·ρ^lag to the "
                          "mean curve; R² of that fit on the log scale."))
    else:
        s.nodata("no gradient diagnostics (gradients/**/gradients.csv)")
    _add(s, w.table("scalar_gradient", _scalar_gradient_rows(), title="A scalar recurrence through 50 steps",
                    note="h_t = w h_(t-1): dh_50/dh_0 = w^50, computed by autograd in float64 (the claim "
                         "scalar_gradient_50_steps): a weight a little above 1 explodes the gradient, a little "
                         "below 1 makes it vanish."))
    _add(s, w.figure("iterated", iterated_functions(), salt="iterated", title="Iterated functions",
                     note="a recurrent network applies the same map at every step: iterated, a contraction "
                          "flattens (vanishing), an expansion saturates or becomes chaotic (exploding)."))
    norms = load_step_norms(inp.results_dir, tables.clipping_runs(inp.runs), inp.curves)
    if len(ct := tables.clipping_table(inp.runs, norms)):
        _add(s, w.figure("clipping", ct, inp.runs, norms, salt="clipping", title="Clipping ablation",
                         note="per optimizer step from each run's steps.csv (else its curve.csv)"),
             w.table("clipping", ct, title="Clipping ablation: runs that differ only in the clip threshold",
                     note="spikes: steps whose gradient norm exceeds 10× the run's median."))
    else:
        s.nodata("no runs that differ only in the clipping threshold", "Clipping ablation")
    return s


def _scalar_gradient_rows() -> pd.DataFrame:
    from ..claims import exact
    return pd.DataFrame([{"w": wt, "steps": exact.STEPS, "dh_T/dh_0 (autograd)": exact.scalar_gradient(wt),
                          "quoted in the notes": q} for wt, (q, _) in exact.QUOTED.items()])


def seq2seq_section(inp: Inputs, w: Writer) -> Section:
    s = section("seq2seq", "Accuracy per encoder-decoder variant (plain, peeking, "
                "attention, teacher forcing, beam width), like with like, and attention maps of a few examples.")
    st = tables.seq2seq_table(inp.runs)
    if not len(st):
        return s.nodata("no runs of a seq2seq task (task_kind)")
    shown = pd.DataFrame({"task": st["task"], "condition": st["condition"], "variant": st["variant"],
                          "arch": st["arch"], "metric": _metric(st), "mean ± std (n)": _pm(st),
                          "best": st["best"], "diverged": st["diverged"]})
    _add(s, w.figure("seq2seq", tables.seq2seq_runs(inp.runs), salt="seq2seq"),
         w.table("seq2seq", st, shown, sortable=True))
    examples = []    # the longest sequences' best runs first
    runs = tables.seq2seq_runs(inp.runs[inp.runs["status"] == "ok"]).assign(_T=lambda d: d["seq_len"].astype(float))
    for _, r in runs.sort_values(["_T", "value", "seed"], ascending=[False, False, True], kind="mergesort").iterrows():
        p = run_path(inp.results_dir, r["run_dir"])
        if len(examples) < 4 and p is not None and (p / "attention.json").is_file():
            examples += [(f"{r['task']} {r['variant']} seed {fmt_num(r['seed'])} #{k}", e)
                         for k, e in enumerate(figures.attention_examples(load_json(p / "attention.json"))[:2])]
    if examples:
        _add(s, w.figure("attention", examples, salt="attention", title="Attention weights",
                         note="rows: output steps, columns: input steps (attention.json of the longest "
                              "sequences' best runs)."))
    else:
        s.nodata("no attention.json in the runs", "Attention weights")
    return s


def lab_section(inp: Inputs, w: Writer) -> Section:
    s = section("lab", "Each task of the course-lab family: its test metric and training wall time next to the "
                "time a source quotes for it (the lab's notes, for its own Keras runs on unnamed hardware). The "
                "ratio is given only for runs at the quoted setting; the others say what differs.")
    lt = tables.lab_table(inp.runs)
    if not len(lt):
        return s.nodata("no runs of the lab's tasks (task_family course-lab)")
    shown = pd.DataFrame({"lab task": lt["task_title"], "task": lt["task"], "arch": lt["arch"],
                          "metric": lt["metric"], "mean ± std (n)": _pm(lt),
                          "wall time, s": lt["train_seconds"], "quoted time, s": lt["reference_seconds"],
                          "ratio": lt["ratio_to_reference"], "setting": lt["setting"],
                          "quoted by": lt["reference_source"],
                          "device": lt["device"], "threads": lt["threads"]})
    _add(s, w.table("lab", lt, shown), w.figure("lab_times", lt, salt="labtimes"))
    for task, arch, path in _first_files(inp, "samples.txt"):
        text = path.read_text(errors="replace")
        cut = " (cut)" if len(text) > 3000 else ""
        s.blocks.append(Block("pre", title=f"Generated samples: {task} / {arch}{cut}", html=text[:3000]))
    return s


def throughput_section(inp: Inputs, w: Writer) -> Section:
    s = section("throughput",
                "Step-samples per second (batch × sequence length / time) and GFLOP/s (the cell's own count of "
                "its matrix products, CellSpec.flops, ×3 with the backward pass) per cell × backend × shape, and "
                "the ratio to the fused kernel.")
    tt = tables.throughput_table(inp.throughput, inp.asv)
    if not len(tt):
        return s.nodata("no asv results and no throughput/*.csv")
    _add(s, w.figure("throughput", tt, salt="throughput"), w.table("throughput", tt, sortable=True))
    return s


def provenance_section(inp: Inputs, w: Writer) -> Section:
    s = section("provenance", "What the runs recorded (versions, git sha, device, threads) "
                "and the provenance files of the results directory (config, versions, CPU).")
    s.blocks.append(w.table("provenance_runs", tables.provenance_table(inp.runs), title="Recorded by the runs"))
    if not inp.provenance:
        s.blocks.append(Block("nodata", title="provenance/", note="no provenance/*.json|yaml files"))
    for name, data in sorted(inp.provenance.items()):
        if isinstance(data, dict):
            flat = pd.json_normalize(data, sep=".")
            rows = pd.DataFrame({"key": flat.columns, "value": [fmt_num(v) if not isinstance(v, list) else
                                                               ", ".join(map(str, v)) for v in flat.iloc[0]]})
            uid = "prov_" + re.sub(r"\W", "_", name, flags=re.ASCII)
            s.blocks.append(Block("table", title=name, html=table_html(rows, uid)))
        else:
            s.blocks.append(Block("pre", title=name, html=str(data)))
    return s


# ---- the page -----------------------------------------------------------------------
def _guard(fn: Callable[[], Section], sid: str) -> Section:
    """A section that breaks on unexpected input says so instead of taking the page down."""
    try:
        return fn()
    except Exception as e:  # noqa: BLE001
        tb = traceback.format_exception_only(type(e), e)[-1].strip()
        return section(sid).nodata(f"this section could not be built from these inputs: {tb}")


def build(results_dir, out_dir=None, asv_results=None, method: str = "welch",
          timings: dict[str, float] | None = None, jobs: int | None = None) -> Path:
    """Write index.html and one CSV per table to `out_dir` (default RESULTS_DIR/report).

    jobs: processes drawing figures (default: default_jobs()); the output is the same bytes
    for any number. timings: if given, filled with the wall seconds of each stage
    (scripts/bench_report.py; figures are counted where the page waits for them)."""
    if method not in stats.METHODS:
        raise unknown("interval method", method, stats.METHODS)
    timings, clock = {} if timings is None else timings, [time.perf_counter()]

    def lap(name):
        clock.append(time.perf_counter())
        timings[name] = clock[-1] - clock[-2]

    results_dir = Path(results_dir)
    inp = load(results_dir, asv_results)
    lap("load")
    out = Path(out_dir) if out_dir is not None else results_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    w = Writer(out, default_jobs() if jobs is None else jobs)
    colors = figures.palette([*inp.runs["arch"], *inp.gradients["arch"]])   # an architecture's colour everywhere
    named, elsewhere = claim_scope(inp)
    verdicts = claimlib.evaluate(inp.runs, inp.gradients, method=method, throughput=inp.throughput, names=named)
    lap("claims")
    builders = [("summary", lambda: summary_section(inp, verdicts, w, elsewhere)),
                ("lstm-gru", lambda: comparison_section(inp, w, method)),
                ("long-dependencies", lambda: longdep_section(inp, w, colors)),
                ("beyond", lambda: beyond_section(inp, w, verdicts, method)),
                ("systems", lambda: systems_section(inp, w, verdicts, method, colors)),
                ("grid", lambda: grid_section(inp, w)),
                ("curves", lambda: curves_section(inp, w, colors)),
                ("gradients", lambda: gradients_section(inp, w, colors)), ("seq2seq", lambda: seq2seq_section(inp, w)),
                ("lab", lambda: lab_section(inp, w)), ("throughput", lambda: throughput_section(inp, w)),
                ("provenance", lambda: provenance_section(inp, w))]
    sections = []
    try:
        for sid, fn in builders:
            sections.append(_guard(fn, sid))
            lap(sid)
        w.finish(sections)
        lap("figures")
    finally:
        w.close()
    w.csv("claims", pd.DataFrame([{"claim": c.name, "text": c.text, "source": c.source, "status": v.status,
                                   "evidence": v.evidence} for c, v in verdicts]))
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True, undefined=StrictUndefined,
                      keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    page = env.get_template("index.html.j2").render(
        sections=sections, nav=[(sid, label) for sid, label, _ in SECTIONS], version=__version__,
        results_name=results_dir.resolve().name, method=method, tables=sorted(w.written), n_runs=len(inp.runs))
    write(out / "index.html", page)
    lap("render")
    return out / "index.html"

