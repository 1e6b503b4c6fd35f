"""dc_sbm: seeded, homophilous as asked, heavy-tailed, separable, contract-abiding."""

from __future__ import annotations

import pytest
import torch
from sklearn.linear_model import LogisticRegression
from torch_geometric.utils import degree, to_undirected

from graphlearn.data.synthetic import dc_sbm


@pytest.fixture(scope="module")
def graph():
    return dc_sbm(5000, seed=3)


def edge_homophily(data) -> float:
    src, dst = data.edge_index
    return float((data.y[src] == data.y[dst]).float().mean())


def test_contract(graph, assert_contract):
    assert_contract(graph)
    assert graph.name == "dc_sbm" and graph.num_classes == 5
    assert graph.x.shape == (5000, 64) and graph.theta.shape == (5000,)
    # the hand-written symmetrisation gives exactly what PyG's would
    assert torch.equal(to_undirected(graph.edge_index, num_nodes=5000), graph.edge_index)


def test_same_seed_same_graph(graph):
    again = dc_sbm(5000, seed=3)
    for key in ("x", "y", "edge_index", "train_mask", "val_mask", "test_mask", "theta"):
        assert torch.equal(graph[key], again[key]), key
    other = dc_sbm(5000, seed=4)
    assert not torch.equal(graph.edge_index, other.edge_index)
    assert not torch.equal(graph.x, other.x)


@pytest.mark.parametrize("homophily", [0.1, 0.5, 0.9])
def test_homophily_as_requested(homophily):
    data = dc_sbm(3000, num_classes=4, homophily=homophily, num_features=8, seed=1)
    assert edge_homophily(data) == pytest.approx(homophily, abs=0.03)


def test_average_degree_and_heavy_tail(graph):
    deg = degree(graph.edge_index[0], graph.num_nodes)
    assert float(deg.mean()) == pytest.approx(10, rel=0.1)
    assert float(deg.max()) > 10 * float(deg.mean())
    # degrees follow the planted propensities
    assert float(torch.corrcoef(torch.stack([deg, graph.theta]))[0, 1]) > 0.9
    flatter = degree(dc_sbm(5000, power_law_exponent=6, seed=3).edge_index[0], 5000)
    assert float(flatter.max()) < float(deg.max()) / 3


def test_classes_balanced_and_split_stratified(graph):
    counts = torch.bincount(graph.y, minlength=5)
    assert counts.tolist() == [1000] * 5
    for c in range(5):
        assert int((graph.train_mask & (graph.y == c)).sum()) == 600
        assert int((graph.val_mask & (graph.y == c)).sum()) == 200
        assert int((graph.test_mask & (graph.y == c)).sum()) == 200


def test_features_separable(graph):
    train, test = graph.train_mask, graph.test_mask
    clf = LogisticRegression(max_iter=300).fit(graph.x[train].numpy(), graph.y[train].numpy())
    acc = clf.score(graph.x[test].numpy(), graph.y[test].numpy())
    assert acc > 0.2 + 0.25  # chance is 0.2
    noisy = dc_sbm(5000, feature_noise=4.0, seed=3)
    clf = LogisticRegression(max_iter=300).fit(noisy.x[train].numpy(), noisy.y[train].numpy())
    assert clf.score(noisy.x[test].numpy(), noisy.y[test].numpy()) < acc


def test_no_edges(assert_contract):
    data = dc_sbm(50, avg_degree=0)
    assert_contract(data)
    assert data.edge_index.shape == (2, 0)


@pytest.mark.parametrize(
    "kwargs, text",
    [
        ({"num_classes": 1}, "num_classes must be >= 2; got 1"),
        ({"num_nodes": 3}, r"num_nodes must be >= num_classes \(5\); got 3"),
        ({"homophily": 1.5}, r"homophily must be in \[0, 1\]; got 1.5"),
        ({"power_law_exponent": 1.0}, "power_law_exponent must be > 1; got 1.0"),
        ({"avg_degree": -1}, "avg_degree must be >= 0; got -1"),
        ({"num_features": 0}, "num_features must be >= 1; got 0"),
        ({"feature_noise": -0.5}, "feature_noise must be >= 0; got -0.5"),
    ],
)
def test_bad_arguments(kwargs, text):
    args = {"num_nodes": 100, **kwargs}
    with pytest.raises(ValueError, match=text):
        dc_sbm(**args)
