"""The cold-start endpoint: answers equal the library's pieces, its own preprocessing, and every bad request."""

import json

import numpy as np
import pytest
import torch

from graphlearn.export import ColdStartEndpoint, EndpointInputError, ExportError, export_embeddings, preprocess
from graphlearn.export.spaces import query_vectors


@pytest.fixture(scope="module")
def endpoint_folder(trained, tmp_path_factory):
    folder = tmp_path_factory.mktemp("endpoint") / "student"
    names = [f"class-{c}" for c in range(int(trained["data"].y.max()) + 1)]
    ids = [1000 + i for i in range(trained["split"].num_nodes)]
    return export_embeddings(
        folder, "student", trained["paths"]["ColdBrew"], trained["split"].x, ids=ids, class_names=names
    )


def test_answers_equal_the_students_own_numbers(trained, endpoint_folder):
    student = trained["out"]["trained"]["ColdBrew"]
    x = trained["split"].x[:6]
    ep = ColdStartEndpoint.load(endpoint_folder)
    a = ep.query(x.numpy().astype(np.float64), k=4)  # float64, as MLflow users send it
    assert np.allclose(a.embedding, query_vectors(student, x).numpy(), atol=1e-6)
    assert a.class_id.tolist() == student.predict(x).tolist()
    assert a.class_name == [f"class-{c}" for c in a.class_id]
    # neighbours are original ids, scores cosine similarities in decreasing order
    vectors = np.load(endpoint_folder / "embeddings.npy")
    cos = a.embedding @ vectors.T
    for i in range(6):
        best = np.argsort(-cos[i])[:4]
        assert a.neighbor_ids[i] == [1000 + int(r) for r in best]
        assert np.allclose(a.scores[i], cos[i][best], atol=1e-5)
    # lists of rows and one plain row are accepted too
    assert ep.query(x[:2].tolist(), k=4).neighbor_ids == a.neighbor_ids[:2]
    assert ep.query(x[0].tolist(), k=4).neighbor_ids == a.neighbor_ids[:1]
    record = a.records()[0]
    assert set(record) == {"class_id", "class_name", "neighbor_ids", "scores", "embedding"}
    json.dumps(record)


def test_row_normalisation_is_applied_to_raw_features():
    raw = np.array([[0, 2, 2], [0, 0, 0]], dtype=np.int64)
    assert preprocess(raw, 3, "row").tolist() == [[0, 0.5, 0.5], [0, 0, 0]]
    assert preprocess(raw, 3, "none").tolist() == [[0, 2, 2], [0, 0, 0]]
    with pytest.raises(EndpointInputError, match=r"row-normalises raw non-negative features, but row 0, column 1"):
        preprocess([[0, -1, 0]], 3, "row")


@pytest.mark.parametrize(
    "features, k, message",
    [
        (np.zeros((0, 64)), 5, "empty request"),
        ([], 5, "empty request"),
        (np.zeros((2, 63)), 5, "63 columns but the model was trained on 64 features"),
        (np.full((2, 64), np.nan), 5, "NaN/inf: row 0, column 0 is nan"),
        (np.full((1, 64), np.inf), 5, "NaN/inf"),
        ([[1, 2], [3]], 5, "not a rectangular table|non-numeric or ragged"),
        ([["a"] * 64], 5, "must be real numbers"),
        (np.zeros((2, 64)), 0, r"k must be in \[1, 240\]"),
        (np.zeros((2, 64)), 10_000, r"k must be in \[1, 240\]"),
        (np.zeros((2, 64)), "3", "k must be an integer"),
        (np.zeros((2, 2, 64)), 5, "2-D table"),
    ],
)
def test_bad_requests_are_named(endpoint_folder, features, k, message):
    with pytest.raises(EndpointInputError, match=message):
        ColdStartEndpoint.load(endpoint_folder).query(features, k=k)


def test_an_index_of_another_model_is_refused(trained, endpoint_folder, tmp_path):
    import shutil

    other = tmp_path / "other"
    shutil.copytree(endpoint_folder, other)
    shutil.copyfile(trained["paths"]["GLNN"], other / "model.pt")
    with pytest.raises(ExportError, match="not the model this index was built with"):
        ColdStartEndpoint.load(other)
    (other / "model.pt").unlink()
    with pytest.raises(ExportError, match="has no model.pt"):
        ColdStartEndpoint.load(other)


def test_glnn_endpoint_uses_its_hidden_layer(trained, tmp_path):
    glnn = trained["out"]["trained"]["GLNN"]
    folder = export_embeddings(tmp_path / "g", "glnn", trained["paths"]["GLNN"], trained["split"].x)
    a = ColdStartEndpoint.load(folder).query(trained["split"].x[:3].numpy(), k=2)
    assert a.class_id.tolist() == glnn(trained["split"].x[:3]).argmax(-1).tolist()
    assert a.embedding.shape == (3, 32)
    assert torch.allclose(torch.from_numpy(a.scores[:, 0]), torch.ones(3), atol=1e-5)  # itself, at cosine 1
