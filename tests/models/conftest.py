import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """The models' tests use tiny tensors: threads only add synchronisation (and, on a busy
    machine, waiting for a core)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
