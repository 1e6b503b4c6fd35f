"""Threshold consistency / OPIS (graphlearn.evaluation.threshold)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from graphlearn.evaluation.threshold import pair_similarities, threshold_consistency


def clusters(spreads, per_class=60, dim=16, seed=0):
    """One cluster per class around orthogonal unit centres; ``spreads[c]`` is class c's noise scale."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for c, s in enumerate(spreads):
        centre = np.eye(dim)[c]
        xs.append(centre + s * rng.standard_normal((per_class, dim)) / np.sqrt(dim))
        ys.append(np.full(per_class, c))
    return np.concatenate(xs), np.concatenate(ys)


def test_hand_computed_rates():
    # Directions 0, 0 (class 0), 90, 180 degrees (class 1): cosines
    # (0,1)=1, (0,2)=0, (0,3)=-1, (1,2)=0, (1,3)=-1, (2,3)=0.
    x = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    y = np.array([0, 0, 1, 1])
    r = threshold_consistency(x, y, thresholds=[-0.5, 0.5])
    assert r.classes.tolist() == [0, 1]
    assert r.positives.tolist() == [1, 1] and r.negatives.tolist() == [4, 4]
    # Both classes share the four negatives 0, -1, 0, -1: half accepted at -0.5, none at 0.5.
    np.testing.assert_allclose(r.far, [[0.5, 0.0], [0.5, 0.0]])
    # Class 0's positive (cosine 1) is always accepted, class 1's (cosine 0) only at -0.5.
    np.testing.assert_allclose(r.tar, [[1.0, 1.0], [1.0, 0.0]])
    # Utility = F1 of (TAR, 1 - FAR): 2/3 for both at -0.5; 1 and 0 at 0.5.
    np.testing.assert_allclose(r.utility, [[2 / 3, 1.0], [2 / 3, 0.0]])
    # Across-class variance 0 at -0.5, 0.25 at 0.5; OPIS is their mean.
    assert r.opis == pytest.approx(0.125)
    np.testing.assert_allclose(r.overall_far, [0.5, 0.0])
    np.testing.assert_allclose(r.overall_tar, [1.0, 0.5])


def test_separated_equal_spreads_give_zero_opis():
    x, y = clusters([0.2, 0.2, 0.2, 0.2])
    # Thresholds in the gap between every negative and every positive cosine: TAR 1, FAR 0 for every class.
    r = threshold_consistency(x, y, thresholds=np.linspace(0.4, 0.6, 11))
    assert r.tar.min() == 1.0 and r.far.max() == 0.0
    assert r.opis == 0.0
    # Over the FAR-calibrated default range the classes still behave alike.
    assert threshold_consistency(x, y).opis < 1e-3


def test_unequal_spreads_give_larger_opis():
    equal = threshold_consistency(*clusters([0.6, 0.6, 0.6]))
    unequal = threshold_consistency(*clusters([0.1, 0.6, 1.5]))
    assert unequal.opis > 10 * max(equal.opis, 1e-4)
    mid = unequal.thresholds.size // 2
    # The tight class accepts its own pairs more often than the spread-out one at one shared threshold.
    assert unequal.tar[0, mid] > unequal.tar[2, mid]
    assert unequal.to_dict()["per_class"][0]["tar"] > unequal.to_dict()["per_class"][2]["tar"]


def test_default_range_is_set_by_overall_far():
    x, y = clusters([0.5, 0.8, 1.0], per_class=50)
    r = threshold_consistency(x, y, far_range=(0.02, 0.2), num_thresholds=21)
    assert r.thresholds.size == 21 and r.far_range == (0.02, 0.2)
    assert r.overall_far[0] == pytest.approx(0.2, abs=0.01)
    assert r.overall_far[-1] == pytest.approx(0.02, abs=0.01)
    assert np.all(np.diff(r.thresholds) >= 0)
    d = r.to_dict(curves=True)
    assert len(d["curves"]["tar"]) == 3 and len(d["curves"]["thresholds"]) == 21


def test_sampled_pairs_are_deterministic_and_close():
    x, y = clusters([0.2, 0.6, 1.2], per_class=80)
    full = threshold_consistency(x, y)
    a = threshold_consistency(x, y, max_pairs=20_000, seed=3)
    b = threshold_consistency(x, y, max_pairs=20_000, seed=3)
    assert a.sampled and not full.sampled and a.pairs == 20_000
    assert a.opis == b.opis
    np.testing.assert_array_equal(a.tar, b.tar)
    assert a.opis == pytest.approx(full.opis, rel=0.3)
    i, j, _, _ = pair_similarities(x / np.linalg.norm(x, axis=1, keepdims=True), max_pairs=1000, seed=0)
    assert (i != j).all()


def test_torch_input_and_singleton_class_dropped():
    x, y = clusters([0.3, 0.3], per_class=10)
    x = np.concatenate([x, np.ones((1, x.shape[1]))])
    y = np.concatenate([y, [7]])
    r = threshold_consistency(torch.from_numpy(x).float(), torch.from_numpy(y))
    assert r.classes.tolist() == [0, 1] and r.dropped == [7]


@pytest.mark.parametrize(
    "x, y, kwargs, match",
    [
        (np.array([[np.nan, 1.0], [1.0, 0.0], [0.0, 1.0]]), [0, 1, 1], {}, "NaN/inf in 1 row"),
        (np.ones(4), [0, 1, 0, 1], {}, "2-D"),
        (np.eye(4), [0, 1, 0], {}, "one label per embedding row"),
        (np.eye(4), [1, 1, 1, 1], {}, "at least 2 classes"),
        (np.eye(4), [0, 1, 2, 3], {}, "at least 2 classes with a positive pair"),
        (np.eye(4), [0.5, 1, 0, 1], {}, "integers"),
        (np.eye(4), [np.nan, 1, 0, 1], {}, "labels contain NaN"),
        (np.eye(4), [0, 1, 0, 1], {"thresholds": []}, "thresholds is empty"),
        (np.eye(4), [0, 1, 0, 1], {"thresholds": [0.1, np.nan]}, "thresholds contain NaN"),
        (np.eye(4), [0, 1, 0, 1], {"far_range": (0.1, 0.01)}, "far_range"),
        (np.eye(4), [0, 1, 0, 1], {"num_thresholds": 1}, "num_thresholds"),
        (np.eye(4), [0, 1, 0, 1], {"max_pairs": 0}, "max_pairs"),
        (np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), [0, 1, 1], {}, "all-zero row"),
    ],
)
def test_bad_inputs_name_the_value(x, y, kwargs, match):
    with pytest.raises(ValueError, match=match):
        threshold_consistency(x, np.asarray(y), **kwargs)


def test_plot_writes_png(tmp_path):
    from graphlearn.evaluation.plots import plot_threshold_consistency

    r = threshold_consistency(*clusters([0.2, 0.8], per_class=20))
    path = tmp_path / "opis.png"
    plot_threshold_consistency(r, path, title="toy", class_names={0: "a"})
    assert path.stat().st_size > 1000
