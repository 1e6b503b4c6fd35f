"""Baseline models (graphlearn.models)."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.nn import GCNConv
from torch_geometric.utils import to_undirected

from graphlearn.models import DEFAULT_HPARAMS, GAT, MODELS, build_model, default_hparams, propagate, split_hparams
from graphlearn.models.mlp import feature_dropout

N, F_IN, C = 12, 6, 3


@pytest.fixture
def graph() -> Data:
    torch.manual_seed(0)
    pairs = torch.tensor([[0, 1, 2, 3, 4, 5, 6, 7, 8, 0], [1, 2, 3, 4, 5, 6, 7, 8, 9, 5]])
    return Data(
        x=torch.randn(N, F_IN), edge_index=to_undirected(pairs, num_nodes=N), y=torch.randint(0, C, (N,))
    )  # nodes 10, 11 have no edge


def make(name: str, **kw):
    return build_model(name, F_IN, 8, C, **kw)


def inputs(model, x, edge_index):
    pre = getattr(model, "preprocess", None)
    return pre(x, edge_index) if pre else x


@pytest.mark.parametrize("name", sorted(MODELS))
def test_forward_and_embed_shapes(name, graph):
    model = make(name).eval()
    x = inputs(model, graph.x, graph.edge_index)
    out = model(x, graph.edge_index)
    assert out.shape == (N, C) and torch.isfinite(out).all()
    emb = model.embed(x, graph.edge_index)
    assert emb.dim() == 2 and emb.size(0) == N


@pytest.mark.parametrize("name", sorted(MODELS))
def test_no_edges(name, graph):
    """A graph with no edge at all (every node isolated) must work."""
    empty = torch.empty(2, 0, dtype=torch.long)
    model = make(name)
    x = inputs(model, graph.x, empty)
    for mode in (model.train, model.eval):
        mode()
        out = model(x, empty)
        assert out.shape == (N, C) and torch.isfinite(out).all()
    out.sum().backward()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_reset_parameters_changes_weights(name):
    model = make(name)
    before = [p.detach().clone() for p in model.parameters()]
    assert before, "model has no parameters"
    torch.manual_seed(123)
    model.reset_parameters()
    after = list(model.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, after) if a.numel() > 1)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_fits_tiny_graph(name, graph):
    torch.manual_seed(0)
    model = make(name, dropout=0.0)
    x = inputs(model, graph.x, graph.edge_index)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x, graph.edge_index), graph.y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


def test_repr():
    assert repr(build_model("gcn", 1433, 64, 7)) == "GCN(1433, 64, 7, layers=2)"
    assert repr(build_model("mlp", 10, 32, 2, num_layers=3)) == "MLP(10, 32, 2, layers=3)"
    assert repr(build_model("sage", 10, 32, 2)) == "GraphSAGE(10, 32, 2, layers=2)"
    assert repr(build_model("gat", 10, 64, 2)) == "GAT(10, 64, 2, layers=2, heads=8)"
    assert repr(build_model("sign", 10, 32, 2, K=3)) == "SIGN(10, 32, 2, layers=2, K=3)"
    assert repr(build_model("sgc", 10, 0, 2)) == "SGC(10, 2, K=2)"


def test_unknown_model_lists_choices():
    with pytest.raises(ValueError, match="unknown model 'gin'.*gcn"):
        build_model("gin", 4, 8, 2)
    with pytest.raises(ValueError, match="choose one of"):
        default_hparams("nope")


def test_build_model_is_case_insensitive():
    assert isinstance(build_model("GAT", 4, 16, 2), GAT)


def test_gat_heads():
    model = build_model("gat", F_IN, 64, C)
    assert model.heads == 8
    first, last = model.convs
    assert first.heads == 8 and first.out_channels == 8  # 8 heads x 8 features
    assert build_model("gat", F_IN, 64, C, out_heads=1).convs[-1].heads == 1
    with pytest.raises(ValueError, match="multiple of 'heads'"):
        build_model("gat", F_IN, 10, C, heads=8)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="num_layers"):
        build_model("gcn", 4, 8, 2, num_layers=0)
    with pytest.raises(ValueError, match="dropout"):
        build_model("mlp", 4, 8, 2, dropout=1.0)
    with pytest.raises(ValueError, match="K"):
        build_model("sign", 4, 8, 2, K=-1)


def test_default_hparams_build_every_model(graph):
    assert set(DEFAULT_HPARAMS) == set(MODELS)
    for name in MODELS:
        hp = default_hparams(name)
        model_kw, train_kw = split_hparams(hp)
        assert {"lr", "weight_decay", "epochs"} <= set(train_kw)
        model = build_model(name, F_IN, out_channels=C, **model_kw)
        x = inputs(model, graph.x, graph.edge_index)
        assert model(x, graph.edge_index).shape == (N, C)
    hp = default_hparams("gcn")
    hp["lr"] = 1.0
    assert DEFAULT_HPARAMS["gcn"]["lr"] == 0.01  # a copy


def test_propagate_matches_gcn_conv(graph):
    hops = propagate(graph.x, graph.edge_index, K=2)
    conv = GCNConv(F_IN, F_IN, bias=False)
    conv.lin.weight.data = torch.eye(F_IN)
    one = conv(graph.x, graph.edge_index)
    assert torch.allclose(hops[1], one, atol=1e-5)
    assert torch.allclose(hops[2], conv(one, graph.edge_index), atol=1e-5)
    # Nodes without edges keep their features (self-loops).
    assert torch.allclose(hops[2][10], graph.x[10])


def test_sign_preprocess_and_sgc(graph):
    sign = build_model("sign", F_IN, 8, C, K=2)
    feats = sign.preprocess(graph.x, graph.edge_index)
    assert feats.shape == (N, 3 * F_IN)
    assert torch.equal(feats[:, :F_IN], graph.x)
    with pytest.raises(ValueError, match="preprocess"):
        sign(graph.x, graph.edge_index)  # raw features refused
    sgc = build_model("sgc", F_IN, 0, C, K=2)
    assert sgc.preprocess(graph.x, graph.edge_index).shape == (N, F_IN)
    assert sum(p.numel() for p in sgc.parameters()) == F_IN * C + C  # linear


def test_feature_dropout_keeps_zeros_and_scale():
    torch.manual_seed(0)
    x = (torch.rand(500, 300) < 0.02).float()
    out = feature_dropout(x, 0.5, training=True)
    assert not out[x == 0].any()
    kept = out[x != 0]
    assert set(kept.unique().tolist()) <= {0.0, 2.0}
    assert abs(float((kept != 0).float().mean()) - 0.5) < 0.05
    assert feature_dropout(x, 0.5, training=False) is x
    dense = torch.randn(400, 300)
    assert (feature_dropout(dense, 0.5, True) == 0).float().mean().item() == pytest.approx(0.5, abs=0.02)


def test_forward_leaves_no_state(graph):
    model = make("gcn").eval()
    a = model(graph.x, graph.edge_index)
    model(graph.x, torch.empty(2, 0, dtype=torch.long))
    assert torch.equal(a, model(graph.x, graph.edge_index))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_class_has_its_own_docstring(name):
    # a statement above the docstring (it once was `supports_sparse_input = True`) makes __doc__ None
    doc = vars(MODELS[name]).get("__doc__")
    assert isinstance(doc, str) and doc.strip(), f"{MODELS[name].__name__} has no docstring"


def test_feature_dropout_on_dense_input_builds_no_index_and_equals_the_library_dropout():
    from graphlearn import sparse
    from graphlearn.models import mlp as mlp_module

    x = torch.rand(300, 300) + 0.1  # dense: every entry non-zero, above the 2^16-element threshold
    torch.manual_seed(5)
    got = mlp_module.feature_dropout(x, 0.5, training=True)
    assert mlp_module._NZ_CACHE["nz"] is None  # decided by count_nonzero; no [nnz] index tensors kept
    torch.manual_seed(5)
    assert torch.equal(got, sparse.dropout(x, 0.5, training=True))
    sparse_ish = torch.zeros(300, 300)
    sparse_ish[::7, ::5] = 1.0
    out = mlp_module.feature_dropout(sparse_ish, 0.5, training=True)
    assert mlp_module._NZ_CACHE["nz"] is not None and bool((out[sparse_ish == 0] == 0).all())
    assert set(out[sparse_ish == 1].unique().tolist()) <= {0.0, 2.0}
