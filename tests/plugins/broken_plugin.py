"""Cells with deliberate faults, for the tests of `rnnbench check-cell`.

gru-misfused  the original GRU's step (reset gate before W_hn, as gru-cho) declared as
              torch.nn.GRU's fused twin: the fused backend computes something else.
rnn-untapped  an Elman step that does not pass its new state through `tap`: the reference
              loop's dL/dh_t (return_states, gradients.py) would all be zero.
"""
import torch
import torch.nn.functional as F

from rnnbench.models import CELLS, register_cell


def rnn_untapped_step(gx, state, p, tap):
    """h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)"""
    (h,) = state
    return (torch.tanh(gx + F.linear(h, p["weight_hh"], p["bias_hh"])),)


register_cell("gru-misfused", CELLS.get("gru-cho").step, title="GRU (reset before W_hn) as a fused GRU",
              states=("h",), n_gates=3, fused="GRU", citation="a deliberate fault")
register_cell("rnn-untapped", rnn_untapped_step, title="Elman RNN without tap", states=("h",),
              n_gates=1, fused=None, citation="a deliberate fault")
