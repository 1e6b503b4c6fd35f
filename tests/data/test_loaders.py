"""Real-data loaders on the staged datasets: MANIFEST statistics, the graph contract, splits, read-only roots."""

from __future__ import annotations

import shutil

import pytest
import torch
from torch_geometric.datasets import Planetoid
from torch_geometric.utils import coalesce

from graphlearn.data import DatasetNotFoundError, load_dataset

from . import copy_read_only, make_writable, snapshot

pytestmark = pytest.mark.needs_data

# name: (nodes, undirected edges without self-loops, features, classes), from shared/data/MANIFEST.md
MANIFEST = {
    "cora": (2708, 5278, 1433, 7),
    "citeseer": (3327, 4552, 3703, 6),
    "amazon-photo": (7650, 238162 // 2, 745, 8),
    "coauthor-cs": (18333, 163788 // 2, 6805, 15),
    "chameleon": (2277, 31371, 2325, 5),
    "squirrel": (5201, 198353, 2089, 5),
    "actor": (7600, 26659, 932, 5),
    "texas": (183, 279, 1703, 5),
    "wisconsin": (251, 450, 1703, 5),
    "cornell": (183, 277, 1703, 5),
}


@pytest.fixture(scope="module")
def loaded(shared_data):
    """Each dataset loaded once for the module (split 0, seed 0)."""
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = load_dataset(name, shared_data)
        return cache[name]

    return get


@pytest.mark.parametrize("name", list(MANIFEST))
def test_manifest_statistics_and_contract(loaded, name, assert_contract):
    data = loaded(name)
    nodes, edges, features, classes = MANIFEST[name]
    assert data.num_nodes == nodes
    assert data.edge_index.size(1) == 2 * edges
    assert data.x.shape == (nodes, features)
    assert data.num_classes == classes
    assert data.name == name
    assert_contract(data)


def test_cora_public_split(loaded):
    data = loaded("cora")
    assert data.edge_index.size(1) == 10556
    assert (int(data.train_mask.sum()), int(data.val_mask.sum()), int(data.test_mask.sum())) == (140, 500, 1000)
    assert torch.bincount(data.y[data.train_mask]).tolist() == [20] * 7
    assert int(data.x.count_nonzero()) == 49216


def test_citeseer_unlabelled_padding_nodes(loaded):
    data = loaded("citeseer")
    assert (int(data.train_mask.sum()), int(data.val_mask.sum()), int(data.test_mask.sum())) == (120, 500, 1000)
    unlabelled = data.y == -1
    assert int(unlabelled.sum()) == 15
    assert not bool((unlabelled & (data.train_mask | data.val_mask | data.test_mask)).any())
    assert int(data.x[unlabelled].abs().sum()) == 0  # PyG pads them with zero features


def test_planetoid_matches_pyg(shared_data, tmp_path, loaded):
    # Our loader is PyG's Planetoid plus the contract: same graph as PyG on a writable copy.
    shutil.copytree(shared_data / "planetoid" / "Cora", tmp_path / "Cora")
    make_writable(tmp_path)
    ref = Planetoid(str(tmp_path), "Cora")[0]
    data = loaded("cora")
    assert torch.equal(ref.x, data.x) and torch.equal(ref.y, data.y)
    assert torch.equal(coalesce(ref.edge_index, num_nodes=2708), data.edge_index)  # PyG's order is column-major
    assert torch.equal(ref.test_mask, data.test_mask)


@pytest.mark.parametrize("name", ["chameleon", "texas"])
def test_yandex_split_index_selects_masks(shared_data, name):
    s0 = load_dataset(name, shared_data, split=0)
    s3 = load_dataset(name, shared_data, split=3)
    assert not torch.equal(s0.train_mask, s3.train_mask)
    assert torch.equal(s0.edge_index, s3.edge_index) and torch.equal(s0.x, s3.x)
    assert torch.equal(load_dataset(name, shared_data, split=3).test_mask, s3.test_mask)


def test_cornell_is_not_geom_gcn_texas_copy(loaded):
    # Geom-GCN's Cornell features/labels are byte-identical to Texas'; the Yandex Cornell used here is not.
    cornell, texas = loaded("cornell"), loaded("texas")
    assert not torch.equal(cornell.x, texas.x)
    assert torch.bincount(cornell.y).tolist() == [38, 16, 30, 82, 17]


def test_graphgallery_seeded_stratified_split(shared_data, loaded):
    a = loaded("amazon-photo")
    b = load_dataset("amazon-photo", shared_data, seed=0)
    c = load_dataset("amazon-photo", shared_data, seed=1)
    for key in ("train_mask", "val_mask", "test_mask"):
        assert torch.equal(a[key], b[key])
    assert not torch.equal(a.train_mask, c.train_mask)
    assert torch.equal(a.edge_index, c.edge_index)
    assert bool((a.train_mask | a.val_mask | a.test_mask).all())
    frac = torch.bincount(a.y[a.train_mask], minlength=8) / torch.bincount(a.y, minlength=8)
    assert torch.allclose(frac, torch.full_like(frac, 0.6), atol=0.01)


def test_shared_root_is_never_written(shared_data, loaded):
    before = snapshot(shared_data / "planetoid")
    loaded("cora")
    load_dataset("citeseer", shared_data)
    assert snapshot(shared_data / "planetoid") == before
    assert not (shared_data / "planetoid" / "Cora" / "processed").exists()


def test_read_only_root_uses_cache(shared_data, tmp_path, data_cache, loaded):
    root = tmp_path / "root"
    root.mkdir()
    copy_read_only(shared_data / "planetoid", root / "planetoid")
    before = snapshot(root)
    try:
        data = load_dataset("cora", root)
        data_again = load_dataset("cora", root)  # second run reads the cached processed file
    finally:
        after = snapshot(root)
        make_writable(root)
    assert after == before
    assert list(data_cache.glob("mirrors/*/Cora/processed/data.pt"))
    ref = loaded("cora")
    assert torch.equal(data.x, ref.x) and torch.equal(data.edge_index, ref.edge_index)
    assert torch.equal(data_again.y, ref.y)


def test_writable_root_processes_in_place(shared_data, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(shared_data / "planetoid" / "Cora", root / "planetoid" / "Cora")
    make_writable(root)  # the copy keeps the staged files' read-only modes
    data = load_dataset("cora", root)
    assert (root / "planetoid" / "Cora" / "processed" / "data.pt").exists()
    assert data.num_nodes == 2708


def test_planetoid_failed_download(tmp_path, monkeypatch):
    def offline(self):
        raise OSError("network is unreachable")

    monkeypatch.setattr(Planetoid, "download", offline)
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(DatasetNotFoundError) as exc:
        load_dataset("cora", root)
    msg = str(exc.value)
    assert str(root / "planetoid" / "Cora" / "raw" / "ind.cora.x") in msg and "network is unreachable" in msg
    assert list(root.iterdir()) == []  # the half-made planetoid/ folder was removed
    with pytest.raises(DatasetNotFoundError):
        load_dataset("citeseer", tmp_path / "absent")
    assert not (tmp_path / "absent").exists()


def test_graphgallery_npz_refuses_a_planted_pickle_payload(tmp_path):
    import pickle
    from pathlib import Path

    import numpy as np

    from graphlearn.data.npz import load_graphgallery_npz

    marker = tmp_path / "payload-ran"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    path = tmp_path / "evil.npz"
    np.savez(path, adj_matrix=np.array(Payload(), dtype=object), node_attr=np.zeros(3), node_label=np.zeros(3))
    with pytest.raises(pickle.UnpicklingError, match=r"evil.npz \[adj_matrix\]: refusing to unpickle pathlib"):
        load_graphgallery_npz(path)
    assert not marker.exists()
