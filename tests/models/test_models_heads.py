"""SequenceModel heads, inputs and generation."""
import pytest
import torch

from rnnbench.errors import UsageError
from rnnbench.models.heads import SequenceModel, generate

B, T, F, H, O = 3, 6, 2, 5, 4
LENGTHS = torch.tensor([6, 2, 4])


@pytest.mark.parametrize("backend", ["fused", "cell"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_last_head_reads_the_final_states(backend, bidirectional):
    torch.manual_seed(0)
    kw = dict(backend=backend, bidirectional=bidirectional, layers=2)
    last = SequenceModel("gru", F, H, O, head="last", **kw)
    every = SequenceModel("gru", F, H, O, head="every", **kw)
    every.load_state_dict(last.state_dict())
    x = torch.randn(B, T, F)
    y, h_n = last(x, lengths=LENGTHS)
    assert y.shape == (B, O) and h_n.shape == (4 if bidirectional else 2, B, H)
    assert every(x, lengths=LENGTHS)[0].shape == (B, T, O)
    out, _ = last.rnn(x, lengths=LENGTHS)                      # top layer's outputs [B, T, H*dirs]
    fwd = out[torch.arange(B), LENGTHS - 1, :H]                # forward state at the last valid step
    top = torch.cat([fwd, out[:, 0, H:]], 1) if bidirectional else fwd   # backward state at step 0
    assert torch.allclose(y, last.head(top), atol=1e-6)


def test_token_inputs_embedding_and_one_hot():
    torch.manual_seed(0)
    ids = torch.randint(0, 7, (B, T))
    emb = SequenceModel("lstm", 999, H, O, head="every", vocab_size=7, embedding_dim=3, backend="cell")
    assert emb.rnn.weight_ih_l0.shape == (4 * H, 3) and emb(ids)[0].shape == (B, T, O)
    hot = SequenceModel("lstm", 999, H, O, vocab_size=7)
    assert hot.rnn.weight_ih_l0.shape == (4 * H, 7) and hot(ids)[0].shape == (B, O)
    assert hot.n_params == 4 * H * (7 + H) + 8 * H + O * H + O


@pytest.mark.parametrize("arch", ["lstm", "jordan"])
def test_generate_equals_teacher_forcing_on_its_own_outputs(arch):
    torch.manual_seed(0)
    model = SequenceModel(arch, F, H, F, head="every", backend="cell")
    prime = torch.randn(B, T, F)
    gen = generate(model, prime, 4, lambda y: 2 * y)
    assert gen.shape == (B, 4, F)
    full, _ = model(torch.cat([prime, 2 * gen[:, :-1]], 1))
    assert torch.allclose(gen, full[:, T - 1:], atol=1e-6)


def test_generate_tokens():
    torch.manual_seed(0)
    model = SequenceModel("gru", 0, H, 7, head="every", vocab_size=7, embedding_dim=3)
    gen = generate(model, torch.randint(0, 7, (B, T)), 5, lambda y: y.argmax(-1))
    assert gen.shape == (B, 5, 7)


def test_bad_heads_and_arguments():
    with pytest.raises(UsageError, match=r"unknown head 'first' \(valid: every, last\)"):
        SequenceModel("gru", F, H, O, head="first")
    with pytest.raises(UsageError, match="embedding_dim needs vocab_size"):
        SequenceModel("gru", F, H, O, embedding_dim=3)
    with pytest.raises(UsageError, match="unknown cell 'gruu'"):
        SequenceModel("gruu", F, H, O)
    with pytest.raises(UsageError, match="generate needs head 'every'"):
        generate(SequenceModel("gru", F, H, O), torch.randn(B, T, F), 3, lambda y: y)
    with pytest.raises(UsageError, match="steps must be a positive integer, got 0"):
        generate(SequenceModel("gru", F, H, F, head="every"), torch.randn(B, T, F), 0, lambda y: y)
