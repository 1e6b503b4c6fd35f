"""OGB: the on-disk layout converter round-trips through ogb's own classes; the OGB loader never half-builds."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch
from ogb.nodeproppred import Evaluator, PygNodePropPredDataset

import graphlearn.data.ogb as gogb
from graphlearn.data import DatasetNotFoundError, load_dataset, load_ogb_layout, write_ogb_layout

from . import copy_read_only, make_writable, snapshot

KEYS = ("x", "y", "edge_index", "train_mask", "val_mask", "test_mask")


@pytest.fixture(autouse=True)
def no_download(monkeypatch):
    """Any attempt by ogb to download fails the test."""

    def download(self):
        raise AssertionError(f"ogb tried to download {self.name}")

    monkeypatch.setattr(PygNodePropPredDataset, "download", download)


def assert_same_graph(a, b):
    for key in KEYS:
        assert a[key].dtype == b[key].dtype, key
        assert torch.equal(a[key], b[key]), key
    assert a.num_classes == b.num_classes


def assert_ogb_reads_back(data, meta):
    """ogb's class, given meta_dict, returns exactly what was written."""
    dataset = PygNodePropPredDataset(meta["name"], meta_dict=meta)
    g = dataset[0]
    assert torch.equal(g.edge_index, data.edge_index)
    assert g.x.dtype == torch.float32 and torch.equal(g.x, data.x)
    assert torch.equal(g.y.view(-1), data.y)
    split = dataset.get_idx_split()
    for part, key in (("train", "train_mask"), ("valid", "val_mask"), ("test", "test_mask")):
        assert torch.equal(split[part], data[key].nonzero().view(-1))
    assert dataset.num_classes == data.num_classes


def test_tiny_round_trip(tiny_graph, tmp_path, assert_contract):
    meta = write_ogb_layout(tiny_graph, tmp_path, "ogbn-tiny")
    folder = tmp_path / "ogbn_tiny"
    assert meta["dir_path"] == str(folder.absolute())
    assert {p.name for p in folder.iterdir()} == {"raw", "split", "RELEASE_v1.txt", "meta_dict.json"}
    assert_ogb_reads_back(tiny_graph, meta)
    loaded = load_ogb_layout(tmp_path, meta)
    assert_same_graph(loaded, tiny_graph)
    assert loaded.name == "ogbn-tiny"
    assert_contract(loaded)
    assert_same_graph(load_ogb_layout(tmp_path, "ogbn-tiny"), tiny_graph)  # meta read from meta_dict.json


def test_dense_float_features_round_trip_exactly(tiny_graph, tmp_path):
    gen = torch.Generator().manual_seed(0)
    tiny_graph.x = torch.randn(10, 64, generator=gen) * torch.logspace(-30, 30, 64)
    tiny_graph.x[0, :3] = torch.tensor([1.0, 0.0, -0.0])  # integral values must still read back as float
    meta = write_ogb_layout(tiny_graph, tmp_path, "ogbn-dense")
    assert_same_graph(load_ogb_layout(tmp_path, meta), tiny_graph)


def test_layout_is_written_atomically(tiny_graph, tmp_path, monkeypatch):
    write_ogb_layout(tiny_graph, tmp_path, "ogbn-tiny")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_ogb_layout(tiny_graph, tmp_path, "ogbn-tiny")

    real = gogb._write_csv_gz

    def fail_on_labels(path, array):
        if path.name == "node-label.csv.gz":
            raise OSError("disk full")
        real(path, array)

    monkeypatch.setattr(gogb, "_write_csv_gz", fail_on_labels)
    with pytest.raises(OSError, match="disk full"):
        write_ogb_layout(tiny_graph, tmp_path, "ogbn-tiny", overwrite=True)
    with pytest.raises(OSError, match="disk full"):
        write_ogb_layout(tiny_graph, tmp_path, "ogbn-other")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ogbn_tiny"]  # no temporary folder left, old one intact
    monkeypatch.undo()
    tiny_graph.y[0] = 2
    meta = write_ogb_layout(tiny_graph, tmp_path, "ogbn-tiny", overwrite=True)
    assert int(load_ogb_layout(tmp_path, meta).y[0]) == 2


def test_write_checks_arguments(tiny_graph, tmp_path):
    with pytest.raises(ValueError, match="ogbn-"):
        write_ogb_layout(tiny_graph, tmp_path, "tiny")
    del tiny_graph.test_mask
    with pytest.raises(ValueError, match="test_mask"):
        write_ogb_layout(tiny_graph, tmp_path, "ogbn-tiny")
    assert list(tmp_path.iterdir()) == []


def test_evaluator_runs_on_layout(tiny_graph, tmp_path):
    data = load_ogb_layout(tmp_path, write_ogb_layout(tiny_graph, tmp_path, "ogbn-tiny"))
    evaluator = Evaluator("ogbn-arxiv")  # single-task accuracy, the OGB protocol
    y_true = data.y[data.test_mask].view(-1, 1)
    assert evaluator.eval({"y_true": y_true, "y_pred": y_true})["acc"] == 1.0
    assert evaluator.eval({"y_true": y_true, "y_pred": (y_true + 1) % 3})["acc"] == 0.0


@pytest.mark.needs_data
def test_real_cora_round_trip(shared_data, tmp_path):
    cora = load_dataset("cora", shared_data)
    meta = write_ogb_layout(cora, tmp_path)
    assert meta["name"] == "ogbn-cora" and meta["num classes"] == "7"
    assert_ogb_reads_back(cora, meta)
    loaded = load_ogb_layout(tmp_path, meta)
    assert_same_graph(loaded, cora)
    test = loaded.test_mask
    acc = Evaluator("ogbn-arxiv").eval(
        {"y_true": loaded.y[test].view(-1, 1), "y_pred": torch.zeros(int(test.sum()), 1, dtype=torch.long)}
    )["acc"]
    assert acc == pytest.approx(float((cora.y[test] == 0).float().mean()))


# The OGB loader, on a fake ogbn-arxiv folder laid out as ogb's download is ####################################


def fake_arxiv(graph, root: Path) -> Path:
    """``<root>/ogb/ogbn_arxiv`` with every file ogb reads for ogbn-arxiv (split 'time', node_year)."""
    write_ogb_layout(graph, root / "ogb", "ogbn-arxiv", split_name="time")
    folder = root / "ogb" / "ogbn_arxiv"
    with gzip.open(folder / "raw" / "node_year.csv.gz", "wt") as f:
        f.write("".join(f"{2000 + i}\n" for i in range(graph.num_nodes)))
    return folder


def test_ogb_loader(tiny_graph, tmp_path, assert_contract):
    fake_arxiv(tiny_graph, tmp_path)
    data = load_dataset("ogbn-arxiv", tmp_path)
    assert data.name == "ogbn-arxiv" and data.num_classes == 40  # from ogb's master.csv
    for key in KEYS:
        assert torch.equal(data[key], tiny_graph[key]), key
    assert_contract(data)


def test_ogb_loader_symmetrises_directed_edges(tiny_graph, tmp_path):
    directed = tiny_graph.clone()
    directed.edge_index = tiny_graph.edge_index[:, tiny_graph.edge_index[0] < tiny_graph.edge_index[1]]
    fake_arxiv(directed, tmp_path)
    assert torch.equal(load_dataset("ogbn-arxiv", tmp_path).edge_index, tiny_graph.edge_index)


def test_ogb_missing_files_checked_before_ogb(tiny_graph, tmp_path, monkeypatch):
    folder = fake_arxiv(tiny_graph, tmp_path)
    (folder / "raw" / "node_year.csv.gz").unlink()
    before = snapshot(tmp_path)

    def never(*args, **kwargs):
        raise AssertionError("ogb must not be called")

    monkeypatch.setattr(PygNodePropPredDataset, "__init__", never)
    with pytest.raises(DatasetNotFoundError, match="node_year.csv.gz") as exc:
        load_dataset("ogbn-arxiv", tmp_path)
    assert "arxiv.zip" in str(exc.value)
    with pytest.raises(DatasetNotFoundError, match="RELEASE_v1.txt"):
        (folder / "RELEASE_v1.txt").unlink()
        gogb.load_ogb(tmp_path, "ogbn-arxiv")
    before.pop("ogb/ogbn_arxiv/RELEASE_v1.txt")
    before["ogb/ogbn_arxiv"] = snapshot(tmp_path)["ogb/ogbn_arxiv"]  # its mtime changed with the unlink
    assert snapshot(tmp_path) == before


def test_failed_ogb_run_leaves_no_processed_folder(tiny_graph, tmp_path, monkeypatch):
    folder = fake_arxiv(tiny_graph, tmp_path)

    def crash(self):
        (Path(self.processed_dir) / "geometric_data_processed.pt").write_bytes(b"half")
        raise RuntimeError("killed while processing")

    with monkeypatch.context() as mp:
        mp.setattr(PygNodePropPredDataset, "process", crash)
        with pytest.raises(RuntimeError, match="killed"):
            load_dataset("ogbn-arxiv", tmp_path)
    assert not (folder / "processed").exists()
    assert load_dataset("ogbn-arxiv", tmp_path).num_nodes == 10  # the next run works


def test_read_only_ogb_folder_uses_cache(tiny_graph, tmp_path, data_cache):
    src = fake_arxiv(tiny_graph, tmp_path / "staging")
    root = tmp_path / "root"
    (root / "ogb").mkdir(parents=True)
    copy_read_only(src, root / "ogb" / "ogbn_arxiv")
    before = snapshot(root)
    try:
        data = load_dataset("ogbn-arxiv", root)
    finally:
        after = snapshot(root)
        make_writable(root)
    assert after == before
    assert list(data_cache.glob("mirrors/*/ogbn_arxiv/processed/geometric_data_processed.pt"))
    assert torch.equal(data.x, tiny_graph.x)


def test_ogb_nan_labels_become_minus_one(tiny_graph, tmp_path):
    folder = fake_arxiv(tiny_graph, tmp_path)
    labels = np.where(tiny_graph.y.numpy() < 0, np.nan, tiny_graph.y.numpy())  # papers100M style
    with gzip.open(folder / "raw" / "node-label.csv.gz", "wt") as f:
        f.write("".join(f"{v}\n" for v in labels))
    data = load_dataset("ogbn-arxiv", tmp_path)
    assert data.y.dtype == torch.int64 and torch.equal(data.y, tiny_graph.y)


@pytest.mark.parametrize("meta_file", [True, False], ids=["meta_dict.json", "inferred"])
def test_a_folder_in_ogb_layout_is_a_dataset(tiny_graph, tmp_path, assert_contract, meta_file):
    """`--dataset <folder>`: a user's graph in OGB's layout, with or without graphlearn's meta_dict.json, and named
    after its folder (moved folders load too)."""
    write_ogb_layout(tiny_graph, tmp_path / "w", "ogbn-shop")
    folder = tmp_path / "graphs" / "shop"
    folder.parent.mkdir()
    (tmp_path / "w" / "ogbn_shop").rename(folder)
    if not meta_file:
        (folder / "meta_dict.json").unlink()
    data = load_dataset(str(folder))
    assert_same_graph(data, tiny_graph)
    assert data.name == "shop"
    assert_contract(data)


def test_ogb_folder_errors_name_the_folder_and_what_is_missing(tiny_graph, tmp_path):
    write_ogb_layout(tiny_graph, tmp_path, "ogbn-shop")
    folder = tmp_path / "ogbn_shop"
    (folder / "meta_dict.json").unlink()
    (folder / "split" / "other").mkdir()
    with pytest.raises(
        ValueError,
        match=r"ogbn_shop: expected exactly one split folder under split/ \(found \['graphlearn', 'other'\]\)",
    ):
        load_dataset(str(folder))
    (folder / "split" / "other").rmdir()
    (folder / "RELEASE_v1.txt").unlink()
    with pytest.raises(ValueError, match=r"ogbn_shop: no RELEASE_v<version>.txt"):
        load_dataset(str(folder))
    (folder / "raw" / "edge.csv.gz").unlink()
    with pytest.raises(ValueError, match=r"ogbn_shop: no raw/edge.csv.gz"):
        load_dataset(str(folder))
    with pytest.raises(ValueError, match="OGB's layout"):  # an unknown name's error says how to load a folder
        load_dataset(str(tmp_path / "nothing"))
