"""Fixtures shared by the whole test suite.

* ``shared_data``: path of the staged real datasets (``<checkout>/../shared/data``); the test is skipped when absent.
  Tests marked ``@pytest.mark.needs_data`` are skipped the same way.
* ``tiny_graph``: a fresh 10-node ``Data`` obeying the graph contract of ``docs/design.md``.
* ``assert_contract``: a function checking a ``Data`` against that contract.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.utils import to_undirected

from graphlearn import sparse

# Tiny full-batch graphs gain nothing from intra-op threads, and on a shared 2-core machine OpenMP spinning made
# a Cora epoch 15x slower (measured: 20 GCN epochs 17.6 s with 2 threads under load vs 1.2 s with 1).
torch.set_num_threads(1)

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def pytest_collection_modifyitems(config, items):
    if SHARED_DATA.is_dir():
        return
    skip = pytest.mark.skip(reason=f"needs the staged datasets in {SHARED_DATA}")
    for item in items:
        if "needs_data" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only staged datasets (see ``shared/data/MANIFEST.md``); skips the test when they are absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"needs the staged datasets in {SHARED_DATA}")
    return SHARED_DATA


def make_tiny_graph() -> Data:
    """10 nodes, 3 classes, 4 features; node 9 is isolated (in the test set), node 8 is unlabelled (in no mask).

    Edges (undirected): 0-1 0-2 1-2 2-3 3-4 4-5 5-6 6-7 7-8 0-5 1-6.
    """
    pairs = torch.tensor([[0, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1], [1, 2, 2, 3, 4, 5, 6, 7, 8, 5, 6]])
    x = torch.arange(40, dtype=torch.float32).view(10, 4) / 8 - 2
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, -1, 2])
    train_mask = torch.zeros(10, dtype=torch.bool)
    train_mask[[0, 1, 2, 3, 4]] = True
    val_mask = torch.zeros(10, dtype=torch.bool)
    val_mask[[5, 6]] = True
    test_mask = torch.zeros(10, dtype=torch.bool)
    test_mask[[7, 9]] = True
    data = Data(
        x=x,
        edge_index=to_undirected(pairs, num_nodes=10),
        y=y,
        train_mask=train_mask,
        val_mask=val_mask,
        test_mask=test_mask,
    )
    data.name, data.num_classes = "tiny", 3
    return data


@pytest.fixture
def tiny_graph() -> Data:
    """A fresh contract graph (see :func:`make_tiny_graph`); each test gets its own copy."""
    return make_tiny_graph()


def check_contract(data: Data) -> None:
    """Assert that ``data`` follows the graph contract of ``docs/design.md``."""
    n = data.num_nodes
    assert data.x.dtype == torch.float32 and data.x.dim() == 2 and data.x.size(0) == n
    assert sparse.all_finite(data.x)  # dense, or CSR for a large bag of words
    assert data.y.dtype == torch.int64 and data.y.shape == (n,)
    assert bool((data.y >= -1).all())
    ei = data.edge_index
    assert ei.dtype == torch.int64 and ei.dim() == 2 and ei.size(0) == 2
    if ei.numel():
        assert int(ei.min()) >= 0 and int(ei.max()) < n
    assert not bool((ei[0] == ei[1]).any()), "self-loops"
    key = ei[0] * n + ei[1]
    assert bool((key[1:] > key[:-1]).all()), "not coalesced (sorted by (row, col), no duplicates)"
    assert torch.equal(torch.sort(ei[1] * n + ei[0]).values, key), "not undirected (some reverse edge missing)"
    masks = [data.train_mask, data.val_mask, data.test_mask]
    for mask in masks:
        assert mask.dtype == torch.bool and mask.shape == (n,)
    assert not bool((masks[0] & masks[1]).any() | (masks[0] & masks[2]).any() | (masks[1] & masks[2]).any())
    assert isinstance(data.name, str) and data.name
    assert isinstance(data.num_classes, int) and data.num_classes > int(data.y.max())


@pytest.fixture
def assert_contract():
    """``assert_contract(data)`` fails the test when ``data`` breaks the graph contract."""
    return check_contract
