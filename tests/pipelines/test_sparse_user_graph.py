"""A user graph whose features come as a SciPy sparse matrix file stays sparse through the coldbrew job, the logged
student and `graphlearn export`, and gives the numbers of the same graph held dense."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from graphlearn import sparse
from graphlearn.data import load_dataset
from graphlearn.export.store import read_export
from pipelines.cli import main

N, WIDTH = 240, 160


def write_graph(folder):
    """Three topics, 240 nodes, 160 words; edges mostly within a topic."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, N)
    words = (rng.random((N, WIDTH)) < 0.02) | (
        (np.arange(WIDTH)[None] // 50 == y[:, None]) & (rng.random((N, WIDTH)) < 0.15)
    )
    sp.save_npz(folder / "words.npz", sp.csr_matrix(words.astype(np.float64)))
    pd.DataFrame({"id": [f"p{i}" for i in range(N)], "label": y}).to_csv(folder / "shop_nodes.csv", index=False)
    a = rng.integers(0, N, 1200)
    b = np.where(rng.random(1200) < 0.8, [rng.choice(np.flatnonzero(y == y[i])) for i in a], rng.integers(0, N, 1200))
    keep = a != b
    pd.DataFrame({"src": [f"p{i}" for i in a[keep]], "dst": [f"p{i}" for i in b[keep]]}).to_csv(
        folder / "shop_edges.csv", index=False
    )
    return f"user:{folder / 'shop_edges.csv'}:{folder / 'shop_nodes.csv'}:{folder / 'words.npz'}"


@pytest.fixture
def spec(workdir):
    return write_graph(workdir)


def test_sparse_user_graph_runs_sparse_and_matches_dense(spec, workdir, json_out, monkeypatch):
    argv = ["coldbrew", "--dataset", spec, "--runs", "1", "--set", "epochs=15", "--no-progress", "--json"]
    assert main([*argv, "--fresh", "--retrieval-dim", "0"]) == 0
    dense = json_out()["results"]
    assert load_dataset(spec).x.layout == torch.strided  # small: dense by default

    monkeypatch.setattr(sparse, "STORE_SPARSE_MIN_ELEMENTS", 1)  # now the graph counts as large
    assert load_dataset(spec).x.layout == torch.sparse_csr
    assert main([*argv, "--fresh", "--retrieval-dim", "0"]) == 0
    stored = json_out()["results"]
    for model, groups in dense.items():  # every model's accuracy, in every group: the same
        assert {g: v["values"] for g, v in groups.items()} == {g: v["values"] for g, v in stored[model].items()}

    assert main(["export", "--run", "latest", "--no-register", "--json", "--no-progress"]) == 0
    folder = json_out()["folder"]
    exported = read_export(folder, verify=True)
    assert exported.vectors.shape[0] == N and np.isfinite(exported.vectors).all()
    assert exported.ids[:2] == ["p0", "p1"]


def test_update_of_a_sparse_graph_answers_as_the_dense_one(spec, workdir, json_out, monkeypatch):
    """`graphlearn update` on CSR features (a large bag of words) reports what it reports on the same graph held
    dense: coldbrew, export and update in a store of their own per layout."""

    def chain(folder):
        folder.mkdir()
        monkeypatch.chdir(folder)
        argv = ["coldbrew", "--dataset", spec, "--runs", "1", "--set", "epochs=10", "--no-progress", "--json"]
        assert main([*argv, "--retrieval-dim", "0", "--protocols", "coldstart"]) == 0
        json_out()
        assert main(["export", "--run", "latest", "--json", "--no-progress"]) == 0
        name = json_out()["registered_model"]
        assert main(["update", "--from", f"models:/{name}@champion", "--json", "--no-progress", "--no-promote"]) == 0
        return json_out()["modes"]

    dense = chain(workdir / "dense")
    monkeypatch.setattr(sparse, "STORE_SPARSE_MIN_ELEMENTS", 1)  # now the graph counts as large: CSR throughout
    assert load_dataset(spec).x.layout == torch.sparse_csr
    stored = chain(workdir / "csr")
    for mode in ("independent", "compatible"):
        assert stored[mode]["classification"] == dense[mode]["classification"], mode
        assert stored[mode]["test"] == dense[mode]["test"], mode
