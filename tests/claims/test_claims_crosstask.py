"""Cross-task statistics (rnnbench.claims.crosstask) on synthetic runs with a known answer:
the probability of improvement with its stratified bootstrap interval, and the IQM of
normalised scores."""
from __future__ import annotations

import math

import pytest

from rnnbench.claims import crosstask as X
from report.reporthelpers import make_runs, seeds

ADDING = {"task": "adding", "params.task_params.seq_len": 100}      # mse, min: baseline 1/6, solved at 0.01
DIGITS = {"task": "seqdigits", "metric": "accuracy", "direction": "max", "baseline": 0.1}


def runs_of(*groups):
    return make_runs([r for arch, fields, vals in groups for r in seeds(vals, arch=arch, **fields)])


def test_a_dominates_b_on_every_task():
    runs = runs_of(("lstm", ADDING, [0.002, 0.003, 0.004]), ("gru", ADDING, [0.1, 0.12, 0.11]),
                   ("lstm", DIGITS, [0.9, 0.95, 0.93]), ("gru", DIGITS, [0.5, 0.6, 0.55]))
    p = X.probability_of_improvement(runs, "lstm", "gru")
    assert (p.estimate, p.low, p.high, p.strata, p.runs) == (1.0, 1.0, 1.0, 2, 12)   # lower mse is better
    assert X.probability_of_improvement(runs, "gru", "lstm").estimate == 0.0


def test_the_average_is_over_tasks_not_runs():
    # lstm wins every pair on adding, loses every pair on digits, ties half on a third: P = (1 + 0 + 0.5) / 3
    t3 = {**DIGITS, "params.task_params.permuted": True}
    runs = runs_of(("lstm", ADDING, [0.002, 0.003, 0.004, 0.005]), ("gru", ADDING, [0.1, 0.12]),
                   ("lstm", DIGITS, [0.5, 0.6]), ("gru", DIGITS, [0.9, 0.95]),
                   ("lstm", t3, [0.7, 0.7]), ("gru", t3, [0.7, 0.7]))
    p = X.probability_of_improvement(runs, "lstm", "gru")
    assert p.estimate == pytest.approx(0.5) and p.strata == 3
    # the stratified bootstrap keeps each task's seeds in their task: here no resample changes a task's P
    assert (p.low, p.high) == pytest.approx((0.5, 0.5))


def test_mann_whitney_within_a_task_and_an_interval_that_covers_it():
    # a = [1, 3, 5], b = [2, 4, 6]: a beats b in 3 of 9 pairs
    runs = runs_of(("lstm", DIGITS, [0.1, 0.3, 0.5]), ("gru", DIGITS, [0.2, 0.4, 0.6]))
    p = X.probability_of_improvement(runs, "lstm", "gru")
    assert p.estimate == pytest.approx(1 / 3)
    assert 0.0 <= p.low <= p.estimate <= p.high <= 1.0 and p.high - p.low > 0.2
    assert X.probability_of_improvement(runs, "lstm", "gru") == p        # seeded: the same interval


def test_diverged_runs_lose_and_lone_seeds_do_not_count():
    runs = runs_of(("lstm", ADDING, [0.15, 0.16]), ("gru", ADDING, [None, None]))
    assert X.probability_of_improvement(runs, "lstm", "gru").estimate == 1.0
    one = runs_of(("lstm", ADDING, [0.15]), ("gru", ADDING, [0.1]))
    assert math.isnan(X.probability_of_improvement(one, "lstm", "gru").estimate)


def test_normalised_scores_and_their_interquartile_mean():
    base, thr = 1 / 6, 0.01
    scores = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 5.0]             # one outlier the IQM trims away
    vals = [base + s * (thr - base) for s in scores]
    runs = runs_of(("lstm", ADDING, vals[:4]), ("lstm", {**ADDING, "params.task_params.seq_len": 50}, vals[4:]))
    assert X.normalised(runs).tolist() == pytest.approx(scores)
    m = X.iqm(runs, "lstm")
    assert m.estimate == pytest.approx(0.35) and m.strata == 2 and m.runs == 8   # mean of 0.2 .. 0.5
    assert m.low <= m.estimate <= m.high
    assert math.isnan(X.iqm(runs_of(("gru", DIGITS, [0.5, 0.6])), "gru").estimate)   # no threshold: no score


def test_table_has_a_row_per_pair():
    runs = runs_of(("lstm", ADDING, [0.002, 0.003]), ("gru", ADDING, [0.1, 0.12]))
    t = X.table(runs, [("lstm", "gru")])
    assert t.loc[0, "p_a_better"] == 1.0 and t.loc[0, "iqm_a"] > 0.9 and t.loc[0, "iqm_b"] < 0.5


def test_runs_stopped_once_solved_are_compared_by_their_steps_to_solve():
    """With stop_when_solved every solved run ends at the threshold: the faster one wins, an
    unsolved run loses to any solved one (here GRU solves in fewer steps, LSTM's values are lower)."""
    stop = {**ADDING, "params.train.stop_when_solved": True, "solved_threshold": 0.01}
    rows = (seeds([0.004, 0.005, 0.003], arch="lstm", **stop) + seeds([0.009, 0.008, 0.0095], arch="gru", **stop))
    for r, s in zip(rows, [1400, 1500, 1300, 300, 400, 350]):
        r["steps_to_solve"] = s
    runs = make_runs(rows)
    assert X.probability_of_improvement(runs, "gru", "lstm").estimate == 1.0
    rows[0]["steps_to_solve"] = None            # one LSTM seed never solved: below every solved run
    rows[0]["value"] = 0.2
    assert X._oriented(make_runs(rows).iloc[:3], True).tolist()[0] < -1e11
    assert X.probability_of_improvement(make_runs(rows), "lstm", "gru").estimate == 0.0
    # an arm that never solves loses to one that does, whatever its final values (decided per stratum)
    never = seeds([0.16, 0.17, 0.165], arch="rnn", **stop)
    assert X.probability_of_improvement(make_runs(rows[3:] + never), "gru", "rnn").estimate == 1.0
