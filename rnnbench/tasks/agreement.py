"""Subject-verb agreement (Linzen, Dupoux & Goldberg 2016), on generated English-like sentences.

Linzen et al. asked whether an LSTM learns the syntax-sensitive dependency between a subject
and its verb: in "the key to the cabinets is here" the verb agrees with "key", not with the
nearer "cabinets" (an *attractor*: an intervening noun of the other number). Their data were
Wikipedia sentences; here a seeded grammar generates them, so every sentence's structure,
attractor count and verb are known exactly. Nothing is downloaded.

Grammar (nonterminals upper case; `N_j` is the noun of NP_j, `s` the subject's number):

    S      -> [INTRO ","] NP_0 MOD_1 V_main(s) ADV "."
    INTRO  -> P_intro NP                      a fronted PP (probability `p_intro`; its NP of
                                              either number, no modifier): its noun does not
                                              intervene, but defeats "the first noun is the
                                              subject"
    NP_j   -> DET(n_j) ADJ? N_j(n_j)          ADJ with probability 0.3; DET number-neutral
                                              (the, his, her, our, their) with probability 0.75,
                                              else marked (this each every / these those some many)
    MOD_j  -> ""                              j = m + 1 (m = intervening nouns, <= max_nouns)
                                              j <= m: one of these three, by weight:
            | P NP_j MOD_{j+1}                pp  "the key to the cabinets"          weight 2
            | that NP_j MOD_{j+1} V_t(n_j)    orc "the boy that the girls near the door see"
                                              (object relative: its verb agrees with N_j;
                                              N_j animate)                        weight 1
            | that V_t(n_{j-1}) NP_j MOD_{j+1} src "the boy that likes the girls" (subject
                                              relative: its verb agrees with N_{j-1}, the noun
                                              it modifies; N_{j-1} animate)      weight 1
    V_main -> one of 5 verbs any subject takes (is, was, remains, stays, stands) or, for an
              animate subject, also one of 6 agentive ones (sleeps, waits, smiles, laughs,
              works, arrives); ADV one of 8 adverbs (here, there, today, ...).

So the modifiers form a chain: MOD_j modifies N_{j-1} and brings N_j; the m nouns N_1..N_m
all lie between the subject and the main verb (the intervening nouns), at most
`max_rc_depth` of the m modifiers are relative clauses (each nests inside the previous
modifiers: with 2, "the boy that the girls that the dog sees like is here"). An attractor is
an intervening noun whose number differs from the subject's. Relative-clause verbs carry
number too (an object relative's verb agrees with its own subject, which may be an
attractor); they are not counted.

Lexicon: 24 noun lemmas (12 animate, 12 inanimate; regular and irregular plurals, none
number-ambiguous), 12 determiners, 8 adjectives, 8 prepositions (P_intro: 4 of them),
8 transitive verbs for the relative clauses, 11 main verbs, 8 adverbs, and the tokens
<pad> (id 0), <s>, ".", "," and "that": a vocabulary of 127 tokens (VOCAB).

Sampling. A sentence is drawn given (k attractors, m intervening nouns, subject number s):
the modifier kinds in order (weights above, rc capped at max_rc_depth), which k of the m
intervening nouns take the other number, animacy (as the kinds require, else a fair coin),
then the words uniformly. The validation and test splits are balanced: sentence i has
k = i mod (max_attractors + 1) and s alternating per k (every (k, s) cell equally full,
then shuffled), m uniform in k..max_nouns. The training split follows `train_sampling`:
    binomial  m uniform in 0..max_nouns, each intervening noun of the other number with
              probability p_attractor (0.5: a fair coin), so k is binomial: few sentences with
              many attractors, as in natural text; redrawn while k > max_attractors
    balanced  as the test split (k uniform in 0..max_attractors, m uniform in k..max_nouns)
The splits are disjoint by their inputs: the test split is drawn first, then validation
without a prefix (the words before the main verb) of the test split, then training without
one of either; each from its own stream (tasks.base.rng), so the test split depends only on
(seed, the grammar parameters, n_test).

agreement (number prediction, Linzen et al.'s main task; many-to-one):
    input   the words before the main verb (token ids, right-padded, lengths given)
    target  the subject's number: 0 singular, 1 plural
    metric  accuracy on the (balanced) test split; solved at >= 0.95
    baseline the majority training class (about 0.5: subjects are a fair coin)

agreement-lm (word-level language model; many-to-many):
    input   <s> w_1 .. w_n, target w_1 .. w_n "." (next-word cross-entropy over the real
            words; padding ignored)
    metric  agreement_accuracy: the share of test sentences where, at the main verb, the model
            scores the grammatical form above the ungrammatical one (the same verb in the other
            number, the sentence otherwise unchanged; a tie counts as wrong); solved at >= 0.95
    baseline the training unigram model's agreement accuracy (about 0.5)
    A bidirectional model is refused (its backward direction reads the word it predicts).

Both tasks also report, on each split, `accuracy_attractors_<k>` (agreement accuracy of the
sentences with k attractors) and `count_attractors_<k>` (their number) for k = 0 ..
max_attractors, and write `by_attractors.csv` after training: one row per (attractors,
intervening nouns) cell of the test split: split, attractors, intervening_nouns, count,
correct, accuracy. The counts are read back from the token ids (`analyse`), the same on any
device. Inputs are token ids: a learned embedding of `embedding_dim` (Linzen et al.: 50)
for the cells, one-hot for the models of models/zoo.py or with embedding_dim 0.
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .base import Split, Task, param, positive, register, rng
from .metrics import classification, majority_accuracy
from ..errors import UsageError, choices
from ..io import atomic_write_text

CITATION = ("Linzen, Dupoux & Goldberg 2016, Assessing the ability of LSTMs to learn "
            "syntax-sensitive dependencies (TACL 4)")

# ---------------------------------------------------------------------------- lexicon
NOUNS = (   # (singular, plural, animate)
    ("boy", "boys", True), ("girl", "girls", True), ("man", "men", True), ("woman", "women", True),
    ("child", "children", True), ("teacher", "teachers", True), ("student", "students", True),
    ("doctor", "doctors", True), ("farmer", "farmers", True), ("author", "authors", True),
    ("dog", "dogs", True), ("cat", "cats", True),
    ("key", "keys", False), ("cabinet", "cabinets", False), ("table", "tables", False),
    ("door", "doors", False), ("window", "windows", False), ("house", "houses", False),
    ("car", "cars", False), ("book", "books", False), ("box", "boxes", False),
    ("city", "cities", False), ("picture", "pictures", False), ("garden", "gardens", False),
)
DETERMINERS = {None: ("the", "his", "her", "our", "their"),    # any number
               0: ("this", "each", "every"),                    # singular
               1: ("these", "those", "some", "many")}           # plural
P_MARKED_DET = 0.25
ADJECTIVES = ("old", "small", "big", "new", "little", "strange", "quiet", "famous")
P_ADJ = 0.3
PREPOSITIONS = ("near", "behind", "beside", "with", "of", "to", "under", "from")
INTRO_PREPOSITIONS = ("near", "behind", "beside", "under")
TRANSITIVE = (("sees", "see"), ("likes", "like"), ("knows", "know"), ("follows", "follow"),
              ("helps", "help"), ("meets", "meet"), ("admires", "admire"), ("watches", "watch"))
MAIN_ANY = (("is", "are"), ("was", "were"), ("remains", "remain"), ("stays", "stay"),
            ("stands", "stand"))
MAIN_ANIMATE = (("sleeps", "sleep"), ("waits", "wait"), ("smiles", "smile"), ("laughs", "laugh"),
                ("works", "work"), ("arrives", "arrive"))
MAIN_VERBS = MAIN_ANY + MAIN_ANIMATE
ADVERBS = ("here", "there", "today", "again", "now", "outside", "inside", "nearby")
PAD, BOS, STOP, COMMA, THAT = "<pad>", "<s>", ".", ",", "that"

VOCAB: tuple[str, ...] = (
    (PAD, BOS, STOP, COMMA, THAT) + tuple(w for ws in DETERMINERS.values() for w in ws) + ADJECTIVES
    + PREPOSITIONS + tuple(f for n in NOUNS for f in n[:2]) + tuple(f for v in TRANSITIVE for f in v)
    + tuple(f for v in MAIN_VERBS for f in v) + ADVERBS)
assert len(set(VOCAB)) == len(VOCAB), "a word form is listed twice"
ID = {w: i for i, w in enumerate(VOCAB)}
VOCAB_SIZE = len(VOCAB)                  # 127 (the docstring says so; a test holds it to that)
MAX_NOUNS = 10                           # intervening nouns a sentence may be asked for, at most


def _luts() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Lookup tables over VOCAB: a noun form's number (0 / 1, else -1); a main verb form's other
    form (else -1); whether a form is a main verb."""
    number = torch.full((VOCAB_SIZE,), -1, dtype=torch.long)
    for sg, pl, _ in NOUNS:
        number[ID[sg]], number[ID[pl]] = 0, 1
    partner = torch.full((VOCAB_SIZE,), -1, dtype=torch.long)
    for sg, pl in MAIN_VERBS:
        partner[ID[sg]], partner[ID[pl]] = ID[pl], ID[sg]
    return number, partner, partner >= 0


NOUN_NUMBER, VERB_PARTNER, IS_MAIN_VERB = _luts()


def other_form(verb: str) -> str:
    """The main verb form of the other number ("is" -> "are")."""
    for sg, pl in MAIN_VERBS:
        if verb in (sg, pl):
            return pl if verb == sg else sg
    raise UsageError(f"{verb!r} is not a main verb form (valid: {choices(f for v in MAIN_VERBS for f in v)})")


# ---------------------------------------------------------------------------- sentences
@dataclass(frozen=True)
class Sentence:
    """One generated sentence and the facts of its structure."""
    words: tuple[str, ...]        # ends with "."
    verb: int                     # index of the main verb in words
    number: int                   # the subject's number: 0 singular, 1 plural (the label)
    attractors: int               # intervening nouns of the other number
    nouns: int                    # intervening nouns (between the subject and the main verb)
    modifiers: tuple[str, ...]    # the kinds of MOD_1 .. MOD_m (keys of MODIFIERS)
    intro: bool                   # whether it opens with a fronted PP

    @property
    def prefix(self) -> tuple[str, ...]:
        """The words before the main verb: the agreement task's input."""
        return self.words[:self.verb]

    def ungrammatical(self) -> tuple[str, ...]:
        """The same sentence with the main verb in the other number."""
        return self.words[:self.verb] + (other_form(self.words[self.verb]),) + self.words[self.verb + 1:]

    def __str__(self) -> str:
        return " ".join(self.words)


@dataclass(frozen=True)
class Modifier:
    """A kind of MOD_j: how it is written around NP_j (its full phrase `inner`) and what its
    relative-clause verb agrees with."""
    weight: float
    relative: bool                     # counts towards max_rc_depth
    animate: str | None                # "noun" (N_j) or "head" (N_{j-1}) must be animate
    write: Callable[[list[str], str | None, str], list[str]]   # (inner, verb, preposition) -> words


MODIFIERS: dict[str, Modifier] = {
    "pp": Modifier(2.0, False, None, lambda inner, verb, prep: [prep] + inner),
    "orc": Modifier(1.0, True, "noun", lambda inner, verb, prep: [THAT] + inner + [verb]),
    "src": Modifier(1.0, True, "head", lambda inner, verb, prep: [THAT, verb] + inner),
}
_KINDS = tuple(MODIFIERS)
_WEIGHTS = (np.cumsum([MODIFIERS[k].weight for k in _KINDS])[:-1]
            / sum(MODIFIERS[k].weight for k in _KINDS)).tolist()     # the kinds' upper bounds in [0, 1)
_ANIMATE = tuple(n for n in NOUNS if n[2])
_INANIMATE = tuple(n for n in NOUNS if not n[2])


class _Draws:
    """Uniform draws in [0, 1) from a numpy generator, taken in blocks of 4096."""

    def __init__(self, g: np.random.Generator):
        self.g, self.buf = g, []

    def u(self) -> float:
        if not self.buf:
            self.buf = self.g.random(4096).tolist()[::-1]     # popped from the end: in draw order
        return self.buf.pop()

    def coin(self, p: float = 0.5) -> bool:
        return self.u() < p

    def pick(self, seq):
        return seq[int(self.u() * len(seq))]

    def int_in(self, lo: int, hi: int) -> int:
        """Uniform in lo..hi (inclusive)."""
        return lo + int(self.u() * (hi - lo + 1))


class Grammar:
    """The generator: `sentence(k, m, s, draws)` writes one sentence with k attractors among m
    intervening nouns and a subject of number s."""

    def __init__(self, max_rc_depth: int, p_intro: float):
        self.max_rc_depth, self.p_intro = max_rc_depth, p_intro

    def noun_phrase(self, number: int, animate: bool, d: _Draws) -> list[str]:
        det = d.pick(DETERMINERS[number] if d.coin(P_MARKED_DET) else DETERMINERS[None])
        adj = [d.pick(ADJECTIVES)] if d.coin(P_ADJ) else []
        return [det] + adj + [d.pick(_ANIMATE if animate else _INANIMATE)[number]]

    def sentence(self, k: int, m: int, s: int, d: _Draws) -> Sentence:
        kinds, relatives = [], 0
        for _ in range(m):
            kind = _KINDS[bisect.bisect_right(_WEIGHTS, d.u())]
            if MODIFIERS[kind].relative and relatives >= self.max_rc_depth:
                kind = "pp"
            relatives += MODIFIERS[kind].relative
            kinds.append(kind)
        order = sorted(range(1, m + 1), key=lambda _: d.u())        # a random permutation
        numbers = [s] * (m + 1)
        for j in order[:k]:
            numbers[j] = 1 - s
        need = [False] * (m + 1)
        for j, kind in enumerate(kinds, 1):
            if MODIFIERS[kind].animate == "noun":
                need[j] = True
            elif MODIFIERS[kind].animate == "head":
                need[j - 1] = True
        animate = [need[j] or d.coin() for j in range(m + 1)]
        phrases = [self.noun_phrase(numbers[j], animate[j], d) for j in range(m + 1)]
        inner = phrases[m]
        for j in range(m, 0, -1):                                    # innermost modifier first
            mod = MODIFIERS[kinds[j - 1]]
            agrees = {"noun": j, "head": j - 1}.get(mod.animate)
            verb = d.pick(TRANSITIVE)[numbers[agrees]] if agrees is not None else None
            inner = phrases[j - 1] + mod.write(inner, verb, d.pick(PREPOSITIONS))
        intro = []
        if d.coin(self.p_intro):
            intro = [d.pick(INTRO_PREPOSITIONS)] + self.noun_phrase(int(d.coin()), d.coin(), d) + [COMMA]
        verb = d.pick(MAIN_VERBS if animate[0] else MAIN_ANY)[s]
        words = tuple(intro + inner + [verb, d.pick(ADVERBS), STOP])
        return Sentence(words, len(intro) + len(inner), s, k, m, tuple(kinds), bool(intro))


# How (k, m, s) are drawn for a training sentence: train_sampling's registry.
def _binomial(p: "Agreement.Params", d: _Draws) -> tuple[int, int, int]:
    while True:
        m = d.int_in(0, p.max_nouns)
        k = sum(d.coin(p.p_attractor) for _ in range(m))
        if k <= p.max_attractors:
            return k, m, int(d.coin())


def _balanced(p: "Agreement.Params", d: _Draws) -> tuple[int, int, int]:
    k = d.int_in(0, p.max_attractors)
    return k, d.int_in(k, p.max_nouns), int(d.coin())


TRAIN_SAMPLING: dict[str, Callable] = {"binomial": _binomial, "balanced": _balanced}
TRIES = 1000      # draws per sentence before a split is declared too large for the grammar


def generate(p: "Agreement.Params", n: int, g: np.random.Generator, stratified: bool,
             exclude: set[tuple[str, ...]] = frozenset(), task: str = "agreement") -> list[Sentence]:
    """n sentences; stratified: balanced by (attractors, subject number), then shuffled; else
    drawn by p.train_sampling. A sentence whose prefix is in `exclude` is drawn again."""
    grammar, d = Grammar(p.max_rc_depth, p.p_intro), _Draws(g)
    K = p.max_attractors + 1
    out = []
    for i in range(n):
        for _ in range(TRIES):
            if stratified:
                k, s = i % K, (i // K) % 2
                sent = grammar.sentence(k, d.int_in(k, p.max_nouns), s, d)
            else:
                sent = grammar.sentence(*TRAIN_SAMPLING[p.train_sampling](p, d), d)
            if sent.prefix not in exclude:
                break
        else:
            raise UsageError(f"task {task!r}: {n} sentences apart from the other splits' "
                             f"{len(exclude)} cannot be drawn from this grammar: lower n_train / n_val / "
                             f"n_test (got {n}) or raise max_nouns")
        out.append(sent)
    if stratified:
        out = [out[i] for i in g.permutation(n)]
    return out


# ---------------------------------------------------------------------------- analysis
def analyse(prefix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(subject number, intervening nouns, attractors), each [N], of token-id prefixes [N, T]
    (the words before the main verb; anything after them PAD). The subject is the first noun
    after the fronted PP's comma (or the first noun); every later noun intervenes."""
    num = NOUN_NUMBER.to(prefix.device)[prefix]                       # [N, T]: -1, 0, 1
    T = prefix.shape[1]
    pos = torch.arange(T, device=prefix.device)[None, :]
    comma = torch.where(prefix == ID[COMMA], pos, torch.full_like(prefix, -1)).max(1).values
    noun = (num >= 0) & (pos > comma[:, None])
    first = noun.long().argmax(1)
    subject = num.gather(1, first[:, None])[:, 0]
    later = noun & (pos > first[:, None])
    return subject, later.sum(1), (later & (num != subject[:, None])).sum(1)


def by_attractors(correct: torch.Tensor, attractors: torch.Tensor, max_attractors: int) -> dict[str, float]:
    """accuracy_attractors_<k> (nan where no sentence has k) and count_attractors_<k>, k = 0..max."""
    out = {}
    for k in range(max_attractors + 1):
        sel = attractors == k
        n = int(sel.sum())
        out[f"accuracy_attractors_{k}"] = float(correct[sel].float().mean()) if n else math.nan
        out[f"count_attractors_{k}"] = float(n)
    return out


def cells_csv(correct: torch.Tensor, nouns: torch.Tensor, attractors: torch.Tensor, split: str) -> str:
    """by_attractors.csv: one row per (attractors, intervening nouns) cell present."""
    rows = ["split,attractors,intervening_nouns,count,correct,accuracy"]
    for k in sorted(set(attractors.tolist())):
        for m in sorted(set(nouns[attractors == k].tolist())):
            sel = (attractors == k) & (nouns == m)
            n, c = int(sel.sum()), int(correct[sel].sum())
            rows.append(f"{split},{k},{m},{n},{c},{c / n:.6g}")
    return "\n".join(rows) + "\n"


# ---------------------------------------------------------------------------- tasks
@register("agreement")
class Agreement(Task):
    """Subject-verb agreement: the number of the subject from the words before its verb."""
    title = "Subject-verb agreement (number prediction)"
    citation = CITATION
    family = "synthetic"                 # generated data, not built to need a long memory
    lockstep = False                     # sequences of different lengths share a batch
    kind = "many_to_one"
    metric = "accuracy"
    direction = "max"
    solved_threshold = 0.95
    vocab_size = VOCAB_SIZE
    _sentences: dict[str, list[Sentence]] | None = None     # generated once, on first use
    # Linzen et al.: 50 hidden units, 50-dimensional embeddings
    defaults = {"hidden": 50, "layers": 1, "epochs": 5, "batch_size": 64, "optimizer": "adam",
                "lr": 1e-3, "clip": 1.0}

    @dataclass
    class Params:
        n_train: int = param(20000, "training sentences")
        n_val: int = param(1000, "validation sentences (balanced by attractor count)")
        n_test: int = param(2500, "test sentences (balanced by attractor count)")
        max_attractors: int = param(4, "attractors at most; the test split holds 0..max_attractors equally")
        max_nouns: int = param(4, f"intervening nouns at most (>= max_attractors, <= {MAX_NOUNS})")
        max_rc_depth: int = param(2, "relative clauses nested in the subject at most")
        p_intro: float = param(0.25, "probability of a fronted PP before the subject "
                               "(\"near the doors , the key ...\")")
        train_sampling: str = param("binomial", "training sentences: binomial = each intervening noun of "
                                    "the other number with probability p_attractor (few with many "
                                    "attractors); balanced = as the test split", choices=tuple(TRAIN_SAMPLING))
        p_attractor: float = param(0.5, "train_sampling binomial: probability that an intervening noun "
                                   "takes the other number (lower: fewer attractors to learn from)")
        embedding_dim: int = param(50, "word embedding size for the cells (0 = one-hot inputs)")

    def check(self):
        p, name = self.params, self.name or "agreement"
        positive(name, n_train=p.n_train, n_val=p.n_val, n_test=p.n_test)
        for k, lo, hi in (("max_nouns", 0, MAX_NOUNS), ("max_attractors", 0, p.max_nouns),
                          ("max_rc_depth", 0, p.max_nouns), ("embedding_dim", 0, 2 ** 20)):
            v = getattr(p, k)
            if not lo <= v <= hi:
                raise UsageError(f"task {name!r} parameter {k!r} must be in {lo}..{hi}, got {v}")
        cells = 2 * (p.max_attractors + 1)
        for k in ("n_val", "n_test"):
            if getattr(p, k) < cells:
                raise UsageError(f"task {name!r} parameter {k!r} must be >= {cells} (2 subject numbers x "
                                 f"{p.max_attractors + 1} attractor counts), got {getattr(p, k)}")
        for k in ("p_intro", "p_attractor"):
            if not 0.0 <= getattr(p, k) <= 1.0:
                raise UsageError(f"task {name!r} parameter {k!r} must be in [0, 1], got {getattr(p, k)}")

    # ---- data ------------------------------------------------------------------------------
    @property
    def sentences(self) -> dict[str, list[Sentence]]:
        """The generated sentences of each split (test first; see the module docstring)."""
        if self._sentences is None:
            p, seen, out = self.params, set(), {}
            for name, n, stratified in (("test", p.n_test, True), ("val", p.n_val, True),
                                        ("train", p.n_train, False)):
                out[name] = generate(p, n, rng(self.seed, name), stratified, seen, task=self.name)
                seen = seen | {s.prefix for s in out[name]}
            self._sentences = {k: out[k] for k in ("train", "val", "test")}
        return self._sentences

    def make_splits(self):
        return {name: self.encode(sents) for name, sents in self.sentences.items()}

    def encode(self, sents: list[Sentence]) -> Split:
        x, lengths = _pad([s.prefix for s in sents])
        return Split(x, torch.tensor([s.number for s in sents], dtype=torch.long), lengths)

    @property
    def input_size(self) -> int:
        return VOCAB_SIZE

    @property
    def output_size(self) -> int:
        return 2

    def model_kwargs(self, cfg):
        return {**super().model_kwargs(cfg), "embedding_dim": self.params.embedding_dim or None}

    # ---- metrics ---------------------------------------------------------------------------
    def judge(self, pred: torch.Tensor, split: Split) -> tuple[torch.Tensor, torch.Tensor]:
        """(whether each sentence's number is right [N], its token-id prefix [N, T])."""
        return pred.argmax(-1) == split.y, split.x

    def metrics(self, pred, split):
        correct, prefix = self.judge(pred, split)
        _, _, attractors = analyse(prefix)
        return {**classification(pred, split.y, 2),
                **by_attractors(correct.cpu(), attractors.cpu(), self.params.max_attractors)}

    def baseline(self) -> float:
        return majority_accuracy(self.splits["train"].y, self.splits["test"].y)

    @torch.no_grad()
    def artifacts(self, model, out_dir: Path, device="cpu"):
        split = self.splits["test"].to(device)
        correct, prefix = self.judge(self.predict(model.eval(), split, 1024), split)
        _, nouns, attractors = analyse(prefix)
        atomic_write_text(Path(out_dir) / "by_attractors.csv",
                          cells_csv(correct.cpu(), nouns.cpu(), attractors.cpu(), "test"))


def _pad(seqs: list[tuple[str, ...]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids [N, longest], right-padded with PAD (id 0), and the lengths [N]."""
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    x = np.zeros((len(seqs), int(lengths.max())), dtype=np.int64)
    x[np.arange(x.shape[1])[None, :] < lengths[:, None]] = [ID[w] for s in seqs for w in s]
    return torch.from_numpy(x), torch.from_numpy(lengths)


@register("agreement-lm")
class AgreementLM(Agreement):
    """Subject-verb agreement in a word-level language model: grammatical verb form above the other."""
    title = "Subject-verb agreement (language model)"
    kind = "many_to_many"
    metric = "agreement_accuracy"
    direction = "max"
    solved_threshold = 0.95
    # measured (scripts/measure_agreement.py): an LSTM 50's agreement accuracy stays at chance for
    # ~12 epochs, then rises to ~1.0 within ~3 more; 20 epochs leave room past that jump
    defaults = {**Agreement.defaults, "epochs": 20}

    def encode(self, sents):
        seqs = [(BOS,) + s.words for s in sents]
        ids, lengths = _pad(seqs)
        return Split(ids[:, :-1].contiguous(), ids[:, 1:].contiguous(), lengths - 1)

    @property
    def output_size(self) -> int:
        return VOCAB_SIZE

    def build_model(self, cfg):
        if cfg.bidirectional:
            raise UsageError("task 'agreement-lm' is a left-to-right language model: bidirectional True "
                             "refused (valid: false; a backward direction reads the word it predicts)")
        return super().build_model(cfg)

    def loss(self, pred, batch):
        return F.cross_entropy(pred.reshape(-1, pred.shape[-1]), batch.y.reshape(-1), ignore_index=ID[PAD])

    def judge(self, pred, split):
        """At each sentence's main verb: grammatical form's score > the other form's."""
        y = split.y
        verb = IS_MAIN_VERB.to(y.device)[y].long().argmax(1)             # [N] the verb's position
        rows = torch.arange(len(y), device=y.device)
        right = y[rows, verb]
        wrong = VERB_PARTNER.to(y.device)[right]
        scores = pred[rows, verb]                                        # [N, V]
        correct = scores.gather(1, right[:, None])[:, 0] > scores.gather(1, wrong[:, None])[:, 0]
        before = torch.arange(y.shape[1], device=y.device)[None, :] < verb[:, None]
        return correct, torch.where(before, y, torch.zeros_like(y))

    def metrics(self, pred, split):
        correct, prefix = self.judge(pred, split)
        _, _, attractors = analyse(prefix)
        ce = float(F.cross_entropy(pred.reshape(-1, pred.shape[-1]).float(), split.y.reshape(-1),
                                   ignore_index=ID[PAD]))
        return {"agreement_accuracy": float(correct.float().mean()), "ce": ce, "perplexity": math.exp(ce),
                **by_attractors(correct.cpu(), attractors.cpu(), self.params.max_attractors)}

    def baseline(self) -> float:
        """The training unigram model's agreement accuracy on the test split (ties wrong)."""
        counts = torch.bincount(self.splits["train"].y.reshape(-1), minlength=VOCAB_SIZE).double()
        test = self.splits["test"]
        unigram = torch.log(counts + 1.0)[None, None, :].expand(len(test), test.y.shape[1], -1)
        return float(self.judge(unigram, test)[0].float().mean())
