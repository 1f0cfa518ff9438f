"""The claim registry on constructed results: each claim holds, fails, or has not enough data."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from .reporthelpers import make_runs, seeds

from rnnbench import claims
from rnnbench.claims import FAILS, HOLDS, NOT_ENOUGH

REQUIRED = ("adding_gated_vs_tanh", "irnn_competitive_adding", "gru_smaller_faster", "tanh_gradient_decay",
            "clipping_prevents_divergence", "bidirectional_helps_classification",
            "attention_beats_plain_long_reversal")
NO_GRADS = pd.DataFrame()


def verdict(name, runs, grads=NO_GRADS):
    return claims.CLAIMS.get(name).check(runs, grads)


def adding(arch, values, solved, T=200, **kw):
    return [{**r, "solved": solved} for r in seeds(values, task="adding", arch=arch,
                                                  **{"params.task_params.seq_len": T}, **kw)]


# ---- registry -----------------------------------------------------------------------
def test_the_required_claims_are_registered():
    assert set(REQUIRED) <= set(claims.CLAIMS.names())


def test_an_empty_table_never_passes():
    empty = make_runs([{"task": "adding", "arch": "lstm", "seed": 0, "status": "missing"}])
    for c, v in claims.evaluate(empty, NO_GRADS):
        assert v.status == NOT_ENOUGH or c.runs is None, c.name   # runs=None: computed, needs no run


def test_a_broken_check_is_not_enough_data_not_a_crash():
    def broken(runs, grads, method="welch"):
        raise KeyError("params.x")
    claims.CLAIMS.add("_broken_for_test", claims.Claim("_broken_for_test", "t", "s", broken))
    try:
        [(c, v)] = claims.evaluate(make_runs([]), NO_GRADS, names=["_broken_for_test"])
        assert v.status == NOT_ENOUGH and "KeyError" in v.evidence
    finally:
        claims.CLAIMS._entries.pop("_broken_for_test")


def test_verdict_rejects_unknown_status():
    with pytest.raises(ValueError):
        claims.Verdict("maybe", "")


# ---- adding: gated cells solve it where the tanh RNN stays at the baseline ------------
def test_adding_gated_vs_tanh_holds():
    runs = make_runs(adding("lstm", [0.002, 0.003, 0.004], True) + adding("gru", [0.002, 0.0025, 0.003], True)
                     + adding("rnn", [0.16, 0.165, 0.17], False))
    v = verdict("adding_gated_vs_tanh", runs)
    assert v.status == HOLDS and "T=200" in v.evidence
    assert v.numbers[0]["tanh_at_baseline"] is True


def test_adding_gated_vs_tanh_fails_when_the_tanh_rnn_also_solves_it():
    runs = make_runs(adding("lstm", [0.002, 0.003], True) + adding("gru", [0.002, 0.003], True)
                     + adding("rnn", [0.005, 0.006], True))
    assert verdict("adding_gated_vs_tanh", runs).status == FAILS


def test_adding_gated_vs_tanh_fails_when_lstm_does_not_solve_it():
    runs = make_runs(adding("lstm", [0.05, 0.06], False) + adding("gru", [0.002, 0.003], True)
                     + adding("rnn", [0.16, 0.17], False))
    assert verdict("adding_gated_vs_tanh", runs).status == FAILS


def test_adding_gated_vs_tanh_never_passes_on_missing_tanh_runs():
    missing = [{"task": "adding", "arch": "rnn", "seed": i, "status": "missing",
                "params.task_params.seq_len": 200} for i in range(2)]
    runs = make_runs(adding("lstm", [0.002, 0.003], True) + adding("gru", [0.002, 0.003], True) + missing)
    assert verdict("adding_gated_vs_tanh", runs).status == NOT_ENOUGH
    runs = make_runs(adding("lstm", [0.002, 0.003], True) + adding("gru", [0.002, 0.003], True))
    assert verdict("adding_gated_vs_tanh", runs).status == NOT_ENOUGH


def test_adding_compares_only_like_with_like():
    # the tanh RNN at baseline, but at another length than where the gated cells ran
    runs = make_runs(adding("lstm", [0.002, 0.003], True) + adding("gru", [0.002, 0.003], True)
                     + adding("rnn", [0.16, 0.17], False, T=400))
    assert verdict("adding_gated_vs_tanh", runs).status == NOT_ENOUGH


# ---- IRNN vs LSTM on adding -------------------------------------------------------------
def test_irnn_competitive_holds_when_both_solve():
    runs = make_runs(adding("irnn", [0.006, 0.007, 0.0065], True) + adding("lstm", [0.004, 0.0045, 0.005], True))
    assert verdict("irnn_competitive_adding", runs).status == HOLDS


def test_irnn_competitive_holds_when_not_worse_with_confidence():
    runs = make_runs(adding("irnn", [0.02, 0.05, 0.03], False) + adding("lstm", [0.03, 0.02, 0.04], False))
    assert verdict("irnn_competitive_adding", runs).status == HOLDS


def test_irnn_competitive_fails_when_clearly_worse():
    runs = make_runs(adding("irnn", [0.15, 0.16, 0.155], False) + adding("lstm", [0.004, 0.005, 0.0045], True))
    v = verdict("irnn_competitive_adding", runs)
    assert v.status == FAILS and v.numbers[0]["competitive"] is False


def test_irnn_competitive_needs_two_seeds():
    runs = make_runs(adding("irnn", [0.15], False) + adding("lstm", [0.004], True))
    assert verdict("irnn_competitive_adding", runs).status == NOT_ENOUGH


# ---- GRU smaller and faster: decided by a throughput sweep, tests/claims/test_gru_speed.py ----


# ---- gradient decay of the tanh RNN ------------------------------------------------------
def grads(arch, norm_of_lag, phase="init", n=40):
    lag = np.arange(n)
    return pd.DataFrame({"lag": lag, "norm": norm_of_lag(lag), "arch": arch, "task": "adding", "layer": 0,
                         "direction": "forward", "state": "h", "at": phase, "seed": 0, "phase": phase,
                         "source": f"adding/{arch}/x", "spectral_radius": 0.9, "sigma_max": 1.1})


def test_tanh_gradient_decay_holds_on_an_exponential():
    v = verdict("tanh_gradient_decay", make_runs([]), grads("rnn", lambda t: 0.8 ** t))
    assert v.status == HOLDS and "0.8 per step" in v.evidence


def test_tanh_gradient_decay_fails_on_a_flat_or_power_law_curve():
    assert verdict("tanh_gradient_decay", make_runs([]), grads("rnn", lambda t: 1.0 + 0 * t)).status == FAILS
    power = verdict("tanh_gradient_decay", make_runs([]), grads("rnn", lambda t: (1.0 + t) ** -3.0, n=400))
    assert power.status == FAILS and "not log-linear" in power.evidence


def test_tanh_gradient_decay_needs_tanh_diagnostics():
    assert verdict("tanh_gradient_decay", make_runs([]), NO_GRADS).status == NOT_ENOUGH
    assert verdict("tanh_gradient_decay", make_runs([]), grads("lstm", lambda t: 0.8 ** t)).status == NOT_ENOUGH


# ---- clipping ---------------------------------------------------------------------------------
def ablation(arch, clip, statuses):
    return [{"task": "adding", "arch": arch, "seed": i, "status": s, "value": 0.1 if s == "ok" else None,
             "params.train.clip": clip, "params.train.lr": 0.01} for i, s in enumerate(statuses)]


def test_clipping_holds():
    runs = make_runs(ablation("rnn", None, ["diverged", "diverged", "ok"]) + ablation("rnn", 1.0, ["ok"] * 3))
    v = verdict("clipping_prevents_divergence", runs)
    assert v.status == HOLDS and "unclipped: 2/3 diverged; clipped: 0/3" in v.evidence


def test_clipping_fails_when_clipped_runs_diverge_too():
    runs = make_runs(ablation("rnn", None, ["diverged", "ok"]) + ablation("rnn", 1.0, ["diverged", "ok"]))
    assert verdict("clipping_prevents_divergence", runs).status == FAILS


def test_clipping_without_an_exploding_setting_is_not_enough():
    runs = make_runs(ablation("rnn", None, ["ok", "ok"]) + ablation("rnn", 1.0, ["ok", "ok"]))
    assert verdict("clipping_prevents_divergence", runs).status == NOT_ENOUGH
    runs = make_runs(ablation("rnn", None, ["diverged", "ok"]) + ablation("rnn", 1.0, ["missing", "missing"]))
    assert verdict("clipping_prevents_divergence", runs).status == NOT_ENOUGH


def test_clipping_compares_only_runs_that_differ_in_clip():
    other_lr = [{**r, "params.train.lr": 0.001} for r in ablation("rnn", 1.0, ["ok"] * 2)]
    runs = make_runs(ablation("rnn", None, ["diverged", "diverged"]) + other_lr)
    assert verdict("clipping_prevents_divergence", runs).status == NOT_ENOUGH


# ---- bidirectional ------------------------------------------------------------------------------
def digits(arch, bi, values, task="seqdigits", metric="accuracy"):
    return seeds(values, task=task, arch=arch, bidirectional=bi, metric=metric, direction="max", baseline=0.1)


def test_bidirectional_holds():
    runs = make_runs(digits("lstm", True, [0.95, 0.96, 0.955]) + digits("lstm", False, [0.90, 0.91, 0.905]))
    assert verdict("bidirectional_helps_classification", runs).status == HOLDS


def test_bidirectional_fails_when_worse():
    runs = make_runs(digits("lstm", True, [0.85, 0.86, 0.855]) + digits("lstm", False, [0.90, 0.91, 0.905]))
    assert verdict("bidirectional_helps_classification", runs).status == FAILS


def test_bidirectional_undecided_or_not_classification_is_not_enough():
    runs = make_runs(digits("lstm", True, [0.80, 0.99]) + digits("lstm", False, [0.85, 0.95]))
    assert verdict("bidirectional_helps_classification", runs).status == NOT_ENOUGH
    copy = make_runs(digits("lstm", True, [0.1, 0.11], task="copy", metric="ce")
                     + digits("lstm", False, [0.5, 0.51], task="copy", metric="ce"))
    assert verdict("bidirectional_helps_classification", copy).status == NOT_ENOUGH


# ---- attention on long reversal -------------------------------------------------------------------
def reverse(variant, values, T):
    return seeds(values, task="reverse", arch="lstm", metric="exact_match", direction="max", baseline=0.0,
                 **{"params.model_params.variant": variant, "params.task_params.max_len": T})


def test_attention_holds_at_the_longest_length():
    runs = make_runs(reverse("attention", [0.95, 0.96, 0.94], 30) + reverse("plain", [0.5, 0.52, 0.51], 30)
                     + reverse("attention", [0.7, 0.72, 0.71], 10) + reverse("plain", [0.8, 0.82, 0.81], 10))
    v = verdict("attention_beats_plain_long_reversal", runs)
    assert v.status == HOLDS and [r["seq_len"] for r in v.numbers] == [30]


def test_attention_fails_when_worse_at_the_longest_length():
    runs = make_runs(reverse("attention", [0.4, 0.41, 0.42], 30) + reverse("plain", [0.5, 0.52, 0.51], 30))
    assert verdict("attention_beats_plain_long_reversal", runs).status == FAILS


def test_attention_needs_both_variants():
    runs = make_runs(reverse("attention", [0.95, 0.96], 30) + reverse("peeking", [0.5, 0.52], 30))
    assert verdict("attention_beats_plain_long_reversal", runs).status == NOT_ENOUGH


# ---- the lab's learning-to-add note ----------------------------------------------------------------
def addition(exact, epochs, char=None):
    return [{"task": "addition", "arch": "lstm", "seed": i, "value": e, "metric": "exact_match",
             "direction": "max", "metrics.char_accuracy": char or min(1.0, e + 0.005), "epochs": epochs}
            for i, e in enumerate(exact)]


@pytest.mark.parametrize("exact, epochs, status", [([0.995, 0.993], 30, HOLDS), ([0.9, 0.91], 30, NOT_ENOUGH),
                                                   ([0.9, 0.91], 100, FAILS), ([0.995, 0.98], 100, FAILS)])
def test_lab_learning_to_add(exact, epochs, status):
    v = verdict("lab_learning_to_add_99", make_runs(addition(exact, epochs)))
    assert v.status == status, v.evidence


def test_lab_learning_to_add_is_decided_on_exact_match_not_per_character_accuracy():
    v = verdict("lab_learning_to_add_99", make_runs(addition([0.97, 0.975], 100, char=0.995)))
    assert v.status == FAILS and "per-character 0.995" in v.evidence


def test_lab_learning_to_add_counts_a_run_that_reached_99_on_validation():
    rows = addition([0.995, 0.988], 7)
    rows[1]["steps_to_solve"] = 1232          # stopped when validation met 99 %; its test split: 98.8 %
    v = verdict("lab_learning_to_add_99", make_runs(rows))
    assert v.status == HOLDS and "1 of 2 run(s) reached 99 % on validation" in v.evidence
