"""The sequence models that are not cells (issue 18: tcn, transformer, window-mlp), at the
kernel grid's shapes, beside the cells of kernels.py (minGRU / minLSTM are cells: they are in
that grid). One direction, one layer (tcn: the fewest levels whose receptive field covers T,
kernel 7); `hidden` is the model's width (channels, d_model, units). The timed module is the
features module alone (no head), as kernels.py times a recurrent stack alone.

    SequenceModels    time_forward, time_forward_backward   (gate on these)
    SequenceModelsCuda  the same on CUDA, synchronised; skipped without CUDA

Their FLOPs (`rnnbench.models.zoo.flops`) and step-samples/s: `rnnbench throughput --arch tcn
transformer window-mlp lstm`, the same code.
"""
from __future__ import annotations

from .common import SHAPES
from .kernels import _Kernel

MODELS = ["tcn", "transformer", "window-mlp"]     # spelled out, as common.ARCHS (asv's keys)


class SequenceModels(_Kernel):
    """Seconds per pass of one sequence model's features over a [N, T, I] batch (the kernel
    benchmark's setup and timers, one direction, one layer, the cell backend)."""
    params = [MODELS, list(SHAPES)]
    param_names = ["arch", "shape"]

    def setup(self, arch, shape):
        super().setup(arch, "cell", "uni", 1, shape)


class SequenceModelsCuda(SequenceModels):
    """SequenceModels on CUDA (synchronised before each clock stop); skipped without CUDA."""
    device = "cuda"
