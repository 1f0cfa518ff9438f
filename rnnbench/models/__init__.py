"""Recurrent models: the cells (`cells.py`), their stacks and backends (`recurrent.py`), and
the sequence models built on them (`heads.py`).

    m = build("lstm", input_size, hidden_size, backend="cell", bidirectional=True, layers=2)
    output, (h_n, c_n) = m(x, lengths=lengths)
"""
from .cells import CELLS, CellSpec, cell_names
from .recurrent import BACKENDS, backends_for, build

__all__ = ["BACKENDS", "CELLS", "CellSpec", "backends_for", "build", "cell_names"]
