"""Fixtures for the evaluation tests: a small random graph and a scripted model."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.utils import barabasi_albert_graph, to_undirected


def make_graph(n: int = 60, seed: int = 0) -> Data:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    # Features correlated with the label so models learn something.
    x = torch.randn(n, 8, generator=g) + torch.nn.functional.one_hot(y, 8).float() * 2
    torch.manual_seed(seed)
    ei = to_undirected(barabasi_albert_graph(n, 2), num_nodes=n)
    perm = torch.randperm(n, generator=g)
    masks = [torch.zeros(n, dtype=torch.bool) for _ in range(3)]
    masks[0][perm[:20]] = True
    masks[1][perm[20:35]] = True
    masks[2][perm[35:]] = True
    return Data(x=x, y=y, edge_index=ei, train_mask=masks[0], val_mask=masks[1], test_mask=masks[2])


@pytest.fixture
def graph() -> Data:
    return make_graph()


class ScriptedModel(torch.nn.Module):
    """Predicts, at evaluation after epoch ``e`` (1-based), the labels in
    ``script[e - 1]``; one parameter keeps the optimiser and loss working."""

    def __init__(self, script):
        super().__init__()
        self.script = script
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.epoch = 0
        self.resets = 0

    def reset_parameters(self):
        self.epoch = 0
        self.resets += 1
        torch.nn.init.zeros_(self.w)

    def forward(self, x, edge_index):
        if self.training:
            self.epoch += 1
        pred = self.script[min(self.epoch, len(self.script)) - 1]
        logits = torch.nn.functional.one_hot(pred, 3).float() * 10
        return logits + self.w * 0


@pytest.fixture
def scripted():
    return ScriptedModel


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """One intra-op thread: these graphs are tiny, and on a busy 2-core machine
    OpenMP's second thread makes every op ~50x slower. Restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
