"""Recurrent models: the cells (`cells.py`; minGRU / minLSTM in `minrnn.py`), their stacks and
backends (`recurrent.py`), and the sequence models built on them (`heads.py`); beside them, the
sequence models that are not cells (`zoo.py`: tcn, transformer, window-mlp; `ARCHS` = both).

    m = build("lstm", input_size, hidden_size, backend="cell", bidirectional=True, layers=2)
    output, (h_n, c_n) = m(x, lengths=lengths)
"""
from .cells import CELLS, CellSpec, cell_names, register_cell
from .recurrent import BACKENDS, backends_for, build
from . import minrnn  # noqa: F401,E402  (registers mingru, minlstm into CELLS and their scans into FAST)
from .zoo import ARCHS, MODELS, ModelSpec  # noqa: E402  (tcn, transformer, window-mlp)

__all__ = ["ARCHS", "BACKENDS", "CELLS", "CellSpec", "MODELS", "ModelSpec", "backends_for", "build", "cell_names",
           "register_cell"]
