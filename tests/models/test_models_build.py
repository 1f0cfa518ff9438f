"""build(): attributes, bad input, dropout and residual."""
import pytest
import torch

from rnnbench.errors import UsageError
from rnnbench.models import BACKENDS, backends_for, build

T, B, I, H = 5, 3, 4, 6


@pytest.mark.parametrize("backend", BACKENDS)
def test_attributes(backend):
    m = build("gru", I, H, backend=backend, bidirectional=True, layers=2, batch_first=True)
    assert (m.arch, m.backend, m.hidden_size, m.num_layers, m.bidirectional, m.output_size, m.batch_first) == \
        ("gru", backend, H, 2, True, 2 * H, True)
    out, h_n = m(torch.randn(B, T, I))
    assert out.shape == (B, T, 2 * H) and h_n.shape == (4, B, H)


def test_backends_for():
    assert backends_for("lstm") == ("fused", "cell")
    assert backends_for("jordan") == ("cell",) and backends_for("gru-cho") == ("cell",)


@pytest.mark.parametrize("kwargs, words", [
    ({"arch": "lsmt"}, ["unknown cell 'lsmt'", "gru-cho", "jordan", "lstm"]),
    ({"backend": "cudnn"}, ["unknown backend 'cudnn'", "cell, fused"]),
    ({"arch": "jordan", "backend": "fused"}, ["cell 'jordan' has no fused backend (backends for jordan: cell)"]),
    ({"arch": "gru-cho", "backend": "fused"}, ["cell 'gru-cho' has no fused backend"]),
    ({"hidden_size": 0}, ["hidden_size", "positive integer", "0"]),
    ({"input_size": -3}, ["input_size", "-3"]),
    ({"layers": 1.5}, ["layers", "1.5"]),
    ({"dropout": 1.0}, ["dropout", "[0, 1)", "1.0"]),
    ({"dropout": -0.1}, ["dropout", "-0.1"]),
])
def test_bad_arguments_raise_usage_errors(kwargs, words):
    args = {"arch": "lstm", "input_size": I, "hidden_size": H, **kwargs}
    with pytest.raises(UsageError) as err:
        build(args.pop("arch"), args.pop("input_size"), args.pop("hidden_size"), **args)
    assert all(w in str(err.value) for w in words) and "\n" not in str(err.value)


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_call_arguments_raise_usage_errors(backend):
    m = build("lstm", I, H, backend=backend)
    x = torch.randn(T, B, I)
    with pytest.raises(UsageError, match=r"lengths must be 3 integers in \[1, 5\], got \[5, 0, 2\]"):
        m(x, lengths=torch.tensor([5, 0, 2]))
    with pytest.raises(UsageError, match=r"lengths must be 3 integers in \[1, 5\], got \[6, 1, 2\]"):
        m(x, lengths=[6, 1, 2])
    if backend == "cell":
        with pytest.raises(UsageError, match=r"hx for lstm must be 2 tensor\(s\) of shape \(1, 3, 6\)"):
            m(x, torch.zeros(1, B, H))
    else:
        with pytest.raises(UsageError, match="return_states needs backend 'cell'"):
            m(x, return_states=True)


@pytest.mark.filterwarnings("ignore:dropout option adds dropout")   # torch.nn's, for one layer
@pytest.mark.parametrize("backend", BACKENDS)
def test_dropout_between_layers_in_train_mode_only(backend):
    torch.manual_seed(0)
    m = build("gru", I, H, backend=backend, layers=2, dropout=0.5)
    plain = build("gru", I, H, backend=backend, layers=2)
    plain.load_state_dict(m.state_dict())
    x = torch.randn(T, B, I)
    m.eval()
    assert torch.equal(m(x)[0], plain(x)[0])
    m.train()
    assert not torch.allclose(m(x)[0], plain(x)[0])
    one = build("gru", I, H, backend=backend, dropout=0.5).train()   # one layer: nothing to drop
    assert torch.equal(one(x)[0], one(x)[0])


@pytest.mark.parametrize("arch", ["lstm", "jordan"])
def test_residual_adds_each_upper_layer_input(arch):
    torch.manual_seed(0)
    res = build(arch, I, H, backend="cell", layers=2, residual=True)
    layers = [build(arch, I if k == 0 else H, H, backend="cell") for k in range(2)]
    for k, layer in enumerate(layers):
        layer.load_state_dict({n.replace(f"_l{k}", "_l0"): p for n, p in res.named_parameters() if f"_l{k}" in n})
    x = torch.randn(T, B, I)
    first = layers[0](x)[0]
    assert torch.allclose(res(x)[0], layers[1](first)[0] + first, atol=1e-6)


@pytest.mark.parametrize("backend", ["fused", "cell"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_a_residual_stacks_last_step_head_sees_the_skip_connection(backend, bidirectional):
    """head="last" reads the top layer's output at the last valid step (backward: step 0): equal
    to h_n without residual connections, and with them the skip of the top layer counts (h_n
    alone would make a 2-layer residual stack's prediction identical to a plain one's)."""
    from rnnbench.models.heads import SequenceModel, last_outputs

    x, lengths = torch.randn(4, 7, 3), torch.tensor([7, 5, 3, 6])
    torch.manual_seed(0)
    plain = SequenceModel("lstm", 3, 8, 2, layers=2, bidirectional=bidirectional, backend=backend)
    out, (h_n, _) = plain.rnn(x, None, lengths)
    top = h_n[-(2 if bidirectional else 1):].transpose(0, 1).flatten(1)
    torch.testing.assert_close(last_outputs(out, lengths, bidirectional), top)
    residual = SequenceModel("lstm", 3, 8, 2, layers=2, bidirectional=bidirectional, backend=backend,
                             residual=True)
    residual.load_state_dict(plain.state_dict())
    y_res, _ = residual(x, lengths)
    out_res, _ = residual.rnn(x, None, lengths)
    torch.testing.assert_close(y_res, residual.head(last_outputs(out_res, lengths, bidirectional)))
    assert not torch.allclose(y_res, plain(x, lengths)[0])
