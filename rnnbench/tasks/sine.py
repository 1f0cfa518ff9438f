"""Sine waves (lecture 000): next-step prediction, many-to-many.

Each sequence is s_t = sin(2 pi f t dt + phi) + noise with f ~ U[f_min, f_max],
phi ~ U[0, 2 pi). Input x_t = s_t, target y_t = s_{t+1} at every step; the loss and
metric are the MSE over all steps. The baseline is persistence (y_t = s_t).

After training, the model generates free-running: primed with `seq_len` true
values of a test wave, it feeds its own prediction back for `generate_steps`
steps; `generation.csv` (sample, t, target, generated) is written for plotting.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .base import Split, Task, param, positive, register, rng
from ..errors import UsageError
from ..io import atomic_write_text
from ..models.heads import generate


@register("sine")
class Sine(Task):
    """Sine waves: predict the next value of a noisy sine from its past."""
    title = "Sine wave prediction"
    citation = "lecture 000 (RNN basics); cf. Elman 1990"
    family = "synthetic"
    length_param = "seq_len"
    kind = "many_to_many"
    metric = "mse"
    direction = "min"
    defaults = {"epochs": 10, "batch_size": 64, "hidden": 32}

    @dataclass
    class Params:
        seq_len: int = param(50, "steps per training window")
        f_min: float = param(0.5, "lowest frequency (cycles per unit time)")
        f_max: float = param(2.0, "highest frequency")
        dt: float = param(0.05, "time step")
        noise: float = param(0.0, "std of Gaussian noise added to the inputs")
        n_train: int = param(4000, "training windows")
        n_val: int = param(500, "validation windows")
        n_test: int = param(500, "test windows")
        generate_steps: int = param(100, "free-running steps generated after training")
        n_generate: int = param(4, "test waves generated free-running")

    def check(self):
        p = self.params
        positive(self.name, seq_len=p.seq_len, dt=p.dt, n_train=p.n_train, n_val=p.n_val,
                 n_test=p.n_test, f_min=p.f_min, generate_steps=p.generate_steps, n_generate=p.n_generate)
        if p.f_max < p.f_min or p.noise < 0:
            raise UsageError(f"task 'sine' needs 0 < f_min <= f_max and noise >= 0, "
                             f"got f_min={p.f_min}, f_max={p.f_max}, noise={p.noise}")

    @property
    def output_size(self) -> int:
        return 1

    def _waves(self, n: int, length: int, g: np.random.Generator) -> np.ndarray:
        p = self.params
        f = g.uniform(p.f_min, p.f_max, (n, 1))
        phi = g.uniform(0, 2 * math.pi, (n, 1))
        t = np.arange(length)[None, :] * p.dt
        return np.sin(2 * math.pi * f * t + phi).astype(np.float32)

    def make_splits(self):
        p = self.params
        out = {}
        for name, n in (("train", p.n_train), ("val", p.n_val), ("test", p.n_test)):
            g = rng(self.seed, name)
            s = self._waves(n, p.seq_len + 1, g)
            x = s[:, :-1] + (p.noise * g.standard_normal((n, p.seq_len)).astype(np.float32) if p.noise else 0)
            out[name] = Split(torch.from_numpy(np.ascontiguousarray(x)).unsqueeze(-1),
                              torch.from_numpy(np.ascontiguousarray(s[:, 1:])).unsqueeze(-1))
        return out

    def metrics(self, pred, split):
        return {"mse": float(torch.mean((pred - split.y) ** 2))}

    def baseline(self) -> float:
        test = self.splits["test"]
        return float(torch.mean((test.x - test.y) ** 2))

    @torch.no_grad()
    def artifacts(self, model, out_dir: Path, device="cpu"):
        p = self.params
        waves = self._waves(p.n_generate, p.seq_len + p.generate_steps, rng(self.seed, "test", salt=1))
        prime = torch.from_numpy(waves[:, :p.seq_len]).unsqueeze(-1).to(device)
        gen = generate(model, prime, p.generate_steps, lambda y: y).squeeze(-1).cpu().numpy()
        rows = [["sample", "t", "target", "generated"]]
        for i in range(p.n_generate):
            for t in range(p.seq_len + p.generate_steps):
                g = "" if t < p.seq_len else f"{gen[i, t - p.seq_len]:.6g}"
                rows.append([i, t, f"{waves[i, t]:.6g}", g])
        text = "\n".join(",".join(map(str, r)) for r in rows) + "\n"
        atomic_write_text(Path(out_dir) / "generation.csv", text)
