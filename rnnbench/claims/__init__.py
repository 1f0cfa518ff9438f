"""Claims are experiments: each qualitative claim of the lecture notes and the classic papers
names the runs that decide it (an `Experiment`, in the grid config's vocabulary) and a
check over their records, shown in the report as holds / fails / not enough data.

    @claim("gru_smaller_faster", "GRU has fewer parameters and is faster per step than LSTM",
           source="lecture notes; Chung et al. 2014",
           runs=Experiment({"adding": {"task_params": {"seq_len": 50}}}, arch=("gru", "lstm")))
    def _(runs, grads, method="welch") -> Verdict: ...

    base.py       the registry, Experiment, Verdict, grid(names), at_baseline / learned
    checks.py     the claims on runs (moved here from the report: claims are not presentation)
    ablations.py  the training choices: LSTM vs GRU at length, forget bias, truncated BPTT, depth
                  and skip connections, teacher forcing, beam vs greedy
    budgets.py    the experiments' measured budgets
    exact.py      claims computed exactly, needing no run (the 1.1 / 0.9 gradient of 50 steps)
    crosstask.py  rliable-style statistics across tasks: P(A > B), IQM of normalised scores

`grid(names)` is the union of the named claims' experiments as a grid config that
`rnnbench.grid.expand` accepts (a task listing one block per experiment); a grid config
naming `claims: [...]` gets their cells added. The budgets are measured (budgets.py,
workflows/config/BUDGETS.md).

Rules every check follows:
- like with like: runs are compared only within one condition (tables.with_condition:
  same task, task params, training budget, model params, layers, hidden, direction);
- intervals come from report.stats.interval, the helper the LSTM-vs-GRU section uses;
- a claim never passes on missing data: no comparable runs -> NOT_ENOUGH, and an
  interval that includes zero decides nothing;
- a claim never holds vacuously: a comparison in which no arm learned (every arm at the
  task's trivial baseline, `at_baseline`) decides nothing ("not enough data: nothing learned");
- runs are chosen by the record's fields (task_kind, seq_len, ...) and by registry names
  (the task "adding", the cell "lstm"), never by a pattern on a name.
"""
from __future__ import annotations

from .base import (AT_BASELINE, CLAIMS, FAILS, HOLDS, NOT_ENOUGH, NOTHING_LEARNED, SEEDS,  # noqa: F401
                   STATUSES, Claim, Experiment, Verdict, at_baseline, claim, evaluate, grid, learned,
                   nothing_learned)
from . import ablations, agreement, beyond, checks, exact, memory  # noqa: E402,F401  (register the claims)
