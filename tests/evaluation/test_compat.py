"""Update compatibility metrics: negative flip rate, retrieval across old and new models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from graphlearn.evaluation.compat import classification_compatibility, negative_flip_rate, retrieval_compatibility


def test_negative_flip_rate_counts_old_right_new_wrong_over_the_mask():
    y = np.array([0, 1, 2, 0, 1, 2])
    old = np.array([0, 1, 2, 1, 1, 0])  # right on 0, 1, 2, 4
    new = np.array([0, 2, 2, 0, 0, 0])  # wrong on 1, 4 (negative flips), right on 3 (a positive flip)
    assert negative_flip_rate(old, new, y) == pytest.approx(100 * 2 / 6)
    mask = np.array([True, True, False, True, False, False])
    assert negative_flip_rate(old, new, y, mask) == pytest.approx(100 * 1 / 3)
    assert negative_flip_rate(torch.tensor(old), torch.tensor(old), torch.tensor(y)) == 0.0


def test_negative_flip_rate_bad_inputs():
    with pytest.raises(ValueError, match=r"same length \(got 3, 2, 3\)"):
        negative_flip_rate([0, 1, 2], [0, 1], [0, 1, 2])
    with pytest.raises(ValueError, match="selects no node"):
        negative_flip_rate([0], [0], [0], np.array([False]))
    with pytest.raises(ValueError, match=r"mask must be bool \[3\]"):
        negative_flip_rate([0, 1, 2], [0, 1, 2], [0, 1, 2], np.array([1, 0, 1]))


def test_classification_compatibility_per_group():
    y = torch.tensor([0, 1, 1, 0])
    old, new = torch.tensor([0, 1, 0, 0]), torch.tensor([0, 0, 1, 0])
    masks = {"all": torch.ones(4, dtype=torch.bool), "empty": torch.zeros(4, dtype=torch.bool)}
    out = classification_compatibility(old, new, y, masks)
    assert out == {"all": {"old_acc": 75.0, "new_acc": 75.0, "nfr": 25.0}}


def _toy():
    """Six nodes on a ring of directions; node 0's true neighbours are 1 and 5."""
    angles = np.arange(6) * np.pi / 3
    index = np.stack([np.cos(angles), np.sin(angles)], 1).astype(np.float32)
    edges = np.array([[0, 0, 2], [1, 5, 3]])
    return index, edges, np.array([0, 0, 1, 1, 2, 0])


def test_retrieval_compatibility_pairs():
    index, edges, y = _toy()
    query = index[[0]]
    flipped = -index  # another model: the same geometry in another space
    out = retrieval_compatibility(query, index, -query, flipped, edge_index=edges, y=y, query_nodes=[0], k=2)
    assert out["old/old"]["recall"] == 100.0 and out["new/new"]["recall"] == 100.0
    assert out["new/old"]["recall"] == 0.0  # the new query lands opposite its neighbours in the old space
    assert out["old/old"]["precision"] == 100.0  # nodes 1 and 5 are class 0
    same = retrieval_compatibility(query, index, query, index, edge_index=edges, y=y, query_nodes=[0], k=2)
    assert same["new/old"] == same["old/old"]


def test_retrieval_compatibility_bad_inputs():
    index, edges, y = _toy()
    with pytest.raises(ValueError, match="new/old: new_query have width 3 but old_index has width 2"):
        retrieval_compatibility(
            index[[0]], index, np.ones((1, 3)), np.ones((6, 3)), edge_index=edges, y=y, query_nodes=[0], k=2
        )
    with pytest.raises(ValueError, match=r"old_query must be \[2, d\]"):
        retrieval_compatibility(index[[0]], index, index[[0]], index, edge_index=edges, y=y, query_nodes=[0, 2], k=2)
    with pytest.raises(ValueError, match="new_index has 3 rows, fewer than the old index's 6"):
        retrieval_compatibility(index[[0]], index, index[[0]], index[:3], edge_index=edges, y=y, query_nodes=[0], k=2)
