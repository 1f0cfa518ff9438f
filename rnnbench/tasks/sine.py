"""Sine waves (lecture 000): next-step prediction (`sine`, many-to-many) and generation from
the wave's frequency and phase (`sine-gen`, one-to-many).

sine

Each sequence is s_t = sin(2 pi f t dt + phi) + noise with f ~ U[f_min, f_max],
phi ~ U[0, 2 pi). Input x_t = s_t, target y_t = s_{t+1} at every step; the loss and
metric are the MSE over all steps. The baseline is persistence (y_t = s_t).

After training, the model generates free-running: primed with `seq_len` true
values of a test wave, it feeds its own prediction back for `generate_steps`
steps; `generation.csv` (sample, t, target, generated) is written for plotting.

sine-gen
A fixed vector in, a sequence out: v = (f, cos phi, sin phi) (the phase as a point on the unit
circle, so that the input is continuous in phi, as the wave is), target y_t = sin(2 pi f t dt +
phi), t = 0 .. seq_len - 1, f and phi drawn as above. The model reads v once, at the first step,
and zeros after (task_params feed: first, Karpathy 2015's one-to-many; feed: every gives v at
every step, Goodfellow et al. 2016, 10.2.4): models/heads.py one_to_many_inputs. Loss and metric:
the MSE over all steps. The baseline predicts the mean wave, which is zero at every step
(E over phi ~ U[0, 2 pi) of sin(2 pi f t dt + phi) = 0 for every f and t): its MSE is the mean
square of the test targets, about 1/2. `generation.csv` (sample, t, frequency, phase, target,
generated) holds the first `n_generate` test waves and the model's.
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
from ..models.heads import FEEDS, generate, one_to_many_inputs


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


@register("sine-gen")
class SineGen(Task):
    """Sine generation: from a wave's frequency and phase, generate the wave (one-to-many)."""
    title = "Sine wave generation from (frequency, phase)"
    citation = ("lecture 000 (RNN usage patterns: one-to-many); Karpathy 2015, The unreasonable "
                "effectiveness of recurrent neural networks")
    family = "synthetic"
    length_param = "seq_len"
    kind = "one_to_many"
    metric = "mse"
    direction = "min"
    defaults = {"epochs": 10, "batch_size": 64, "hidden": 32}     # sine's

    @dataclass
    class Params:
        seq_len: int = param(50, "steps generated (T)")
        f_min: float = param(0.5, "lowest frequency (cycles per unit time)")
        f_max: float = param(2.0, "highest frequency")
        dt: float = param(0.05, "time step")
        feed: str = param("first", "the input vector at the first step only (then zeros), or at every step",
                          choices=FEEDS)
        n_train: int = param(4000, "training waves")
        n_val: int = param(500, "validation waves")
        n_test: int = param(500, "test waves")
        n_generate: int = param(4, "test waves written to generation.csv")

    def check(self):
        p = self.params
        positive(self.name, seq_len=p.seq_len, dt=p.dt, n_train=p.n_train, n_val=p.n_val,
                 n_test=p.n_test, f_min=p.f_min, n_generate=p.n_generate)
        if p.f_max < p.f_min:
            raise UsageError(f"task 'sine-gen' needs 0 < f_min <= f_max, got f_min={p.f_min}, f_max={p.f_max}")

    @property
    def output_size(self) -> int:
        return 1

    def _waves(self, n: int, g: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(f [n], phi [n], s [n, seq_len]) with s_t = sin(2 pi f t dt + phi)."""
        p = self.params
        f = g.uniform(p.f_min, p.f_max, n)
        phi = g.uniform(0, 2 * math.pi, n)
        t = np.arange(p.seq_len)[None, :] * p.dt
        return f, phi, np.sin(2 * math.pi * f[:, None] * t + phi[:, None]).astype(np.float32)

    def make_splits(self):
        p = self.params
        out = {}
        for name, n in (("train", p.n_train), ("val", p.n_val), ("test", p.n_test)):
            f, phi, s = self._waves(n, rng(self.seed, name))
            v = torch.from_numpy(np.stack([f, np.cos(phi), np.sin(phi)], 1).astype(np.float32))
            out[name] = Split(one_to_many_inputs(v, p.seq_len, p.feed), torch.from_numpy(s).unsqueeze(-1))
        return out

    def metrics(self, pred, split):
        return {"mse": float(torch.mean((pred - split.y) ** 2))}

    def baseline(self) -> float:
        """The mean wave, zero at every step: the test targets' mean square."""
        return float(torch.mean(self.splits["test"].y ** 2))

    @torch.no_grad()
    def artifacts(self, model, out_dir: Path, device="cpu"):
        test = self.splits["test"].take(slice(0, self.params.n_generate))
        gen = self.predict(model, test.to(device), self.params.n_generate).squeeze(-1).cpu().numpy()
        v = test.x[:, 0].numpy()                     # (f, cos phi, sin phi): fed at the first step
        rows = [["sample", "t", "frequency", "phase", "target", "generated"]]
        for i in range(len(test)):
            phase = math.atan2(float(v[i, 2]), float(v[i, 1])) % (2 * math.pi)
            for t in range(test.y.shape[1]):
                rows.append([i, t, f"{v[i, 0]:.6g}", f"{phase:.6g}", f"{test.y[i, t, 0]:.6g}", f"{gen[i, t]:.6g}"])
        text = "\n".join(",".join(map(str, r)) for r in rows) + "\n"
        atomic_write_text(Path(out_dir) / "generation.csv", text)
