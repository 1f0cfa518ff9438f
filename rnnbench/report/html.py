"""Assemble the report: inputs -> tables (CSV + HTML) -> figures (inline SVG) -> claims
-> templates/index.html.j2 -> one self-contained index.html.

    build(results_dir, out_dir) -> Path of index.html

Each of the ten sections is a `Section` of `Block`s (a table, a figure, text, a
preformatted sample); a section without data is kept, with its reason, so the page
always has the same outline. Byte-stable for equal inputs: fixed Styler uuids,
figures per figures.svg, sorted inputs, and no clock read anywhere.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from .. import __version__
from ..io import atomic_write_text
from . import claims as claimlib
from . import figures, stats, tables
from .inputs import Inputs, load, load_json, load_step_norms, run_path, seq_len_column

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

    def nodata(self, why: str) -> "Section":
        self.blocks.append(Block("nodata", note=why))
        return self


# The page's outline: id, navigation label, heading (numbered in this order).
SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("summary", "Summary", "Summary"),
    ("lstm-gru", "LSTM vs GRU", "LSTM vs GRU"),
    ("long-dependencies", "Long dependencies", "Long dependencies"),
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
    if v is None or v is pd.NA:
        return "—"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        if math.isnan(v):
            return "—"
        if math.isinf(v):
            return "∞" if v > 0 else "-∞"
        if float(v).is_integer() and abs(v) < 1e15:
            return str(int(v))
        return f"{float(v):.4g}"
    return str(v)


def pm(mean, std, n=None) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        s = "—"
    else:
        s = fmt_num(mean) + ("" if std is None or (isinstance(std, float) and math.isnan(std))
                             else f" ± {fmt_num(std)}")
    return s if n is None else f"{s} (n={fmt_num(n)})"


def table_html(df: pd.DataFrame, uid: str, sortable: bool = False) -> Markup:
    """A pandas Styler table with a fixed uuid (byte-stable), numbers formatted, HTML escaped."""
    from pandas.io.formats.style import Styler

    df = df.reset_index(drop=True)
    if len(df) > MAX_TABLE_ROWS:
        df = df.head(MAX_TABLE_ROWS)
    st = Styler(df, uuid=uid, cell_ids=False, escape="html", formatter=fmt_num)
    st = st.hide(axis="index")
    attrs = f'class="data{" sortable" if sortable else ""}"'
    return Markup(st.to_html(table_uuid=uid, table_attributes=attrs))


def _pool(jobs: int):
    """A process pool of `jobs` workers (forked: they start at once, imports done), or None
    for one job or where fork is unavailable."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    if jobs <= 1 or "fork" not in mp.get_all_start_methods():
        return None
    return ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("fork"))


def default_jobs() -> int:
    """RNNBENCH_REPORT_JOBS, else the cores this process may use (at most 4)."""
    import os

    env = os.environ.get("RNNBENCH_REPORT_JOBS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:
        n = os.cpu_count() or 1
    return max(1, min(n, 4))


def write(path: Path, text: str) -> None:
    """Atomically, then readable by all (as a page to serve), minus the umask."""
    import os

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
        self.pool = _pool(jobs)

    def figure(self, name: str, *args, salt: str, title: str = "", note: str = "") -> Block:
        """figures.<name>(*args) drawn as SVG (now, or by a worker); salt: its SVG ids' salt."""
        if self.pool is None:
            try:
                html: Any = _draw(name, args, salt)
            except Exception as e:  # noqa: BLE001 - as in finish(): the figure says so, the section stands
                return _broken(title, e)
        else:
            html = self.pool.submit(_draw, name, args, salt)
        return Block("figure", title=title, html=html, note=note)

    def finish(self, sections: list[Section]) -> None:
        """Wait for the figures; drop empty ones; a figure that failed says so in its place."""
        from concurrent.futures import Future

        for s in sections:
            blocks = []
            for b in s.blocks:
                if b.kind == "figure":
                    try:
                        text = b.html.result() if isinstance(b.html, Future) else b.html
                    except Exception as e:  # noqa: BLE001 - one figure must not take the page down
                        b = _broken(b.title, e)
                    else:
                        if not text:
                            continue
                        b.html = Markup(text)
                blocks.append(b)
            s.blocks = blocks
        self.close()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
            self.pool = None

    def table(self, name: str, raw: pd.DataFrame, shown: pd.DataFrame | None = None, title: str = "",
              note: str = "", sortable: bool = False) -> Block:
        fname = f"{name}.csv"
        write(self.out / fname, raw.to_csv(index=False, lineterminator="\n"))
        self.written.append(fname)
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


def _arrow(direction: str) -> str:
    return "↓" if direction == "min" else "↑"


# ---- sections -----------------------------------------------------------------------
def summary_section(inp: Inputs, verdicts, w: Writer) -> Section:
    s = section("summary", "What ran, where and when; the claims of the notes and papers, "
                "checked on these results.")
    info = tables.summary(inp.runs, inp.provenance)
    cpu = _find_keys(inp.provenance, r"cpu_model|cpu model|model name|processor")
    st = info["status"]
    facts = [
        ("runs", f"{info['n_runs']}: {st['ok']} ok, {st['diverged']} diverged, {st['failed']} failed, "
                 f"{st['missing']} missing"),
        ("grid", f"{len(info['tasks'])} task(s) × {len(info['archs'])} architecture(s) × {len(info['seeds'])} "
                 f"seed(s)"),
        ("tasks", ", ".join(info["tasks"]) or "—"),
        ("architectures", ", ".join(info["archs"]) or "—"),
        ("backends", ", ".join(info["backends"]) or "—"),
        ("seeds", ", ".join(map(str, info["seeds"])) or "—"),
        ("where", "; ".join(x for x in (
            "host(s) " + ", ".join(info["hosts"]) if info["hosts"] else "",
            "device(s) " + ", ".join(info["devices"]) if info["devices"] else "",
            "threads " + ", ".join(info["threads"]) if info["threads"] else "",
            "CPU " + ", ".join(cpu) if cpu else "") if x) or "not recorded"),
        ("when", "; ".join(info["when"]) or "not recorded in the inputs"),
    ]
    counts = claimlib.summary_counts(verdicts)
    facts.append(("claims", f"{counts['holds']} hold, {counts['fails']} fail, {counts['not enough data']} "
                            "without enough data"))
    bad = st["diverged"] + st["failed"] + st["missing"]
    note = (f"Partial results: {bad} of {info['n_runs']} runs did not finish ok ({st['diverged']} diverged, "
            f"{st['failed']} failed, {st['missing']} missing). Every table counts only the ok runs in its means "
            "and shows n; diverged runs count as not solved.") if bad else ""
    s.blocks.append(Block("facts", data=facts, note=note))
    s.blocks.append(Block("claims", title="Claims", data=_claim_rows(verdicts)))
    s.blocks.append(w.table("status", tables.status_table(inp.runs), title="Runs per task and status"))
    return s


def _find_keys(prov: dict, pattern: str) -> list[str]:
    import re
    found = []

    def walk(d):
        if isinstance(d, dict):
            for k, v in sorted(d.items(), key=lambda kv: str(kv[0])):
                if re.search(pattern, str(k), re.I) and not isinstance(v, (dict, list)):
                    found.append(str(v))
                else:
                    walk(v)
    for _, data in sorted(prov.items()):
        walk(data)
    return sorted(set(found))


def _claim_rows(verdicts) -> list[dict]:
    rows = []
    for c, v in verdicts:
        numbers = pd.DataFrame(v.numbers) if v.numbers else None
        rows.append({"name": c.name, "text": c.text, "source": c.source, "status": v.status,
                     "css": {"holds": "holds", "fails": "fails"}.get(v.status, "unknown"),
                     "evidence": v.evidence,
                     "numbers": table_html(numbers, f"claim_{c.name}") if numbers is not None else ""})
    return rows


def comparison_section(inp: Inputs, w: Writer, method: str) -> Section:
    s = section("lstm-gru",
                "In the style of Chung et al. 2014 and Jozefowicz et al. 2015: per task and condition, the test "
                f"metric's mean ± std over seeds (n = ok runs), the difference with a 95 % {method} interval; the "
                "better one is named only when the interval excludes zero. Parameter counts and time per epoch "
                "show whether GRU is indeed smaller and quicker (quicker: by the same interval on seconds per "
                "epoch).")
    any_pair = False
    for a_c, b_c in tables.PAIRS:
        a, b = tables.resolve_arch(inp.runs, a_c), tables.resolve_arch(inp.runs, b_c)
        if a is None or b is None:
            s.blocks.append(Block("text", title=f"{a_c} vs {b_c}",
                                  note=f"no data: no runs of {a_c if a is None else b_c}"))
            continue
        comp = tables.compare(inp.runs, a, b, method)
        if not len(comp):
            s.blocks.append(Block("text", title=f"{a} vs {b}", note="no data: no task ran both"))
            continue
        any_pair = True
        shown = pd.DataFrame({
            "task": comp["task"], "condition": comp["condition"],
            "metric": [f"{m} {_arrow(d)}" for m, d in zip(comp["metric"], comp["direction"])],
            f"{a}": [pm(m, sd, n) for m, sd, n in zip(comp["mean_a"], comp["std_a"], comp["n_a"])],
            f"{b}": [pm(m, sd, n) for m, sd, n in zip(comp["mean_b"], comp["std_b"], comp["n_b"])],
            f"{a} − {b} [95% CI]": [stats.Interval(d, lo, hi, 0, 0, method).text(".3g")
                                    for d, lo, hi in zip(comp["diff"], comp["ci_low"], comp["ci_high"])],
            "better": comp["better"].replace("", "—"),
            "diverged": [f"{x} / {y}" for x, y in zip(comp["diverged_a"], comp["diverged_b"])],
            f"params {a} / {b}": [f"{fmt_num(x)} / {fmt_num(y)}"
                                  for x, y in zip(comp["n_params_a"], comp["n_params_b"])],
            "smaller": comp["smaller"].replace("", "—"),
            f"s/epoch {a} / {b}": [f"{fmt_num(x)} / {fmt_num(y)}" for x, y in
                                   zip(comp["sec_per_epoch_a"], comp["sec_per_epoch_b"])],
            f"time {b}/{a}": comp["time_ratio_b_a"], "quicker": comp["quicker"].replace("", "—"),
            "note": comp["note"]})
        n_better = (comp["better"] != "").sum()
        note = (f"{a} better in {(comp['better'] == a).sum()}, {b} better in {(comp['better'] == b).sum()}, "
                f"undecided in {len(comp) - n_better} of {len(comp)}; "
                f"{b} smaller in {(comp['smaller'] == b).sum()}, quicker in {(comp['quicker'] == b).sum()}.")
        _add(s, w.table(f"compare_{a}_{b}", comp, shown, title=f"{a} vs {b}", note=note, sortable=True),
             w.figure("comparison_forest", comp, salt=f"forest-{a}-{b}"))
    if not any_pair and not s.blocks:
        s.nodata("no pair of architectures to compare")
    return s


def longdep_section(inp: Inputs, w: Writer, colors) -> Section:
    s = section("long-dependencies",
                "Adding, copy, temporal order and pixel tasks: the test metric against the sequence length, per "
                "architecture (mean ± std over seeds), with the task's trivial baseline (dashed) and solved marks "
                "(filled: at least half the seeds reach the task's threshold).")
    lt = tables.longdep_table(inp.runs)
    if not len(lt):
        return s.nodata("no long-dependency runs (adding, copy, temporal order, pixel) with a sequence length "
                        f"column ({seq_len_column(inp.runs) or 'none found'})")
    shown = pd.DataFrame({
        "task": lt["task"], "condition": lt["condition"], "arch": lt["arch"], "T": lt["seq_len"],
        "metric": [f"{m} {_arrow(d)}" for m, d in zip(lt["metric"], lt["direction"])],
        "mean ± std (n)": [pm(m, sd, n) for m, sd, n in zip(lt["mean"], lt["std"], lt["n"])],
        "diverged": lt["diverged"], "baseline": lt["baseline"], "solved": lt["solved_frac"]})
    _add(s, w.figure("longdep", lt, colors, salt="longdep"),
         w.table("long_dependencies", lt, shown, sortable=True))
    return s


def grid_section(inp: Inputs, w: Writer) -> Section:
    s = section("grid", "One row per architecture × task (× condition where a task ran "
                "several): click a column header to sort.")
    gt = tables.grid_table(inp.runs)
    if not len(gt):
        return s.nodata("no runs")
    shown = gt.assign(metric=[f"{m} {_arrow(d)}" for m, d in zip(gt["metric"], gt["direction"])]) \
        .drop(columns=["direction"])
    s.blocks.append(w.table("grid", gt, shown, sortable=True))
    return s


def curves_section(inp: Inputs, w: Writer, colors) -> Section:
    s = section("curves", "Validation metric against optimizer steps, one line per "
                "architecture (mean over seeds), the band spanning the seeds.")
    if not len(inp.curves):
        s.nodata("no curve.csv found under the runs' folders")
    else:
        panels, frames, others = [], [], []
        arrays = tables.curve_arrays(inp.curves)
        with_curves = inp.runs[inp.runs.index.isin(list(arrays))]
        for task in sorted(with_curves["task"].unique()):
            bands = tables.curve_bands(inp.runs, inp.curves, task, arrays=arrays)
            if not len(bands):
                continue
            frames.append(bands.assign(task=task))
            metric = inp.runs.loc[inp.runs["task"] == task, "metric"].dropna()
            # the panel: the task's condition with the most architectures (ties: the first by name)
            counts = bands.groupby("condition")["arch"].nunique().sort_index()
            main = counts.idxmax()
            panels.append((f"{task} {main}".strip(), metric.iloc[0] if len(metric) else "metric",
                           bands[bands["condition"] == main]))
            if len(counts) > 1:
                others.append(f"{task}: {len(counts) - 1} other condition(s)")
        allbands = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        note = "One panel per task (its condition with the most architectures)"
        if others:
            note += "; not drawn: " + "; ".join(others)
        note += ". Every task's and condition's bands are in learning_curves.csv."
        _add(s, w.figure("learning_curves", panels, colors, salt="curves", note=note))
        if len(allbands):
            ordered = allbands[["task"] + [c for c in allbands.columns if c != "task"]]
            write(w.out / "learning_curves.csv", ordered.to_csv(index=False, lineterminator="\n"))
            w.written.append("learning_curves.csv")
    gens = []
    for (task, arch), g in inp.runs[inp.runs["status"] == "ok"].groupby(["task", "arch"], sort=True):
        for rd in g["run_dir"]:
            p = run_path(inp.results_dir, rd)
            if p is not None and (p / "generation.csv").is_file():
                try:
                    gens.append((f"{task} / {arch}", pd.read_csv(p / "generation.csv")))
                except (pd.errors.ParserError, pd.errors.EmptyDataError):
                    continue
                break
    _add(s, w.figure("generation", gens, salt="generation", title="Free-running generation",
                         note="generation.csv of one run per architecture (the first ok seed)"))
    return s


def gradients_section(inp: Inputs, w: Writer, colors) -> Section:
    s = section("gradients", "||dL/dh_t|| against the lag T − t per architecture (log "
                "scale), at initialisation and after training; the recurrent matrix's spectral radius; why "
                "repeated application of one map vanishes or explodes; and the clipping ablation.")
    g = inp.gradients
    if len(g):
        gt = tables.gradient_table(g)
        _add(s, w.figure("gradient_flow", tables.gradient_curves(g), colors, salt="gradflow"),
             w.table("gradients", gt, title="Spectral radius and decay per step",
                     note="decay per step: the factor ρ of the least-squares fit ||dL/dh|| ≈ c·ρ^lag to the "
                          "mean curve; R² of that fit on the log scale."))
    else:
        s.blocks.append(Block("nodata", note="no gradient diagnostics (gradients/**/gradients.csv)"))
    _add(s, w.figure("iterated", figures.iterated_functions(), salt="iterated",
                         title="Iterated functions",
                         note="a recurrent network applies the same map at every step: iterated, a contraction "
                              "flattens (vanishing), an expansion saturates or becomes chaotic (exploding)."))
    ablation = tables.clipping_runs(inp.runs)
    norms = load_step_norms(inp.results_dir, ablation, inp.curves)
    ct = tables.clipping_table(inp.runs, norms)
    if len(ct):
        _add(s, w.figure("clipping", ct, inp.runs, norms, salt="clipping", title="Clipping ablation",
                             note="per optimizer step from each run's steps.csv (else its curve.csv)"),
             w.table("clipping", ct, title="Clipping ablation: runs that differ only in the clip threshold",
                     note="spikes: steps whose gradient norm exceeds 10× the run's median."))
    else:
        s.blocks.append(Block("nodata", title="Clipping ablation",
                              note="no runs that differ only in the clipping threshold"))
    return s


def seq2seq_section(inp: Inputs, w: Writer) -> Section:
    s = section("seq2seq", "Accuracy per encoder-decoder variant (plain, peeking, "
                "attention, teacher forcing, beam width), like with like, and attention maps of a few examples.")
    st = tables.seq2seq_table(inp.runs)
    if not len(st):
        return s.nodata("no runs with seq2seq model parameters (model_params.variant / attention / "
                        "teacher_forcing / beam)")
    shown = pd.DataFrame({"task": st["task"], "condition": st["condition"], "variant": st["variant"],
                          "arch": st["arch"],
                          "metric": [f"{m} {_arrow(d)}" for m, d in zip(st["metric"], st["direction"])],
                          "mean ± std (n)": [pm(m, sd, n) for m, sd, n in zip(st["mean"], st["std"], st["n"])],
                          "best": st["best"], "diverged": st["diverged"]})
    _add(s, w.figure("seq2seq", st, salt="seq2seq"), w.table("seq2seq", st, shown, sortable=True))
    examples = []
    runs = inp.runs[inp.runs["status"] == "ok"]
    col = seq_len_column(runs)
    if len(runs):
        order = runs.assign(_T=pd.to_numeric(runs[col], errors="coerce") if col else 0)
        order = order.sort_values(["_T", "value", "seed"], ascending=[False, False, True], kind="mergesort")
        labels = tables.variant_label(order)
        for i, r in order.iterrows():
            p = run_path(inp.results_dir, r["run_dir"])
            if p is None or not (p / "attention.json").is_file():
                continue
            for k, e in enumerate(figures.attention_examples(load_json(p / "attention.json"))[:2]):
                examples.append((f"{r['task']} {labels[i]} seed {fmt_num(r['seed'])} #{k}", e))
            if len(examples) >= 4:
                break
    if examples:
        _add(s, w.figure("attention", examples, salt="attention", title="Attention weights",
                             note="rows: output steps, columns: input steps (attention.json of the longest "
                                  "sequences' best runs)."))
    else:
        s.blocks.append(Block("nodata", title="Attention weights", note="no attention.json in the runs"))
    return s


def lab_section(inp: Inputs, w: Writer) -> Section:
    s = section("lab", "Each lab task's test metric and training wall time next to the "
                "time the lab quotes for its own Keras runs (unnamed hardware): air quality ~30 s, electric "
                "devices ~1 min, sentiment ~3 min, text generation ~23 min, learning to add ~5 min 30 s.")
    lt = tables.lab_table(inp.runs)
    if not len(lt):
        return s.nodata("no runs of the lab's tasks")
    shown = pd.DataFrame({"lab task": lt["lab_task"], "task": lt["task"], "arch": lt["arch"],
                          "metric": lt["metric"], "mean ± std (n)": [pm(m, sd, n) for m, sd, n in
                                                                      zip(lt["mean"], lt["std"], lt["n"])],
                          "wall time, s": lt["train_seconds"], "lab's time, s": lt["quoted_seconds"],
                          "ratio": lt["ratio_to_quoted"], "device": lt["device"], "threads": lt["threads"]})
    _add(s, w.table("lab", lt, shown), w.figure("lab_times", lt, salt="labtimes"))
    for (task, arch), g in inp.runs[inp.runs["status"] == "ok"].groupby(["task", "arch"], sort=True):
        for rd in g["run_dir"]:
            p = run_path(inp.results_dir, rd)
            if p is not None and (p / "samples.txt").is_file():
                text = (p / "samples.txt").read_text(errors="replace")
                cut = " (cut)" if len(text) > 3000 else ""
                s.blocks.append(Block("pre", title=f"Generated samples: {task} / {arch}{cut}", html=text[:3000]))
                break
    return s


def throughput_section(inp: Inputs, w: Writer) -> Section:
    s = section("throughput",
                "Step-samples per second (batch × sequence length / time) and GFLOP/s (the gate matrix "
                "products: 2·gates·H·(I+H) per step-sample and direction, ×3 with the backward pass) per cell × "
                "backend × shape, and the ratio to the fused kernel.")
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
            s.blocks.append(Block("table", title=name, html=table_html(rows, "prov_" + _uid(name))))
        else:
            s.blocks.append(Block("pre", title=name, html=str(data) if not isinstance(data, str) else data))
    return s


def _uid(name: str) -> str:
    import re
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


# ---- the page -----------------------------------------------------------------------
def _guard(fn: Callable[[], Section], sid: str) -> Section:
    """A section that breaks on unexpected input says so instead of taking the page down."""
    try:
        return fn()
    except Exception as e:  # noqa: BLE001
        import traceback
        tb = traceback.format_exception_only(type(e), e)[-1].strip()
        return section(sid).nodata(f"this section could not be built from these inputs: {tb}")


def build(results_dir, out_dir=None, asv_results=None, method: str = "welch",
          timings: dict[str, float] | None = None, jobs: int | None = None) -> Path:
    """Write index.html and one CSV per table to `out_dir` (default RESULTS_DIR/report).

    jobs: processes drawing figures (default: default_jobs()); the output is the same bytes
    for any number. timings: if given, filled with the wall seconds of each stage
    (scripts/bench_report.py; figures are counted where the page waits for them)."""
    import time

    if method not in stats.METHODS:
        from ..errors import unknown
        raise unknown("interval method", method, stats.METHODS)
    timings = {} if timings is None else timings
    clock = time.perf_counter()

    def lap(name):
        nonlocal clock
        now = time.perf_counter()
        timings[name] = now - clock
        clock = now

    results_dir = Path(results_dir)
    inp = load(results_dir, asv_results)
    lap("load")
    out = Path(out_dir) if out_dir is not None else results_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    w = Writer(out, default_jobs() if jobs is None else jobs)
    archs = list(inp.runs["arch"].unique()) + list(inp.gradients.get("arch", pd.Series()).unique())
    colors = figures.palette(archs)   # one colour per architecture across every figure
    verdicts = claimlib.evaluate(inp.runs, inp.gradients, method=method)
    lap("claims")
    builders = [
        ("summary", lambda: summary_section(inp, verdicts, w)),
        ("lstm-gru", lambda: comparison_section(inp, w, method)),
        ("long-dependencies", lambda: longdep_section(inp, w, colors)),
        ("grid", lambda: grid_section(inp, w)),
        ("curves", lambda: curves_section(inp, w, colors)),
        ("gradients", lambda: gradients_section(inp, w, colors)),
        ("seq2seq", lambda: seq2seq_section(inp, w)),
        ("lab", lambda: lab_section(inp, w)),
        ("throughput", lambda: throughput_section(inp, w)),
        ("provenance", lambda: provenance_section(inp, w)),
    ]
    sections = []
    try:
        for sid, fn in builders:
            sections.append(_guard(fn, sid))
            lap(sid)
        w.finish(sections)
        lap("figures")
    finally:
        w.close()
    claims_table = pd.DataFrame([{"claim": c.name, "text": c.text, "source": c.source, "status": v.status,
                                  "evidence": v.evidence} for c, v in verdicts])
    w.table("claims", claims_table)
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True, undefined=StrictUndefined,
                      keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    page = env.get_template("index.html.j2").render(
        sections=sections, nav=[(sid, label) for sid, label, _ in SECTIONS], version=__version__,
        results_name=results_dir.resolve().name,
        method=method, tables=sorted(w.written), n_runs=len(inp.runs))
    write(out / "index.html", page)
    lap("render")
    return out / "index.html"


__all__ = ["build", "Section", "Block"]
