"""``run_protocol(num_neighbors=...)``: a graph model (GraphSAGE) trains on subgraphs PyG's ``NeighborLoader`` samples
around each step's seed nodes (issue 13). The sampling backend (torch-sparse or pyg-lib) is an optional extra
(``make sampling``): the tests that train need it and are skipped without it; the checks run everywhere."""

from __future__ import annotations

import pytest
import torch
import torch_geometric.typing as pyg_typing

from graphlearn.data import dc_sbm
from graphlearn.evaluation import run_protocol
from graphlearn.models import build_model

HAS_SAMPLER = pyg_typing.WITH_PYG_LIB or pyg_typing.WITH_TORCH_SPARSE
needs_sampler = pytest.mark.skipif(not HAS_SAMPLER, reason="no PyG sampling backend (make sampling)")


def _data():
    return dc_sbm(400, num_features=16, seed=5)


def _sage(data, dropout=0.5, input_dropout=0.5):
    return build_model("sage", data.num_features, 32, data.num_classes, dropout=dropout, input_dropout=input_dropout)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_neighbors": [10], "batch_size": 64}, r"num_neighbors has 1 hops but GraphSAGE has 2 layers"),
        ({"num_neighbors": [10, 0], "batch_size": 64}, r"each > 0 or -1 \(got \[10, 0\]\)"),
        ({"num_neighbors": "10,10", "batch_size": 64}, r"a list of neighbours per hop"),
        ({"num_neighbors": [10, 10]}, r"num_neighbors needs batch_size > 0.*batch_size=0"),
    ],
)
def test_bad_sampling_settings_are_refused(kwargs, message):
    data = _data()
    with pytest.raises(ValueError, match=message):
        run_protocol(_sage(data), data, runs=1, epochs=1, progress=False, **kwargs)


def test_sampling_a_row_independent_model_is_refused():
    data = _data()
    mlp = build_model("mlp", data.num_features, 32, data.num_classes)
    with pytest.raises(ValueError, match="num_neighbors samples neighbourhoods for graph models; MLP"):
        run_protocol(mlp, data, runs=1, epochs=1, progress=False, num_neighbors=[5, 5], batch_size=64)


def test_a_missing_sampling_backend_says_how_to_get_one(monkeypatch):
    monkeypatch.setattr(pyg_typing, "WITH_PYG_LIB", False)
    monkeypatch.setattr(pyg_typing, "WITH_TORCH_SPARSE", False)
    data = _data()
    with pytest.raises(ValueError, match=r"pyg-lib or torch-sparse.*make sampling"):
        run_protocol(_sage(data), data, runs=1, epochs=1, progress=False, num_neighbors=[5, 5], batch_size=64)


@needs_sampler
def test_sampled_sage_trains_on_subgraphs_and_learns():
    data = _data()
    model = _sage(data)
    seen: list[int] = []
    model.register_forward_hook(lambda m, i, o: seen.append(o.size(0)) if m.training else None)
    torch.manual_seed(0)
    res = run_protocol(model, data, runs=1, epochs=8, progress=False, num_neighbors=[3, 3], batch_size=40)
    n_train = int(data.train_mask.sum())
    steps = -(-n_train // 40)
    assert len(seen) == 8 * steps  # a pass of steps per epoch, whatever full_batch_rows says
    assert max(seen) < data.num_nodes  # each step on a sampled subgraph, never the whole graph
    assert res.per_run[0]["overall"] > 100.0 / data.num_classes + 10  # it learns
    again = run_protocol(_sage(data), data, runs=1, epochs=8, progress=False, num_neighbors=[3, 3], batch_size=40)
    assert again.per_run == res.per_run and again.curves == res.curves  # seeded: reruns are identical


@needs_sampler
def test_sampling_every_neighbour_of_every_training_node_is_the_full_batch_loss():
    """With ``num_neighbors=[-1, -1]`` and one step holding every training node, a 2-layer SAGE without dropout sees
    each training node's whole 2-hop neighbourhood: the loss, and so the training, is the full-batch one."""
    data = _data()
    n_train = int(data.train_mask.sum())
    kw = dict(runs=1, epochs=6, progress=False, keep_models=True)
    sampled = run_protocol(_sage(data, 0.0, 0.0), data, num_neighbors=[-1, -1], batch_size=n_train, **kw)
    full = run_protocol(_sage(data, 0.0, 0.0), data, **kw)
    losses = [[e["loss"] for e in c] for c in (sampled.curves[0], full.curves[0])]
    assert losses[0] == pytest.approx(losses[1], rel=1e-4)
    for a, b in zip(sampled.models[0].values(), full.models[0].values()):
        assert torch.allclose(a, b, atol=1e-4)
