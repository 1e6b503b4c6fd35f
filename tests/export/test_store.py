"""Export folders: contents, ids, chunking, the index, atomic replacement and bad input."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from graphlearn.export import (
    ExportError,
    export_embeddings,
    node_vectors,
    read_export,
    student_vectors,
    write_export,
)
from graphlearn.export.spaces import query_vectors


def _unit(n, d, seed=0, clusters=0):
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((n, d)).astype(np.float32)
    if clusters:  # embeddings of real graphs are clustered (by class, community)
        v = 0.5 * v + 3 * rng.standard_normal((clusters, d)).astype(np.float32)[rng.integers(0, clusters, n)]
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _chunks(v, size, source="x"):
    return ((v[i : i + size], source) for i in range(0, len(v), size))


def test_student_export_holds_every_node_with_original_ids(trained, tmp_path):
    split, student = trained["split"], trained["out"]["trained"]["ColdBrew"]
    ids = [f"paper-{i}" for i in range(split.num_nodes)]
    folder = export_embeddings(
        tmp_path / "exp", "student", trained["paths"]["ColdBrew"], split.x, ids=ids, chunk_size=50, index="flat"
    )
    exp = read_export(folder, verify=True)
    n, d = split.num_nodes, student.embed_channels
    assert exp.vectors.shape == (n, d) and exp.ids == ids
    assert np.allclose(np.linalg.norm(exp.vectors, axis=1), 1, atol=1e-5)
    # the coldbrew space: teacher embeddings for nodes with edges, MLP1's estimate for the isolated ones
    expected = student_vectors(student, split.x).numpy()
    assert np.allclose(exp.vectors, expected, atol=1e-6)
    iso = split.isolated_mask.nonzero().view(-1)
    assert np.allclose(exp.vectors[iso], query_vectors(student, split.x[iso]).numpy(), atol=1e-6)
    table = pq.read_table(folder / "embeddings.parquet")
    assert table.column("node_id").to_pylist() == ids
    sources = table.column("source").to_pylist()
    assert {sources[i] for i in iso.tolist()} == {"mlp1"} and sources.count("teacher") == n - len(iso)
    assert np.allclose(np.stack(table.column("embedding").to_numpy(zero_copy_only=False)), exp.vectors)
    meta = exp.metadata
    assert meta["dimension"] == d and meta["metric"] == "cosine" and meta["model"] == "student"
    assert meta["id_mapping"]["type"] == "string" and meta["sources"] == {"teacher": n - len(iso), "mlp1": len(iso)}
    # FAISS ids are rows: a node's own vector finds itself first
    _, rows = exp.index.search(np.ascontiguousarray(exp.vectors[:5]), 1)
    assert rows[:, 0].tolist() == [0, 1, 2, 3, 4]


def test_chunk_size_does_not_change_the_export(trained, tmp_path):
    path, x = trained["paths"]["ColdBrew"], trained["split"].x
    a = read_export(export_embeddings(tmp_path / "a", "student", path, x, chunk_size=7))
    b = read_export(export_embeddings(tmp_path / "b", "student", path, x, chunk_size=10_000))
    assert np.array_equal(a.vectors, b.vectors)
    assert a.metadata["embeddings_sha256"] == b.metadata["embeddings_sha256"]


@pytest.mark.parametrize("kind", ["glnn", "mlp", "teacher"])
def test_other_models_export_their_space(trained, tmp_path, kind):
    x = trained["split"].x
    path = trained["paths"]["GLNN" if kind == "glnn" else "MLP" if kind == "mlp" else "ColdBrew"]
    exp = read_export(export_embeddings(tmp_path / kind, kind, path, x))
    if kind == "teacher":
        student = trained["out"]["trained"]["ColdBrew"]
        teacher = torch.nn.functional.normalize(student._standardise(student.teacher_embeddings), dim=-1)
        assert np.allclose(exp.vectors, teacher.numpy(), atol=1e-6)
    else:
        assert exp.vectors.shape == (x.size(0), 32) and exp.metadata["space"] == kind


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_approximate_indexes_find_most_exact_neighbours(tmp_path, kind):
    v = _unit(3000, 16, clusters=20)
    exact = read_export(write_export(tmp_path / "flat", _chunks(v, 1000), num_nodes=3000, dim=16))
    approx = read_export(write_export(tmp_path / kind, _chunks(v, 1000), num_nodes=3000, dim=16, index=kind))
    q = v[:50] + 0.1 * _unit(50, 16, seed=1)
    _, truth = exact.index.search(q, 10)
    _, found = approx.index.search(q, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(truth, found)])
    assert recall > 0.8, recall
    assert approx.metadata["index"]["kind"] == kind and approx.metadata["index"]["params"]


def test_a_failed_export_leaves_the_previous_one(tmp_path):
    v = _unit(100, 8)
    folder = write_export(tmp_path / "exp", _chunks(v, 30), num_nodes=100, dim=8)
    before = (folder / "metadata.json").read_text()
    bad = v.copy()
    bad[70, 3] = np.nan
    with pytest.raises(ValueError, match="row 70 has NaN"):
        write_export(tmp_path / "exp", _chunks(bad, 30), num_nodes=100, dim=8)
    assert (folder / "metadata.json").read_text() == before
    assert read_export(folder).vectors.shape == (100, 8)
    assert [p.name for p in tmp_path.iterdir()] == ["exp"]  # no temporary folder left


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_nodes": 101}, "gave 100 rows; expected num_nodes=101"),
        ({"num_nodes": 99}, "more than num_nodes=99"),
        ({"dim": 9}, r"has shape \[30, 8\]; expected \[\*, 9\]"),
        ({"ids": [1] * 100}, "duplicate node id 1"),
        ({"ids": [1, 2]}, "2 node ids for 100 nodes"),
        ({"index": "lsh"}, "unknown index kind 'lsh'"),
    ],
)
def test_bad_export_input_is_named(tmp_path, kwargs, message):
    args = {"num_nodes": 100, "dim": 8, **kwargs}
    with pytest.raises(ValueError, match=message):
        write_export(tmp_path / "exp", _chunks(_unit(100, 8), 30), **args)
    assert not (tmp_path / "exp").exists()


def test_damaged_or_mismatched_folders_are_refused(tmp_path):
    folder = write_export(tmp_path / "exp", _chunks(_unit(50, 4), 50), num_nodes=50, dim=4)
    meta = json.loads((folder / "metadata.json").read_text())
    (folder / "metadata.json").write_text(json.dumps({**meta, "num_nodes": 60}))
    with pytest.raises(ExportError, match=r"has shape \[50, 4\]; metadata says \[60, 4\]"):
        read_export(folder)
    (folder / "metadata.json").write_text(json.dumps(meta))
    np.save(folder / "embeddings.npy", _unit(50, 4, seed=3))
    with pytest.raises(ExportError, match="does not match its checksum"):
        read_export(folder, verify=True)
    (folder / "index.faiss").write_bytes(b"not an index")
    with pytest.raises(ExportError, match="not a readable FAISS index"):
        read_export(folder)
    (folder / "ids.json").unlink()
    with pytest.raises(ExportError, match=r"missing \['ids.json'\]"):
        read_export(folder)
    with pytest.raises(ExportError, match="export folder not found"):
        read_export(tmp_path / "nowhere")


def test_export_refuses_data_the_model_was_not_trained_on(trained, tmp_path):
    x = trained["split"].x
    with pytest.raises(ValueError, match="not the data it was trained on"):
        export_embeddings(tmp_path / "e", "student", trained["paths"]["ColdBrew"], x[:100])
    with pytest.raises(ValueError, match="trained on 64 features"):
        list(node_vectors("glnn", trained["out"]["trained"]["GLNN"], x[:, :10]))
    with pytest.raises(ValueError, match="needs the Cold Brew student"):
        list(node_vectors("student", trained["out"]["trained"]["GLNN"], x))
