"""The dataset registry: names, roots, errors, registration and ``list_datasets``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

import graphlearn.data as gdata
from graphlearn.data import (
    DatasetNotFoundError,
    UnknownDatasetError,
    dataset_names,
    list_datasets,
    load_dataset,
    register_dataset,
    registry,
    resolve_cache,
    resolve_root,
)

BUILTIN = [
    "cora",
    "citeseer",
    "amazon-photo",
    "coauthor-cs",
    "chameleon",
    "squirrel",
    "actor",
    "texas",
    "wisconsin",
    "cornell",
    "ogbn-arxiv",
    "ogbn-products",
    "ogbn-papers100M",
]


@pytest.fixture
def scratch_registry(monkeypatch):
    """Registrations made in the test are dropped afterwards."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))


def test_builtin_names_registered():
    assert set(BUILTIN) <= set(dataset_names())


def test_unknown_name_lists_valid_names():
    with pytest.raises(UnknownDatasetError) as exc:
        load_dataset("coraa", "/nonexistent")
    msg = str(exc.value)
    assert isinstance(exc.value, ValueError)
    assert "'coraa'" in msg and "did you mean 'cora'" in msg
    for name in BUILTIN:
        assert name in msg


def test_names_are_case_insensitive(tmp_path):
    with pytest.raises(DatasetNotFoundError) as exc:
        load_dataset("Chameleon", tmp_path)
    assert exc.value.name == "chameleon"


def test_resolve_root_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("GRAPHLEARN_DATA", str(tmp_path / "env"))
    assert resolve_root(tmp_path / "flag") == tmp_path / "flag"
    assert resolve_root() == tmp_path / "env"
    monkeypatch.delenv("GRAPHLEARN_DATA")
    assert resolve_root() == Path("data")


def test_resolve_cache_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("GRAPHLEARN_CACHE", str(tmp_path))
    assert resolve_cache() == tmp_path
    monkeypatch.delenv("GRAPHLEARN_CACHE")
    assert resolve_cache() == Path(".cache") / "graphlearn"


@pytest.mark.parametrize(
    "name, rel",
    [
        ("chameleon", "heterophilous_yandex/chameleon.npz"),
        ("amazon-photo", "amazon_coauthor_graphgallery/amazon_photo.npz"),
        ("ogbn-arxiv", "ogb/ogbn_arxiv/raw/edge.csv.gz"),
    ],
)
def test_missing_files_name_the_path(tmp_path, name, rel):
    root = tmp_path / "root"
    with pytest.raises(DatasetNotFoundError) as exc:
        load_dataset(name, root)
    assert isinstance(exc.value, FileNotFoundError)
    msg = str(exc.value)
    assert str(root / rel) in msg and "How to get them" in msg
    assert str(root / rel) in exc.value.paths
    assert not root.exists()  # nothing created while looking


def test_env_root_is_used(monkeypatch, tmp_path):
    monkeypatch.setenv("GRAPHLEARN_DATA", str(tmp_path))
    with pytest.raises(DatasetNotFoundError, match=str(tmp_path / "heterophilous_yandex" / "texas.npz")):
        load_dataset("texas")


def test_split_out_of_range():
    with pytest.raises(ValueError, match="0..9"):
        load_dataset("texas", "/nonexistent", split=10)
    with pytest.raises(ValueError, match="0..0"):
        load_dataset("cora", "/nonexistent", split=1)
    with pytest.raises(ValueError, match="seed="):
        load_dataset("amazon-photo", "/nonexistent", split=1)


def test_register_and_load(scratch_registry, tmp_path, tiny_graph, assert_contract):
    calls = []

    def loader(root, *, split, seed):
        calls.append((root, split, seed))
        return tiny_graph

    (tmp_path / "toy.txt").write_text("x")
    spec = register_dataset("toy", loader, description="a toy", source="tests", files=("toy.txt",), num_splits=3)
    assert spec.name == "toy" and "toy" in dataset_names()
    data = load_dataset("toy", tmp_path, split=2, seed=7)
    assert calls == [(tmp_path, 2, 7)]
    assert data.name == "toy"
    assert_contract(data)
    with pytest.raises(ValueError, match="already registered"):
        register_dataset("toy", loader)
    register_dataset("TOY", loader, description="replaced", replace=True)
    assert registry.get_dataset_spec("toy").description == "replaced"


def test_registered_dataset_missing_files(scratch_registry, tmp_path):
    register_dataset("toy", lambda root, **kw: None, files=("a/b.npz",), how_to_get="ask the lead")
    with pytest.raises(DatasetNotFoundError, match="ask the lead") as exc:
        load_dataset("toy", tmp_path)
    assert str(tmp_path / "a" / "b.npz") in str(exc.value)


def test_list_datasets_absent_root(tmp_path):
    infos = list_datasets(tmp_path)
    assert [i.name for i in infos] == dataset_names()
    assert not any(i.present for i in infos) and all(i.stats is None for i in infos)
    assert all(i.description and i.source for i in infos)


@pytest.mark.needs_data
def test_list_datasets_stats_are_cached(shared_data, tmp_path, monkeypatch, data_cache):
    # A root holding two small staged files keeps this fast; the cache file is shared by the package's tests.
    root = tmp_path / "root"
    (root / "heterophilous_yandex").mkdir(parents=True)
    for name in ("texas", "cornell"):
        shutil.copy(shared_data / "heterophilous_yandex" / f"{name}.npz", root / "heterophilous_yandex")
    infos = {i.name: i for i in list_datasets(root)}
    assert infos["texas"].present and infos["cornell"].present and not infos["cora"].present
    assert infos["texas"].stats == {"nodes": 183, "edges": 279, "features": 1703, "classes": 5}
    assert infos["cornell"].stats == {"nodes": 183, "edges": 277, "features": 1703, "classes": 5}
    cached = json.loads((data_cache / "dataset_stats.json").read_text())
    assert cached[f"texas@{root.absolute()}"]["stats"]["edges"] == 279

    def fail(*args, **kwargs):
        raise AssertionError("stats should come from the cache")

    monkeypatch.setattr(registry, "load_dataset", fail)
    assert {i.name: i.stats for i in list_datasets(root)}["texas"]["nodes"] == 183


@pytest.mark.needs_data
def test_list_datasets_shared_presence(shared_data):
    present = {i.name for i in list_datasets(shared_data, stats=False) if i.present}
    assert present == set(BUILTIN) - {"ogbn-arxiv", "ogbn-products", "ogbn-papers100M"}


def test_package_exports():
    for name in gdata.__all__:
        assert hasattr(gdata, name), name


# user: and synthetic: specs ###################################################################################


def _same_graph(a, b):
    keys = ("x", "y", "edge_index", "train_mask", "val_mask", "test_mask")
    return all(torch.equal(a[k], b[k]) for k in keys) and a.num_classes == b.num_classes and a.name == b.name


def test_synthetic_spec_is_dc_sbm():
    for spec in ("synthetic:300", "synthetic:300.7", "synthetic:3e2"):
        assert _same_graph(load_dataset(spec, "/nonexistent", seed=3), gdata.dc_sbm(300, seed=3))
    assert not torch.equal(load_dataset("synthetic:300", seed=4).x, gdata.dc_sbm(300, seed=3).x)


def test_user_spec_is_load_user_graph(tmp_path):
    edges, nodes = tmp_path / "toy_edges.csv", tmp_path / "toy_nodes.csv"
    edges.write_text("src,dst\na,b\nb,c\nc,d\nd,a\ne,a\nf,b\n")
    nodes.write_text("id,label,f0\na,0,0.1\nb,1,0.2\nc,0,0.3\nd,1,0.4\ne,0,0.5\nf,1,0.6\n")
    data = load_dataset(f"user:{edges}:{nodes}", seed=2)
    assert _same_graph(data, gdata.load_user_graph(edges, nodes, seed=2))
    assert data.name == "toy" and data.node_ids == list("abcdef")


USER_FORM = "user graphs are given as user:<edges file>:<nodes file>[:<sparse features .npz>]"


@pytest.mark.parametrize(
    "spec, msg",
    [
        (
            "user:edges.csv",
            "user graphs are given as user:<edges file>:<nodes file>[:<sparse features .npz>], got 'user:edges.csv'",
        ),
        (
            "user::nodes.csv",
            "user graphs are given as user:<edges file>:<nodes file>[:<sparse features .npz>], got 'user::nodes.csv'",
        ),
        ("user", "user graphs are given as user:<edges file>:<nodes file>[:<sparse features .npz>], got 'user'"),
        ("synthetic:many", "synthetic graphs are given as synthetic:<num nodes>, got 'synthetic:many'"),
        ("synthetic:", "synthetic graphs are given as synthetic:<num nodes>, got 'synthetic:'"),
        ("synthetic:nan", "synthetic graphs are given as synthetic:<num nodes>, got 'synthetic:nan'"),
        # float("inf") parses and int() of it raised OverflowError (pipelines' load_graph let it through)
        ("synthetic:inf", "synthetic graphs are given as synthetic:<num nodes>, got 'synthetic:inf'"),
    ],
)
def test_malformed_specs(spec, msg):
    with pytest.raises(ValueError) as exc:
        load_dataset(spec)
    assert type(exc.value) is ValueError and str(exc.value) == msg


def test_unknown_name_mentions_the_spec_forms():
    with pytest.raises(UnknownDatasetError) as exc:
        load_dataset("synthetic-graph")
    msg = str(exc.value)
    assert "user:<edges file>:<nodes file>" in msg and "synthetic:<num nodes>" in msg
    assert exc.value.name == "synthetic-graph" and exc.value.valid == dataset_names()
    # get_dataset_spec takes registry names only, so its message does not offer the spec forms
    with pytest.raises(UnknownDatasetError) as exc:
        registry.get_dataset_spec("synthetic:10")
    assert "synthetic:<num nodes>" not in str(exc.value)


def test_npz_path_is_a_user_graph(tmp_path):
    # a GraphGallery .npz (the common public format for Amazon / Coauthor graphs) given as --dataset <path>
    import numpy as np
    import scipy.sparse as sp

    n = 30
    rows = np.arange(n)
    adj = sp.csr_matrix((np.ones(n), (rows, (rows + 1) % n)), shape=(n, n))
    attr = sp.csr_matrix(np.eye(n, 8, dtype=np.float32))
    path = tmp_path / "my_graph.npz"
    np.savez(path, adj_matrix=adj, node_attr=attr, node_label=rows % 3)
    data = load_dataset(str(path), seed=1)
    assert data.name == "my_graph" and data.num_nodes == n and data.x.shape == (n, 8) and data.num_classes == 3
    assert data.edge_index.size(1) == 2 * n  # symmetrised
    assert int(data.train_mask.sum()) == 18  # seeded 60/20/20
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match=r"unknown \.npz graph layout \(keys \['a'\]\)"):
        load_dataset(str(tmp_path / "other.npz"))
    with pytest.raises(ValueError, match="does not exist"):
        load_dataset(str(tmp_path / "missing.npz"))
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable .npz file"):
        load_dataset(str(tmp_path / "junk.npz"))
