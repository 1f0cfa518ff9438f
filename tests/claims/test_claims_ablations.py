"""The ablation claims (rnnbench/claims/ablations.py) on hand-made run records: each decides
by its arms' learning (steps to solve where a run reached the threshold, else the final
metric), fails on "no practical difference", and never holds when no arm learned."""
from __future__ import annotations

import pytest

from rnnbench import claims
from rnnbench.claims import FAILS, HOLDS, NOT_ENOUGH, NOTHING_LEARNED
from rnnbench.claims import ablations as A
from rnnbench.claims.checks import SAME
from report.reporthelpers import make_runs, seeds

ADDING = {"task": "adding", "metric": "mse", "direction": "min", "baseline": 1 / 6, "steps": 3000}


def check(name, rows):
    return claims.CLAIMS.get(name).check(make_runs(rows), None)


def arm(values, steps_to_solve, **fields):
    """Runs with these final values and steps to solve (None: never reached the threshold)."""
    rows = seeds(values, **{k: v for k, v in fields.items() if k != "steps"})
    for r, s in zip(rows, steps_to_solve):
        r["steps_to_solve"] = s
        r["steps"] = s if s is not None else fields.get("steps", 3000)
        r["params.train.steps"] = fields.get("steps", 3000)
        r["solve_censored"] = s is None
    return rows


def adding(arch, values, steps_to_solve, T=200, **extra):
    return arm(values, steps_to_solve, **ADDING, arch=arch, **{"params.task_params.seq_len": T}, **extra)


# ---- the learning measure ---------------------------------------------------------------------
def test_steps_censored_counts_a_run_that_never_solved_at_its_last_step():
    runs = make_runs(adding("lstm", [0.005, 0.17, 0.004], [400, None, 700]))
    assert A.steps_censored(runs).tolist() == [400.0, 3000.0, 700.0]
    assert A.reached(runs).tolist() == [True, False, True]


def test_learning_compares_steps_to_solve_and_calls_a_tie_a_tie():
    fast = make_runs(adding("gru", [0.004, 0.005, 0.003], [300, 300, 290]))
    slow = make_runs(adding("lstm", [0.005, 0.004, 0.006], [1300, 1100, 1500]))
    r = A._learning(fast, slow, "welch")
    assert r["measure"] == "steps to solve" and r["outcome"] == 1 and r["a"] == pytest.approx(890 / 3)
    same = make_runs(adding("lstm", [0.005, 0.004, 0.006], [300, 310, 290]))
    assert A._learning(fast, same, "welch")["outcome"] == SAME      # within 5 % of the 3000-step budget


def test_learning_without_a_threshold_uses_the_metric_and_its_margin():
    kw = dict(task="seqdigits", metric="accuracy", direction="max", baseline=0.1)
    a, b = make_runs(seeds([0.95, 0.96, 0.955], arch="lstm", **kw)), make_runs(seeds([0.5, 0.55, 0.6], arch="lstm", **kw))
    r = A._learning(a, b, "welch")
    assert r["measure"] == "accuracy" and r["outcome"] == 1
    assert r["rope"] == pytest.approx(0.05 * 0.9)                   # 5 % of the way from 0.1 to 1


# ---- LSTM vs GRU at the longest length ---------------------------------------------------------
def test_lstm_better_long_dependencies_fails_when_gru_solves_in_fewer_steps():
    rows = (adding("lstm", [0.005, 0.004, 0.006], [1300, 1100, 1500]) + adding("gru", [0.004] * 3, [300, 400, 300])
            + adding("lstm", [0.005] * 3, [400, 500, 600], T=50) + adding("gru", [0.2] * 3, [None] * 3, T=50))
    v = check("lstm_better_long_dependencies", rows)
    assert v.status == FAILS and "worse in 1" in v.evidence
    assert [r["seq_len"] for r in v.numbers] == [200]                # only the longest length decides


def test_lstm_better_long_dependencies_holds_when_only_lstm_solves():
    rows = adding("lstm", [0.005, 0.004, 0.006], [1300, 1100, 1500]) + adding("gru", [0.16, 0.17, 0.165], [None] * 3)
    assert check("lstm_better_long_dependencies", rows).status == HOLDS


def test_lstm_better_long_dependencies_is_not_decided_when_nothing_learned():
    rows = adding("lstm", [0.16, 0.17, 0.165], [None] * 3) + adding("gru", [0.17, 0.16, 0.168], [None] * 3)
    v = check("lstm_better_long_dependencies", rows)
    assert v.status == NOT_ENOUGH and v.evidence.startswith(NOTHING_LEARNED)


# ---- forget bias ------------------------------------------------------------------------------
def test_forget_bias_one_helps_when_bias_zero_solves_later_or_not_at_all():
    rows = (adding("lstm", [0.005] * 3, [1300, 1100, 1500], **{"params.train.forget_bias": 1.0})
            + adding("lstm", [0.16, 0.006, 0.17], [None, 2900, None], **{"params.train.forget_bias": 0.0}))
    v = check("forget_bias_helps_lstm", rows)
    assert v.status == HOLDS and v.numbers[0]["reached_bias0"] == "1/3"


def test_forget_bias_without_a_practical_difference_fails():
    rows = (adding("lstm", [0.005] * 3, [1300, 1200, 1250], **{"params.train.forget_bias": 1.0})
            + adding("lstm", [0.005] * 3, [1300, 1250, 1200], **{"params.train.forget_bias": 0.0}))
    v = check("forget_bias_helps_lstm", rows)
    assert v.status == FAILS and "no difference of practical size" in v.evidence


# ---- truncated BPTT ---------------------------------------------------------------------------
COPY = {"task": "copy", "metric": "ce", "direction": "min", "baseline": 0.5, "steps": 3000}


def copy(values, reached, k):
    return arm(values, reached, **COPY, arch="lstm", **{"params.task_params.seq_len": 20, "params.train.tbptt": k})


def test_tbptt_shorter_than_the_delay_holds_when_only_full_bptt_learns():
    v = check("tbptt_shorter_than_delay_fails", copy([0.01] * 3, [800, 900, 700], None) + copy([0.49, 0.5, 0.51], [None] * 3, 5))
    assert v.status == HOLDS and v.numbers[0]["window"] == 5 and v.numbers[0]["delay"] == 20


def test_tbptt_fails_when_the_truncated_runs_learn_it_anyway():
    v = check("tbptt_shorter_than_delay_fails", copy([0.01] * 3, [800, 900, 700], None) + copy([0.02] * 3, [1500, None, 2000], 5))
    assert v.status == FAILS


def test_tbptt_decides_nothing_when_full_bptt_does_not_learn_either():
    v = check("tbptt_shorter_than_delay_fails", copy([0.5] * 3, [None] * 3, None) + copy([0.5] * 3, [None] * 3, 5))
    assert v.status == NOT_ENOUGH and v.evidence.startswith(NOTHING_LEARNED)


# ---- depth and skip connections ---------------------------------------------------------------
def digits(values, layers, residual):
    return seeds(values, task="seqdigits", arch="lstm", metric="accuracy", direction="max", baseline=0.1,
                 layers=layers, **{"params.train.residual": residual})


def test_residual_connections_decide_at_the_deepest_stack():
    rows = (digits([0.9, 0.92, 0.91], 1, False) + digits([0.6, 0.5, 0.55], 4, False)
            + digits([0.88, 0.9, 0.89], 4, True))
    v = check("residual_makes_deep_stacks_trainable", rows)
    assert v.status == HOLDS and "4 layers" in v.evidence and "by depth (plain): 1: 0.91, 4: 0.55" in v.evidence
    rows = digits([0.6, 0.5, 0.55], 4, False) + digits([0.3, 0.35, 0.32], 4, True)
    assert check("residual_makes_deep_stacks_trainable", rows).status == FAILS


# ---- seq2seq: teacher forcing and beam --------------------------------------------------------
def addition(values, reached, **extra):
    return arm(values, reached, task="addition", arch="lstm", metric="exact_match", direction="max", baseline=0.0,
               steps=3520, **extra)


def test_teacher_forcing_speeds_learning():
    rows = (addition([0.99, 0.992, 0.995], [1408, 1584, 1408], **{"params.model_params.teacher_forcing": 1.0})
            + addition([0.4, 0.5, 0.45], [None] * 3, **{"params.model_params.teacher_forcing": 0.0}))
    assert check("teacher_forcing_speeds_learning", rows).status == HOLDS


def test_censored_runs_are_bounds_not_values():
    """A run that never reached 99 % counts at its last step, a lower bound (ablations._censoring)."""
    tf = lambda p: {"params.model_params.teacher_forcing": p}  # noqa: E731
    # a pair of which neither run reached it is left out, not counted as a tie of 3,520 vs 3,520
    rows = (addition([0.99] * 4, [1000, 1100, 1200, None], **tf(1.0))
            + addition([0.99] * 4, [2000, 2150, 2300, None], **tf(0.0)))
    v = check("teacher_forcing_speeds_learning", rows)
    assert v.status == HOLDS and v.numbers[0]["forced"] == 1100 and "1 pair(s) where neither reached" in v.evidence
    # ties except one pair where neither reached it: no practical difference is not concluded from bounds
    rows = (addition([0.99] * 4, [1000, 1010, 1020, None], **tf(1.0))
            + addition([0.99] * 4, [1005, 1000, 1030, None], **tf(0.0)))
    assert check("teacher_forcing_speeds_learning", rows).status == NOT_ENOUGH
    rows[3]["steps_to_solve"] = rows[7]["steps_to_solve"] = 1030          # every run reached it: a tie
    rows[3]["steps"] = rows[7]["steps"] = 1030
    assert check("teacher_forcing_speeds_learning", rows).status == FAILS
    # the faster-looking arm never reached it where the other did (seed 5): its bound flatters it
    rows = (addition([0.99] * 6, [1000] * 5 + [None], **tf(1.0))
            + addition([0.99] * 6, [3000, 3050, 3100, 2950, 3000, 3400], **tf(0.0)))
    v = check("teacher_forcing_speeds_learning", rows)
    assert v.status == NOT_ENOUGH and v.numbers[0]["forced_minus_free"].startswith("-")


def early(forced, free, **extra):
    """The first-epoch block (budgets.TF_EARLY): 1 epoch, nothing reaches 99 %; the final value
    (test exact match) deliberately the opposite of val_mean, which the check must read instead."""
    rows = []
    for p, means in ((1.0, forced), (0.0, free)):
        arm_rows = addition([0.9 - m for m in means], [None] * len(means), **{"params.model_params.teacher_forcing": p},
                            **{"params.train.epochs": 1, **extra})
        for r, m in zip(arm_rows, means):
            r["val_mean"] = m
        rows += arm_rows
    return rows


def test_teacher_forcing_reads_the_first_epochs_curve_in_its_early_block():
    to99 = (addition([0.99] * 4, [1000, 1400, 1200, 1300], **{"params.model_params.teacher_forcing": 1.0,
                                                               "params.train.epochs": 12})
            + addition([0.99] * 4, [1500, 1000, 1100, 1500], **{"params.model_params.teacher_forcing": 0.0,
                                                                "params.train.epochs": 12}))
    assert check("teacher_forcing_speeds_learning", to99).status == NOT_ENOUGH      # steps to 99 %: undecided
    ahead = early([0.30, 0.32, 0.28, 0.31, 0.29], [0.25, 0.26, 0.24, 0.27, 0.25])
    v = check("teacher_forcing_speeds_learning", to99 + ahead)
    assert v.status == HOLDS and len(v.numbers) == 2                 # one row per block, each on its own measure
    row = next(r for r in v.numbers if r["measure"] != "steps to solve")
    assert row["forced"] == pytest.approx(0.30) and row["free"] == pytest.approx(0.254)
    assert "first epoch" in row["measure"]
    level = early([0.30, 0.32, 0.28, 0.31, 0.29], [0.301, 0.318, 0.282, 0.309, 0.291])
    assert check("teacher_forcing_speeds_learning", to99 + level).status == FAILS   # within the 0.0495 margin
    behind = early([0.25, 0.26, 0.24, 0.27, 0.25], [0.30, 0.32, 0.28, 0.31, 0.29])
    assert check("teacher_forcing_speeds_learning", to99 + behind).status == FAILS


def test_val_mean_is_the_mean_of_the_curves_validation_metric():
    from rnnbench.train import curve_mean
    assert curve_mean([{"val_metric": 0.1}, {"val_metric": 0.2}, {"val_metric": "0.6"}]) == pytest.approx(0.3)
    assert curve_mean([]) is None
    assert curve_mean([{"val_metric": 0.1}, {"val_metric": None}]) is None     # a diverged evaluation


def test_beam_at_least_greedy_pairs_each_run_with_its_own_greedy_decoding():
    rows = addition([0.993, 0.991, 0.995], [1] * 3, **{"metrics.exact_match_greedy": 0.99, "metrics.beam": 3.0})
    rows[2]["metrics.exact_match_greedy"] = 0.996
    v = check("beam_at_least_greedy", rows)
    assert v.status == HOLDS and v.numbers[0]["beam_minus_greedy"] == pytest.approx((0.003 + 0.001 - 0.001) / 3)
    worse = addition([0.80, 0.81, 0.79], [1] * 3, **{"metrics.exact_match_greedy": 0.99, "metrics.beam": 3.0})
    assert check("beam_at_least_greedy", worse).status == FAILS
    assert check("beam_at_least_greedy", addition([0.99] * 3, [1] * 3)).status == NOT_ENOUGH   # greedy only


def test_an_ablation_of_one_setting_pairs_seeds_and_a_comparison_of_cells_does_not():
    """Seed k fixes the initialisation and the data order: two arms of the same cell that differ in
    one setting are compared seed by seed. Every seed solves 300 steps sooner with bias 1, while
    the seeds themselves spread over 1,000 steps: paired, decided; unpaired (Welch), not."""
    base = [1000, 1500, 2000]
    rows = (adding("lstm", [0.005] * 3, [s - 300 for s in base], **{"params.train.forget_bias": 1.0})
            + adding("lstm", [0.005] * 3, base, **{"params.train.forget_bias": 0.0}))
    v = check("forget_bias_helps_lstm", rows)
    assert v.status == HOLDS and v.numbers[0]["interval"] == "paired t"
    assert v.numbers[0]["bias1_minus_bias0"] == "-300 [-300, -300]"
    runs = make_runs(rows)
    one, zero = runs[runs["params.train.forget_bias"] == 1.0], runs[runs["params.train.forget_bias"] == 0.0]
    assert A._learning(one, zero, "welch")["outcome"] == 0                    # unpaired: undecided
    assert A._learning(one, zero, "welch", paired=True)["outcome"] == 1
