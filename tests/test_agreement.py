"""Subject-verb agreement (rnnbench/tasks/agreement.py): the generator's sentences and their
facts, the splits, the per-attractor metrics, refused parameters, every cell, and learning."""
from __future__ import annotations

import collections
import math

import pytest
import torch

from rnnbench import tasks
from rnnbench.errors import UsageError
from rnnbench.models import CELLS
from rnnbench.models.zoo import MODELS
from rnnbench.tasks import agreement as A
from rnnbench.train import resolve, run, with_task_defaults

SMALL = {"n_train": 300, "n_val": 60, "n_test": 100}
NOUN_FORMS = {f: number for n in A.NOUNS for number, f in enumerate(n[:2])}
VERB_FORMS = {f: (pair, number) for pair in A.MAIN_VERBS + A.TRANSITIVE for number, f in enumerate(pair)}


@pytest.fixture(scope="module")
def small():
    return tasks.build("agreement", SMALL, seed=0)


def recount(words) -> tuple[int, int, int]:
    """(subject number, intervening nouns, attractors) of a sentence, read off its words in
    plain Python: the subject is the first noun after the fronted PP's comma; the nouns up to
    the main verb (the first main-verb form) intervene."""
    verb = next(i for i, w in enumerate(words) if w in VERB_FORMS and VERB_FORMS[w][0] in A.MAIN_VERBS)
    start = words.index(",") + 1 if "," in words else 0
    nouns = [NOUN_FORMS[w] for w in words[start:verb] if w in NOUN_FORMS]
    return nouns[0], len(nouns) - 1, sum(n != nouns[0] for n in nouns[1:])


# ---------------------------------------------------------------------------- the grammar
def test_vocabulary_is_the_documented_one():
    assert A.VOCAB_SIZE == len(A.VOCAB) == 127 and "a vocabulary of 127 tokens" in A.__doc__
    assert A.VOCAB[0] == A.PAD and tasks.TASKS.get("agreement").vocab_size == 127


# Inspected by hand (seed 0, SMALL): the subject, the nouns between it and the main verb, their
# numbers, and every relative-clause verb agreeing with its own subject.
INSPECTED = {
    # student (sg) | girl, girl, doctor (sg), windows (pl); "knows" <- girl, "helps" <- girl
    2: ("our student that the big girl behind his girl that helps his doctor to our strange windows "
        "knows is inside .", 0, 4, 1, ("orc", "pp", "src", "pp"), False),
    # fronted "beside the quiet gardens ," is not intervening; car (sg) | houses, boys (pl), author
    4: ("beside the quiet gardens , their old car near those new houses with their boys that help our "
        "author stands inside .", 0, 3, 2, ("pp", "pp", "src"), True),
    # students (pl) | teacher (sg), authors (pl), farmer, car (sg); "knows" <- farmer, "follow" <- authors
    5: ("her students behind our teacher that his authors that his farmer beside our car knows follow "
        "work nearby .", 1, 4, 3, ("pp", "orc", "orc", "pp"), False),
    # book (sg) | children, cats (pl): center-embedded object relatives, "like" <- cats, "see" <- children
    11: ("their little book that her children that her cats like see stays outside .", 0, 2, 2,
         ("orc", "orc"), False),
}


@pytest.mark.parametrize("i", sorted(INSPECTED))
def test_inspected_sentences_and_their_facts(small, i):
    text, number, nouns, attractors, kinds, intro = INSPECTED[i]
    s = small.sentences["test"][i]
    assert (str(s), s.number, s.nouns, s.attractors, s.modifiers, s.intro) == \
        (text, number, nouns, attractors, kinds, intro)
    assert VERB_FORMS[s.words[s.verb]] in {(pair, number) for pair in A.MAIN_VERBS}
    assert recount(s.words) == (number, nouns, attractors)
    assert small.splits["test"].y[i] == number                           # the label is the subject's number
    assert small.splits["test"].x[i, :s.verb].tolist() == [A.ID[w] for w in s.prefix]


def test_every_sentence_counts_its_nouns_and_agrees(small):
    for split, sents in small.sentences.items():
        for s in sents:
            assert recount(s.words) == (s.number, s.nouns, s.attractors), (split, str(s))
            pair, number = VERB_FORMS[s.words[s.verb]]
            assert pair in A.MAIN_VERBS and number == s.number, str(s)
            assert len(s.modifiers) == s.nouns and sum(k != "pp" for k in s.modifiers) <= 2
            assert s.words[-1] == "." and s.intro == ("," in s.words)


def test_ungrammatical_form_differs_only_in_the_verbs_number(small):
    for s in small.sentences["test"]:
        bad = s.ungrammatical()
        diff = [i for i, (a, b) in enumerate(zip(s.words, bad)) if a != b]
        assert len(bad) == len(s.words) and diff == [s.verb]
        (pair, n), (pair_bad, n_bad) = VERB_FORMS[s.words[s.verb]], VERB_FORMS[bad[s.verb]]
        assert pair == pair_bad and {n, n_bad} == {0, 1} and n == s.number
    with pytest.raises(UsageError, match="'boy' is not a main verb form"):
        A.other_form("boy")


def test_analyse_reads_the_facts_back_from_token_ids(small):
    for name in ("train", "test"):
        subject, nouns, attractors = A.analyse(small.splits[name].x)
        sents = small.sentences[name]
        assert subject.tolist() == [s.number for s in sents]
        assert nouns.tolist() == [s.nouns for s in sents]
        assert attractors.tolist() == [s.attractors for s in sents]


# ---------------------------------------------------------------------------- the splits
def test_same_seed_same_sentences_other_seed_other():
    a, b = tasks.build("agreement", SMALL, seed=3), tasks.build("agreement", SMALL, seed=3)
    c = tasks.build("agreement", SMALL, seed=4)
    for name in ("train", "val", "test"):
        assert torch.equal(a.splits[name].x, b.splits[name].x) and torch.equal(a.splits[name].y, b.splits[name].y)
        assert [str(s) for s in a.sentences[name]] != [str(s) for s in c.sentences[name]]
    lm = tasks.build("agreement-lm", SMALL, seed=3)           # the language model reads the same sentences
    assert [str(s) for s in lm.sentences["test"]] == [str(s) for s in a.sentences["test"]]


def test_test_split_does_not_depend_on_the_training_size():
    a = tasks.build("agreement", SMALL, seed=0)
    b = tasks.build("agreement", {**SMALL, "n_train": 50, "train_sampling": "balanced"}, seed=0)
    assert torch.equal(a.splits["test"].x, b.splits["test"].x)


def test_splits_are_disjoint_by_their_inputs():
    t = tasks.build("agreement", {"n_train": 3000, "n_val": 300, "n_test": 500, "max_nouns": 4}, seed=1)
    prefixes = {name: {s.prefix for s in sents} for name, sents in t.sentences.items()}
    assert not prefixes["train"] & prefixes["test"] and not prefixes["train"] & prefixes["val"]
    assert not prefixes["val"] & prefixes["test"]
    # short prefixes ("the old boy") are few, and both splits hold many: not disjoint by chance
    assert min(sum(len(p) <= 3 for p in prefixes[name]) for name in ("train", "test")) > 10
    lm = tasks.build("agreement-lm", {"n_train": 3000, "n_val": 300, "n_test": 500}, seed=1)
    rows = {name: {tuple(x[:n].tolist()) for x, n in zip(lm.splits[name].x, lm.splits[name].lengths)}
            for name in ("train", "test")}
    assert len(rows["test"]) > 400 and not rows["train"] & rows["test"]


def test_validation_and_test_are_balanced_by_attractors_and_number():
    t = tasks.build("agreement", {**SMALL, "n_val": 30, "n_test": 100}, seed=0)
    for name, n in (("val", 30), ("test", 100)):
        cells = collections.Counter((s.attractors, s.number) for s in t.sentences[name])
        assert set(cells) == {(k, s) for k in range(5) for s in (0, 1)}
        assert max(cells.values()) - min(cells.values()) <= 1 and sum(cells.values()) == n
        assert all(s.attractors <= s.nouns <= 4 for s in t.sentences[name])
    two = tasks.build("agreement", {**SMALL, "max_attractors": 2, "max_nouns": 3}, seed=0)
    assert {s.attractors for s in two.sentences["test"]} == {0, 1, 2}
    assert max(s.nouns for s in two.sentences["test"]) == 3


def test_training_distribution_follows_train_sampling():
    none = tasks.build("agreement", {**SMALL, "p_attractor": 0.0}, seed=0)
    assert {s.attractors for s in none.sentences["train"]} == {0}
    assert {s.nouns for s in none.sentences["train"]} == {0, 1, 2, 3, 4}
    binomial = collections.Counter(s.attractors for s in tasks.build("agreement", SMALL, seed=0).sentences["train"])
    balanced = collections.Counter(s.attractors for s in tasks.build(
        "agreement", {**SMALL, "train_sampling": "balanced"}, seed=0).sentences["train"])
    assert binomial[0] > 3 * binomial[4] and set(balanced) == set(range(5))
    assert max(balanced.values()) < 2 * min(balanced.values())
    rc = tasks.build("agreement", {**SMALL, "max_rc_depth": 0}, seed=0)
    assert all(k == "pp" for s in rc.sentences["train"] for k in s.modifiers)
    assert not any("that" in s.words for s in rc.sentences["train"])


# ---------------------------------------------------------------------------- metrics
def test_by_attractors_on_hand_made_predictions():
    correct = torch.tensor([True, True, False, True, False, False])
    attractors = torch.tensor([0, 0, 1, 1, 2, 2])
    m = A.by_attractors(correct, attractors, 3)
    assert m == {"accuracy_attractors_0": 1.0, "count_attractors_0": 2.0, "accuracy_attractors_1": 0.5,
                 "count_attractors_1": 2.0, "accuracy_attractors_2": 0.0, "count_attractors_2": 2.0,
                 "accuracy_attractors_3": m["accuracy_attractors_3"], "count_attractors_3": 0.0}
    assert math.isnan(m["accuracy_attractors_3"])


def test_number_prediction_metrics_per_bucket(small):
    test, sents = small.splits["test"], small.sentences["test"]
    attractors = torch.tensor([s.attractors for s in sents])
    right = torch.nn.functional.one_hot(test.y, 2).float()
    pred = torch.where((attractors == 2)[:, None], 1 - right, right)     # wrong exactly with 2 attractors
    m = small.metrics(pred, test)
    assert [m[f"accuracy_attractors_{k}"] for k in range(5)] == [1.0, 1.0, 0.0, 1.0, 1.0]
    assert [m[f"count_attractors_{k}"] for k in range(5)] == [20.0] * 5
    assert m["accuracy"] == pytest.approx(0.8) and small.baseline() == pytest.approx(0.5)


def test_language_model_agreement_accuracy_per_bucket():
    lm = tasks.build("agreement-lm", SMALL, seed=0)
    test, sents = lm.splits["test"], lm.sentences["test"]
    assert lm.splits["test"].x[:, 0].eq(A.ID[A.BOS]).all() and lm.output_size == lm.vocab_size == 127
    pred = torch.zeros(len(test), test.x.shape[1], A.VOCAB_SIZE)
    for i, s in enumerate(sents):                     # at the verb (target position s.verb)
        assert test.y[i, s.verb] == A.ID[s.words[s.verb]]
        good, bad = A.ID[s.words[s.verb]], A.ID[s.ungrammatical()[s.verb]]
        pred[i, s.verb, bad if s.attractors == 3 else good] = 1.0
        pred[i, s.verb + 1, good] = 5.0               # elsewhere the scores do not count
    m = lm.metrics(pred, test)
    assert [m[f"accuracy_attractors_{k}"] for k in range(5)] == [1.0, 1.0, 1.0, 0.0, 1.0]
    assert m["agreement_accuracy"] == pytest.approx(0.8) and m["perplexity"] == pytest.approx(math.exp(m["ce"]))
    assert lm.metrics(torch.zeros_like(pred), test)["agreement_accuracy"] == 0.0   # a tie is wrong
    assert 0.3 < lm.baseline() < 0.7


# ---------------------------------------------------------------------------- refused values
@pytest.mark.parametrize("params, needle", [
    ({"n_train": 0}, "'n_train' must be positive, got 0"),
    ({"n_test": 9}, "'n_test' must be >= 10 (2 subject numbers x 5 attractor counts), got 9"),
    ({"max_attractors": 5}, "'max_attractors' must be in 0..4, got 5"),
    ({"max_nouns": 11, "max_attractors": 2}, "'max_nouns' must be in 0..10, got 11"),
    ({"max_rc_depth": -1}, "'max_rc_depth' must be in 0..4, got -1"),
    ({"p_intro": 1.5}, "'p_intro' must be in [0, 1], got 1.5"),
    ({"p_attractor": -0.1}, "'p_attractor' must be in [0, 1], got -0.1"),
    ({"embedding_dim": -1}, "'embedding_dim' must be in 0..1048576, got -1"),
    ({"train_sampling": "uniform"}, "unknown value 'uniform' (valid: balanced, binomial)"),
])
def test_bad_parameters_are_refused_in_one_line(params, needle):
    for name in ("agreement", "agreement-lm"):
        with pytest.raises(UsageError) as e:
            tasks.build(name, params)
        assert needle in str(e.value) and f"task {name!r}" in str(e.value) and "\n" not in str(e.value)


def test_bidirectional_language_model_is_refused():
    lm = tasks.build("agreement-lm", SMALL)
    cfg = resolve(with_task_defaults({"task": "agreement-lm", "task_params": SMALL, "arch": "lstm",
                                      "bidirectional": True}))
    with pytest.raises(UsageError, match="bidirectional True refused") as e:
        lm.build_model(cfg)
    assert "\n" not in str(e.value)


# ---------------------------------------------------------------------------- models
@pytest.mark.parametrize("name", ["agreement", "agreement-lm"])
def test_every_cell_and_model_trains_one_step(name, one_thread):
    task = tasks.build(name, SMALL, seed=0)
    batch, val = task.splits["train"].take(slice(0, 8)), task.splits["val"]
    for arch in CELLS.names() + MODELS.names():
        cfg = resolve(with_task_defaults({"task": name, "task_params": SMALL, "arch": arch, "hidden": 8}))
        torch.manual_seed(0)
        model = task.build_model(cfg)
        loss = task.train_loss(model, batch, 0)
        loss.backward()
        assert torch.isfinite(loss), (name, arch)
        m = task.metrics(task.predict(model.eval(), val, 64), val)
        assert task.metric in m and all(isinstance(v, float) for v in m.values()), (name, arch)
        assert sum(m[f"count_attractors_{k}"] for k in range(5)) == len(val)
    cell = task.build_model(resolve(with_task_defaults({"task": name, "task_params": SMALL, "arch": "gru"})))
    assert cell.embedding.embedding_dim == 50                 # Linzen et al.'s 50-dimensional embeddings


def test_lstm_learns_agreement_above_the_majority_baseline(tmp_path, one_thread):
    cfg = with_task_defaults({"task": "agreement", "arch": "lstm", "hidden": 32, "steps": 300,
                              "batch_size": 32, "eval_every": 300, "device": "cpu", "seed": 0,
                              "task_params": {"n_train": 4000, "n_val": 100, "n_test": 500}})
    m = run(cfg, tmp_path / "run", quiet=True)
    assert m["status"] == "ok" and m["baseline"] == pytest.approx(0.5)
    assert m["value"] > m["baseline"] + 0.25, m["metrics"]
    assert [m["metrics"][f"count_attractors_{k}"] for k in range(5)] == [100.0] * 5
    lines = (tmp_path / "run" / "by_attractors.csv").read_text().splitlines()
    assert lines[0] == "split,attractors,intervening_nouns,count,correct,accuracy"
    rows = [r.split(",") for r in lines[1:]]
    assert sum(int(r[3]) for r in rows) == 500 and all(int(r[1]) <= int(r[2]) for r in rows)
    by_k = collections.defaultdict(lambda: [0, 0])
    for r in rows:
        by_k[int(r[1])][0] += int(r[4])
        by_k[int(r[1])][1] += int(r[3])
    for k, (c, n) in by_k.items():
        assert m["metrics"][f"accuracy_attractors_{k}"] == pytest.approx(c / n)


def test_language_model_run_records_its_metrics(tmp_path, one_thread):
    cfg = with_task_defaults({"task": "agreement-lm", "arch": "gru", "hidden": 16, "steps": 5,
                              "batch_size": 16, "device": "cpu", "task_params": SMALL})
    m = run(cfg, tmp_path / "lm", quiet=True)
    assert m["metric"] == "agreement_accuracy" and m["direction"] == "max"
    assert {f"accuracy_attractors_{k}" for k in range(5)} <= set(m["metrics"]) and "perplexity" in m["metrics"]
    assert (tmp_path / "lm" / "by_attractors.csv").read_text().startswith("split,attractors")
