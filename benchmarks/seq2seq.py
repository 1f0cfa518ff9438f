"""Encoder-decoders on the addition task: decoding a batch (greedy, beam 4), one training step.

    Decode      time_decode            greedy_decode / beam_search of one batch (untrained model,
                                       seeded: every row runs to the target width or its </s>)
    TrainStep   time_train_step        zero_grad, teacher-forced loss, backward, clip, Adam step
                peakmem_train_step
    DecodeCuda, TrainStepCuda          the same on CUDA, synchronised; skipped without CUDA

Models and data come from the training runner's own helpers (rnnbench.train: the resolved
config, `prepare`, `make_optimizer`, `clip_grad_norm`) and the task's `train_loss`, so what
is timed is what `rnnbench train --task addition` runs per step.
"""
from __future__ import annotations

from rnnbench import throughput as tp

from .common import Benchmark, pin_threads, require_device

# The addition lab's settings (hidden 128, batch 128) on a smaller problem set: generating
# 50 000 problems would dominate setup and changes no shape. tests/test_benchmarks.py
# swaps these for tiny ones.
SETTINGS = {"digits": 3, "n_train": 2000, "hidden": 128, "batch": 128}

ARCHS = ["lstm", "gru"]
BACKENDS = ["fused", "cell"]

_BUILT: dict = {}


def addition(arch: str, backend: str, variant: str, device: str):
    """(cfg, task, model, batch, optimizer) for the addition task, built once per process
    (this asv re-runs `setup` before every sample)."""
    from rnnbench.train import make_optimizer, prepare, resolve, with_task_defaults

    require_device(device)
    pin_threads()
    key = (arch, backend, variant, device, tuple(SETTINGS.items()))
    if key not in _BUILT:
        _BUILT.clear()
        cfg = resolve(with_task_defaults({
            "task": "addition", "arch": arch, "backend": backend, "hidden": SETTINGS["hidden"],
            "device": device, "batch_size": SETTINGS["batch"], "model_params": {"variant": variant},
            "task_params": {"digits": SETTINGS["digits"], "n_train": SETTINGS["n_train"]}}))
        task, model = prepare(cfg)
        batch = task.splits["train"].take(slice(0, SETTINGS["batch"])).to(device)
        _BUILT[key] = cfg, task, model, batch, make_optimizer(cfg, model.parameters())
    return _BUILT[key]


class _Decode(Benchmark):
    params = [ARCHS, BACKENDS, ["plain", "attention"], [1, 4]]
    param_names = ["arch", "backend", "variant", "beam"]

    def setup(self, arch, backend, variant, beam):
        from rnnbench.models.seq2seq import decode

        _, _, model, batch, _ = addition(arch, backend, variant, self.device)
        model.eval()
        S = int(batch.lengths.max())
        src, lengths, max_len = batch.x[:, :S], batch.lengths, batch.y.shape[1]
        self.run = lambda: decode(model, src, lengths, max_len, beam)

    def time_decode(self, *params):
        """Greedy (beam 1) or beam-4 decoding of one batch of addition problems."""
        self.run()
        tp.sync(self.device)


class Decode(_Decode):
    """Seconds to decode one batch (greedy and beam 4)."""


class DecodeCuda(_Decode):
    """Decode on CUDA, synchronised; skipped without CUDA."""
    device = "cuda"


class _TrainStep(Benchmark):
    params = [ARCHS, BACKENDS, ["plain", "peeking", "attention"]]
    param_names = ["arch", "backend", "variant"]

    def setup(self, arch, backend, variant):
        from rnnbench.train import clip_grad_norm

        cfg, task, model, batch, opt = addition(arch, backend, variant, self.device)
        model.train()

        def step():
            opt.zero_grad(set_to_none=True)
            task.train_loss(model, batch, 0).backward()
            clip_grad_norm(model.parameters(), cfg.clip)
            opt.step()
        self.step = step

    def time_train_step(self, *params):
        """One optimizer step on one batch (teacher forcing 1: one decoder call)."""
        self.step()
        tp.sync(self.device)


class TrainStep(_TrainStep):
    """Seconds per training step of the addition encoder-decoder."""

    def peakmem_train_step(self, *params):
        """Peak resident memory of the process through one training step."""
        self.step()


class TrainStepCuda(_TrainStep):
    """TrainStep on CUDA, synchronised; skipped without CUDA."""
    device = "cuda"
