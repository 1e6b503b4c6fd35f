"""The retrieval head's feature views (values, word presence, presence weighted by idf) and their choice on
validation (graphlearn.methods.coldbrew.retrieval)."""

from __future__ import annotations

import math

import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.utils import to_undirected

from graphlearn.data.splits import ColdStartSplit
from graphlearn.methods.coldbrew import ColdBrewConfig, run_coldbrew
from graphlearn.methods.coldbrew.retrieval import FEATURE_VIEWS, RetrievalHead, idf_weights, presence

FAST = dict(models=("GNN", "GNN+SE", "ColdBrew"), epochs=20, patience=10, k=8)


def _bag(n: int = 40, d: int = 30, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 4, (n, d), generator=gen).float() * (torch.rand(n, d, generator=gen) < 0.2)
    x[:, 0] = 1.0  # a word in every row
    x[0, 1:] = 0.0
    x[0, 5] = 3.0  # column 5: in row 0 at least
    return x


def test_presence_and_idf_dense_equal_csr():
    x = _bag()
    p = presence(x)
    assert set(p.unique().tolist()) <= {0.0, 1.0} and torch.equal(p != 0, x != 0)
    torch.testing.assert_close(presence(x.to_sparse_csr()).to_dense(), p, rtol=0, atol=0)
    w = idf_weights(x)
    torch.testing.assert_close(idf_weights(x.to_sparse_csr()), w, rtol=0, atol=0)
    n, df = x.size(0), (x != 0).sum(0).float()
    assert w[0] == pytest.approx(1.0)  # in every row: log(1) + 1
    torch.testing.assert_close(w, torch.log((1 + n) / (1 + df)) + 1)


@pytest.mark.parametrize("view", FEATURE_VIEWS)
def test_head_views_dense_equal_csr(view):
    x = _bag()
    head = RetrievalHead(x.size(1), 6)
    head.set_view(view, x)
    assert head.feature_view == view
    dense, csr = head.features(x), head.features(x.to_sparse_csr()).to_dense()
    torch.testing.assert_close(csr, dense, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(dense.norm(dim=-1), torch.ones(x.size(0)))
    if view == "values":
        torch.testing.assert_close(dense, torch.nn.functional.normalize(x, dim=-1))
    else:  # presence: which words, not how often; idf: a word in every row counts least
        assert torch.equal(dense != 0, x != 0)
        row = dense[0]
        assert (row[5] > row[0]) == (view == "presence-idf") and (view != "presence" or row[5] == row[0])


def test_head_saved_before_views_loads_as_values():
    x = _bag()
    head = RetrievalHead(x.size(1), 6)
    head.set_view("presence-idf", x)
    state = {k: v for k, v in head.state_dict().items() if k not in ("view", "column_weight")}
    old = RetrievalHead(x.size(1), 6)
    old.set_view("presence", x)
    old.load_state_dict(state)
    assert old.feature_view == "values" and torch.equal(old.column_weight, torch.ones(x.size(1)))


def stopword_graph(pairs: int = 150, seed: int = 0) -> Data:
    """Nodes in linked pairs that share 3 rare words (count 1 each), every node also carrying a frequent word with
    a large random count: cosine of the values is dominated by the frequent word, word presence weighted by idf
    finds the partner."""
    gen = torch.Generator().manual_seed(seed)
    n, d = 2 * pairs, 3 * pairs + 1
    x = torch.zeros(n, d)
    x[:, 0] = torch.randint(5, 30, (n,), generator=gen).float()
    for p in range(pairs):
        x[2 * p : 2 * p + 2, 1 + 3 * p : 4 + 3 * p] = 1.0
    edges = torch.stack([torch.arange(0, n, 2), torch.arange(1, n, 2)])
    # a few edges between pairs of the same class, so that the graph is not only pairs
    y = (torch.arange(n) // 2) % 3
    extra = torch.stack([torch.arange(0, n - 6, 6), torch.arange(6, n, 6)])
    split = torch.rand(n, generator=gen)
    return Data(
        x=x,
        y=y,
        edge_index=to_undirected(torch.cat([edges, extra], 1)),
        train_mask=split < 0.5,
        val_mask=(split >= 0.5) & (split < 0.75),
        test_mask=split >= 0.75,
        num_nodes=n,
    )


@pytest.fixture(scope="module")
def stopword_runs():
    split = ColdStartSplit(seed=0)(stopword_graph())
    cfg = dict(FAST, retrieval_dim=16, retrieval_batch=128, retrieval_steps=20)
    auto = run_coldbrew(split, ColdBrewConfig(**cfg), seed=0)
    forced = run_coldbrew(split, ColdBrewConfig(**cfg, retrieval_features="values"), seed=0)
    return auto, forced


def test_auto_picks_the_view_that_retrieves_validation_neighbours_best(stopword_runs):
    auto, forced = stopword_runs
    info = auto["retrieval"]
    views = info["views"]
    assert set(views) == set(FEATURE_VIEWS)
    best = max(FEATURE_VIEWS, key=lambda v: views[v]["val_recall"] + views[v]["val_precision"])
    assert info["features"] == best == "presence-idf"
    assert views["presence-idf"]["val_recall"] > views["values"]["val_recall"] + 5
    assert auto["trained"]["ColdBrew"].retrieval.feature_view == "presence-idf"
    # forced: no choice made, the given view kept, and the head retrieves worse on validation than auto's
    assert forced["retrieval"]["features"] == "values" and list(forced["retrieval"]["views"]) == ["values"]
    assert math.isnan(forced["retrieval"]["views"]["values"]["val_recall"])
    assert forced["trained"]["ColdBrew"].retrieval.feature_view == "values"
    assert info["val_recall"] > forced["retrieval"]["val_recall"]
    # the student's class numbers do not depend on the head
    for name in FAST["models"]:
        assert torch.equal(auto["models"][name]["pred"], forced["models"][name]["pred"])


def test_unknown_view_names_the_value(stopword_runs):
    with pytest.raises(ValueError, match="tfidf"):
        ColdBrewConfig(**FAST, retrieval_dim=16, retrieval_features="tfidf")
    auto, _ = stopword_runs
    student = auto["trained"]["ColdBrew"]
    split = ColdStartSplit(seed=0)(stopword_graph())
    with pytest.raises(ValueError, match="unknown retrieval feature view 'tfidf'"):
        student.fit_retrieval(
            split.x, split.y, split.edge_index, train_mask=split.train_mask, val_mask=split.val_mask, features="tfidf"
        )
    with pytest.raises(ValueError, match="'bm25'"):
        RetrievalHead(4, 3).set_view("bm25")
