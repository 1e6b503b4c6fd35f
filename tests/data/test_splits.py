"""Splits and degree-group protocols (graphlearn.data.splits)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.utils import barabasi_albert_graph, to_undirected

from graphlearn.data import splits
from graphlearn.data.splits import (
    GROUPS,
    ColdStartSplit,
    InductiveSplit,
    degree_groups,
    group_masks,
    load_split,
    load_split_info,
    node_degree,
    save_split,
    stratified_split,
)


def make_graph(n: int = 200, natural_isolated: int = 4, seed: int = 0) -> Data:
    """Barabási-Albert graph (many degree ties) plus naturally isolated nodes at the end."""
    torch.manual_seed(seed)
    m = n - natural_isolated
    ei = to_undirected(barabasi_albert_graph(m, 2), num_nodes=n)
    y = torch.randint(0, 3, (n,))
    perm = torch.randperm(n)
    masks = {k: torch.zeros(n, dtype=torch.bool) for k in ("train", "val", "test")}
    masks["train"][perm[:80]] = True
    masks["val"][perm[80:120]] = True
    masks["test"][perm[120:]] = True
    return Data(
        x=torch.randn(n, 5),
        edge_index=ei,
        y=y,
        train_mask=masks["train"],
        val_mask=masks["val"],
        test_mask=masks["test"],
    )


def snapshot(data: Data) -> dict:
    return {k: v.clone() for k, v in data.items() if isinstance(v, torch.Tensor)}


def assert_unchanged(data: Data, snap: dict) -> None:
    assert set(k for k, v in data.items() if isinstance(v, torch.Tensor)) == set(snap)
    for k, v in snap.items():
        assert torch.equal(getattr(data, k), v), k


# ------------------------------------------------------------------ cold start
def test_coldstart_group_sizes_and_disjoint():
    data = make_graph()
    out = ColdStartSplit(head=0.1, tail=0.1, isolated=0.1, seed=0)(data)
    assert int(out.isolated_mask.sum()) == 20
    assert int(out.tail_mask.sum()) == 20
    assert int(out.head_mask.sum()) == 20
    assert not (out.head_mask & out.tail_mask).any()
    assert not (out.head_mask & out.isolated_mask).any()
    assert not (out.tail_mask & out.isolated_mask).any()
    assert torch.equal(out.degree, node_degree(data.edge_index, data.num_nodes))


def test_coldstart_isolated_lose_edges_and_labels():
    data = make_graph()
    out = ColdStartSplit(seed=0)(data)
    iso = out.isolated_mask
    ei = out.edge_index
    assert not (iso[ei[0]] | iso[ei[1]]).any()
    # Only edges touching isolated nodes were removed.
    expected = data.edge_index[:, ~(iso[data.edge_index[0]] | iso[data.edge_index[1]])]
    assert torch.equal(ei, expected)
    assert not (out.train_mask & iso).any() and not (out.val_mask & iso).any()
    assert torch.equal(out.train_mask, data.train_mask & ~iso)
    assert torch.equal(out.test_mask, data.test_mask)
    # Tail nodes keep at least one edge in the graph used for training.
    assert (node_degree(ei, data.num_nodes)[out.tail_mask] > 0).all()


def test_coldstart_does_not_mutate_input():
    data = make_graph()
    snap = snapshot(data)
    ColdStartSplit(seed=3)(data)
    assert_unchanged(data, snap)
    assert not hasattr(data, "split_info") or data.split_info is None


def test_coldstart_seeded():
    data = make_graph()
    a, b = ColdStartSplit(seed=1)(data), ColdStartSplit(seed=1)(data)
    c = ColdStartSplit(seed=2)(data)
    for key in ("head_mask", "tail_mask", "isolated_mask"):
        assert torch.equal(getattr(a, key), getattr(b, key))
    assert any(not torch.equal(getattr(a, k), getattr(c, k)) for k in ("tail_mask", "isolated_mask"))


def test_coldstart_degree_order_of_groups():
    data = make_graph()
    out = ColdStartSplit(seed=0)(data)
    deg = out.degree
    assert deg[out.head_mask].min() >= deg[out.tail_mask].max()
    assert deg[out.tail_mask].min() >= deg[out.isolated_mask].max()
    th = out.split_info["thresholds"]
    assert th["isolated"]["max_degree"] == int(deg[out.isolated_mask].max())
    assert th["head"]["min_degree"] == int(deg[out.head_mask].min())
    assert th["tail"]["count"] == 20


def test_coldstart_natural_zero_degree_first():
    data = make_graph(natural_isolated=4)
    natural = node_degree(data.edge_index, data.num_nodes) == 0
    assert int(natural.sum()) == 4
    out = ColdStartSplit(seed=0)(data)
    assert out.isolated_mask[natural].all()
    # More natural zero-degree nodes than the quota: all of them are isolated.
    many = make_graph(n=200, natural_isolated=30)
    out = ColdStartSplit(isolated=0.1, seed=0)(many)
    assert int(out.isolated_mask.sum()) == 30
    assert out.split_info["natural_zero_degree"] == 30


def test_coldstart_orphans_are_not_tail():
    # Star: centre 0 with leaves 1..4, and a path 5-6-7-8-9. Isolating the
    # leaves orphans nothing; isolating node 0 would orphan all leaves.
    pairs = torch.tensor([[0, 0, 0, 0, 5, 6, 7, 8], [1, 2, 3, 4, 6, 7, 8, 9]])
    n = 10
    data = Data(
        x=torch.randn(n, 2),
        edge_index=to_undirected(pairs, num_nodes=n),
        y=torch.zeros(n, dtype=torch.long),
        train_mask=torch.ones(n, dtype=torch.bool),
        val_mask=torch.zeros(n, dtype=torch.bool),
        test_mask=torch.zeros(n, dtype=torch.bool),
    )
    # Every leaf has degree 1: with isolated=0.1 one leaf is isolated, never the
    # centre, so no orphan; with 0.4 four degree-1 nodes go (leaves / path ends).
    out = ColdStartSplit(head=0.1, tail=0.2, isolated=0.4, seed=0)(data)
    deg_after = node_degree(out.edge_index, n)
    orphan = (deg_after == 0) & ~out.isolated_mask
    assert out.split_info["orphaned"] == int(orphan.sum())
    assert not (out.tail_mask & orphan).any()
    assert (deg_after[out.tail_mask] > 0).all()


def test_coldstart_rejects_bad_arguments():
    with pytest.raises(ValueError, match="isolated"):
        ColdStartSplit(isolated=1.5)
    with pytest.raises(ValueError, match="<= 1"):
        ColdStartSplit(head=0.5, tail=0.4, isolated=0.3)
    data = make_graph()
    data.edge_index = data.edge_index[:, data.edge_index[0] < data.edge_index[1]]
    with pytest.raises(ValueError, match="undirected"):
        ColdStartSplit()(data)


def test_degree_groups_keeps_edges():
    data = make_graph(natural_isolated=4)
    out = degree_groups(data, head=0.1, tail=0.1, seed=0)
    assert torch.equal(out.edge_index, data.edge_index)
    assert torch.equal(out.isolated_mask, out.degree == 0)
    assert int(out.tail_mask.sum()) == 20 and int(out.head_mask.sum()) == 20
    assert (out.degree[out.tail_mask] > 0).all()
    assert out.degree[out.head_mask].min() >= out.degree[out.tail_mask].max()
    assert torch.equal(out.train_mask, data.train_mask)


def test_group_masks_restricted_to_test():
    data = make_graph()
    out = ColdStartSplit(seed=0)(data)
    masks = group_masks(out)
    assert list(masks) == [g for g in GROUPS if g in masks]
    assert torch.equal(masks["overall"], out.test_mask)
    for g in ("head", "tail", "isolated"):
        assert torch.equal(masks[g], out.test_mask & getattr(out, f"{g}_mask"))
    assert list(group_masks(data)) == ["overall"]
    # A group with no test node is left out.
    out.head_mask = out.head_mask & ~out.test_mask
    assert "head" not in group_masks(out)


# ------------------------------------------------------------------ inductive
def test_inductive_split():
    data = make_graph()
    out = InductiveSplit(ratio=0.2, seed=0)(data)
    n_test = int(data.test_mask.sum())
    ind = out.test_ind_mask
    assert int(ind.sum()) == int(n_test * 0.2)
    assert not (ind & ~data.test_mask).any()
    assert torch.equal(out.test_tran_mask | ind, data.test_mask)
    assert not (out.test_tran_mask & ind).any()
    assert torch.equal(out.full_edge_index, data.edge_index)
    ei = out.edge_index
    assert not (ind[ei[0]] | ind[ei[1]]).any()
    touching = ind[data.edge_index[0]] | ind[data.edge_index[1]]
    assert ei.size(1) == int((~touching).sum())
    for key in ("train_mask", "val_mask", "test_mask", "x", "y"):
        assert torch.equal(getattr(out, key), getattr(data, key))


def test_inductive_seeded_and_non_mutating():
    data = make_graph()
    snap = snapshot(data)
    a, b = InductiveSplit(seed=0)(data), InductiveSplit(seed=0)(data)
    c = InductiveSplit(seed=1)(data)
    assert_unchanged(data, snap)
    assert torch.equal(a.test_ind_mask, b.test_ind_mask)
    assert not torch.equal(a.test_ind_mask, c.test_ind_mask)
    assert set(group_masks(a)) >= {"overall", "tran", "ind"}


# ------------------------------------------------------------------ stratified
def test_stratified_split(tiny_graph):
    data = make_graph(n=300)
    data.y[:10] = -1
    out = stratified_split(data, train=0.6, val=0.2, seed=0)
    tr, va, te = out.train_mask, out.val_mask, out.test_mask
    assert not (tr & va).any() and not (tr & te).any() and not (va & te).any()
    labelled = data.y >= 0
    assert torch.equal(tr | va | te, labelled)
    for c in range(3):
        n_c = int((data.y == c).sum())
        assert int((tr & (data.y == c)).sum()) == round(0.6 * n_c)
        assert int((va & (data.y == c)).sum()) == round(0.2 * n_c)
    again = stratified_split(data, seed=0)
    other = stratified_split(data, seed=1)
    assert torch.equal(again.train_mask, tr) and not torch.equal(other.train_mask, tr)
    small = stratified_split(tiny_graph, seed=0)  # classes of 3 nodes, one unlabelled
    assert not (small.train_mask | small.val_mask | small.test_mask)[8]
    assert int(small.train_mask.sum()) == 6
    with pytest.raises(ValueError, match="train \\+ val"):
        stratified_split(data, train=0.8, val=0.2)


# ------------------------------------------------------------------ save / load
def test_save_load_round_trip(tmp_path):
    out = ColdStartSplit(seed=0)(make_graph())
    npz, side = save_split(out, tmp_path / "split.npz")
    assert npz.is_file() and side == tmp_path / "split.json"
    loaded = load_split(npz)
    for key in ("train_mask", "val_mask", "test_mask", "head_mask", "tail_mask", "isolated_mask", "degree"):
        assert torch.equal(loaded[key], getattr(out, key)), key
        assert loaded[key].dtype == getattr(out, key).dtype
    meta = load_split_info(npz)
    assert meta["info"]["thresholds"] == out.split_info["thresholds"]
    assert meta["info"]["split"] == "coldstart" and meta["info"]["seed"] == 0
    assert json.loads(side.read_text())["num_nodes"] == out.num_nodes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["split.json", "split.npz"]


def test_save_is_atomic(tmp_path, monkeypatch):
    out = ColdStartSplit(seed=0)(make_graph())
    path = tmp_path / "split.npz"
    save_split(out, path)
    before = path.read_bytes()

    def broken(f, **arrays):
        f.write(b"half-written")
        raise OSError("disk full")

    monkeypatch.setattr(splits.np, "savez", broken)
    with pytest.raises(OSError, match="disk full"):
        save_split(ColdStartSplit(seed=5)(make_graph()), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["split.json", "split.npz"]


def test_load_split_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.npz"):
        load_split(tmp_path / "nowhere.npz")
    out = ColdStartSplit(seed=0)(make_graph())
    npz, side = save_split(out, tmp_path / "s.npz")
    meta = json.loads(side.read_text())
    meta["keys"].append("ghost_mask")
    side.write_text(json.dumps(meta))
    with pytest.raises(KeyError, match="ghost_mask"):
        load_split(npz)
    side.unlink()
    with pytest.raises(FileNotFoundError, match="s.json"):
        load_split(npz)


# ------------------------------------------------------------------ real Cora
@pytest.mark.needs_data
def test_coldstart_on_cora(shared_data, tmp_path):
    from torch_geometric.datasets import Planetoid

    raw = shared_data / "planetoid" / "Cora" / "raw"
    if not raw.is_dir():
        pytest.skip(f"{raw} absent")
    shutil.copytree(raw, tmp_path / "Cora" / "raw")
    data = Planetoid(str(tmp_path), "Cora")[0]
    out = ColdStartSplit(seed=0)(data)
    n = data.num_nodes  # 2708 -> 271 per group
    for key in ("head_mask", "tail_mask", "isolated_mask"):
        assert int(getattr(out, key).sum()) == round(0.1 * n)
    assert out.split_info["thresholds"]["isolated"]["max_degree"] == 1
    assert not (out.isolated_mask[out.edge_index[0]]).any()
    assert np.isclose(out.edge_index.size(1) / data.edge_index.size(1), 0.95, atol=0.05)
