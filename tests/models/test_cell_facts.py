"""The cell registry's facts on the spec: `CellSpec.n_params` is what the backends' modules
hold, for every cell, backend, depth and direction; `CellSpec.flops` is the matmul count that
rnnbench.throughput (and so asv and the report) uses."""
from __future__ import annotations

import pytest

from rnnbench import throughput as tp
from rnnbench.models import CELLS, backends_for, build

SHAPES = [(1, 3, 1, False), (5, 4, 1, True), (3, 6, 2, False), (2, 5, 3, True)]   # input, hidden, layers, bi


@pytest.mark.parametrize("arch", CELLS.names())
@pytest.mark.parametrize("input_size, hidden, layers, bidirectional", SHAPES)
def test_n_params_is_the_modules_count(arch, input_size, hidden, layers, bidirectional):
    spec = CELLS.get(arch)
    for backend in backends_for(arch):
        m = build(arch, input_size, hidden, backend=backend, layers=layers, bidirectional=bidirectional)
        assert spec.n_params(input_size, hidden, layers, bidirectional) == sum(p.numel() for p in m.parameters()), \
            (arch, backend)


def test_n_params_by_hand():
    H, I = 10, 3
    assert CELLS.get("lstm").n_params(I, H) == 4 * H * (I + H) + 8 * H
    assert CELLS.get("gru").n_params(I, H) == 3 * H * (I + H) + 6 * H
    assert CELLS.get("jordan").n_params(I, H) == H * (I + H) + 2 * H + H * H + H
    # a second bidirectional layer reads both directions of the first
    assert CELLS.get("rnn").n_params(I, H, layers=2, bidirectional=True) == \
        2 * (H * (I + H) + 2 * H) + 2 * (H * (2 * H + H) + 2 * H)


@pytest.mark.parametrize("arch", CELLS.names())
def test_flops(arch):
    spec = CELLS.get(arch)
    N, T, I, H = 4, 7, 3, 5
    per_step = 2 * spec.n_gates * H * (I + H * spec.recurrent) + (2 * H * H if arch == "jordan" else 0)
    assert spec.flops(I, H, batch=N, seq_len=T) == per_step * N * T
    assert spec.flops(I, H, batch=N, seq_len=T, backward=True) == 3 * per_step * N * T
    two = spec.flops(I, H, layers=2, bidirectional=True)
    above = 2 * spec.n_gates * H * (2 * H + H * spec.recurrent) + (2 * H * H if arch == "jordan" else 0)
    assert two == 2 * per_step + 2 * above
    case = tp.Case(arch, "cell", True, 2, N, T, I, H)
    assert tp.flops(case, "forward") == spec.flops(I, H, N, T, 2, True)
    assert tp.flops(case, "forward_backward") == spec.flops(I, H, N, T, 2, True, backward=True)
