"""One propagation operator: SIGN/SGC's ``propagate`` and GIANT's ``propagated_features`` are
``graphlearn.sparse.propagation_matrix`` products, equal to the formulas they used to compute on their own."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from torch_geometric.nn.conv.gcn_conv import gcn_norm

from graphlearn import sparse
from graphlearn.methods.giant import propagated_features
from graphlearn.methods.giant.label_tree import adjacency
from graphlearn.models import propagate

N = 14


@pytest.fixture
def graph():
    g = torch.Generator().manual_seed(3)
    edge_index = torch.randint(0, 11, (2, 40), generator=g)  # directed, duplicates and self-loops; 11-13 isolated
    x = torch.randn(N, 5, generator=g)
    return x, edge_index


def _old_sign_propagate(x, edge_index, K, add_self_loops):
    """graphlearn.models.sign.propagate before it used propagation_matrix."""
    n = x.size(0)
    ei, w = gcn_norm(edge_index, None, n, add_self_loops=add_self_loops, dtype=x.dtype)
    adj = torch.sparse_coo_tensor(ei.flip(0), w, (n, n), check_invariants=True).coalesce()
    out = [x]
    for _ in range(K):
        out.append(torch.sparse.mm(adj, out[-1]))
    return out


def _old_propagated_features(x, edge_index, hops):
    """graphlearn.methods.giant.propagated_features before it used propagation_matrix (scipy)."""
    n = x.shape[0]
    a = adjacency(edge_index, n) + sp.identity(n, dtype=np.float32, format="csr")
    d = np.asarray(a.sum(1)).ravel() ** -0.5
    s = sp.diags(d) @ a @ sp.diags(d)
    out = x.numpy().astype(np.float32)
    for _ in range(hops):
        out = s @ out
    return torch.from_numpy(np.asarray(out, dtype=np.float32))


@pytest.mark.parametrize("add_self_loops", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sign_propagate_equals_the_old_formula(graph, add_self_loops, dtype):
    x, edge_index = graph
    x = x.to(dtype)
    new, old = propagate(x, edge_index, 3, add_self_loops), _old_sign_propagate(x, edge_index, 3, add_self_loops)
    assert len(new) == 4 and all(h.dtype == dtype for h in new)
    for a, b in zip(new, old):
        assert torch.allclose(a, b, rtol=1e-6, atol=1e-7)
        assert torch.equal(a, b)  # multiplied as COO, like before: bit-identical
    isolated = new[3][11:]
    assert torch.equal(isolated, x[11:]) if add_self_loops else torch.equal(isolated, torch.zeros_like(isolated))


def test_giant_propagated_features_equal_the_old_formula(graph):
    x, edge_index = graph
    for hops in (0, 1, 2):
        new = propagated_features(x, edge_index, hops)
        assert new.dtype == torch.float32 and new.shape == x.shape
        torch.testing.assert_close(new, _old_propagated_features(x, edge_index, hops), rtol=1e-6, atol=1e-6)
    out = propagated_features(x, edge_index, 0)
    out += 1
    assert not torch.equal(out, x)  # a copy, as before, not x itself
    with pytest.raises(ValueError, match="node id 20"):
        propagated_features(x, torch.tensor([[0], [20]]), 1)


def test_propagation_matrix_without_self_loops(graph):
    _, edge_index = graph
    h = torch.randn(N, 3)
    ei, w = gcn_norm(edge_index, None, N, add_self_loops=False)
    want = torch.zeros(N, 3).index_add_(0, ei[1], w[:, None] * h[ei[0]])
    P = sparse.propagation_matrix(edge_index, N, "gcn", add_self_loops=False)
    assert torch.allclose(P @ h, want, atol=1e-6)
    assert torch.equal((P @ h)[11:], torch.zeros(3, 3))
    default = sparse.propagation_matrix(edge_index, N)
    loops = sparse.propagation_matrix(edge_index, N, add_self_loops=True)
    assert torch.equal(default.to_dense(), loops.to_dense()) and not torch.equal(default.to_dense(), P.to_dense())
    assert torch.equal(
        sparse.propagation_matrix(edge_index, N, "mean", add_self_loops=False).to_dense(),
        sparse.propagation_matrix(edge_index, N, "mean").to_dense(),
    )
    with pytest.raises(ValueError, match="norm='gcn' only"):
        sparse.propagation_matrix(edge_index, N, "sum", add_self_loops=True)
