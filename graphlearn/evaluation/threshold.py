"""Threshold consistency of node embeddings: does one cosine threshold mean the same thing for every class?

An exported embedding is often used by thresholding a similarity ("these two nodes match if their cosine is at
least ``t``"). If the classes' representation structures differ (one class tight, another spread out), a single
``t`` gives each class a different true-accept and false-accept rate. This module measures that with the
**Operating-Point-Inconsistency Score (OPIS)** of

    Q. Zhang, L. Xu, Q. Tang, J. Fang, Y. N. Wu, J. Tighe, Y. Xing: *Threshold-Consistent Margin Loss for
    Open-World Deep Metric Learning*, ICLR 2024 (arXiv:2307.04047), Section 3 ("Threshold inconsistency").

Definition implemented here (cosine similarity, a pair is *accepted* at threshold ``t`` when its similarity is
``>= t``). For each class ``i`` with at least two members:

* **positive pairs** of ``i``: unordered pairs of two distinct nodes both of class ``i``;
* **negative pairs** of ``i``: unordered pairs with exactly one node of class ``i``;
* ``TAR_i(t)`` = fraction of its positive pairs accepted, ``FAR_i(t)`` = fraction of its negative pairs accepted;
* utility ``U_i(t)`` = F1 of ``TAR`` and the true-negative rate ``TNR = 1 - FAR``:
  ``2 * TAR * TNR / (TAR + TNR)`` (0 when both are 0);

and, over a calibration range of thresholds ``[t_min, t_max]``, with equal class weights ``w_i = 1 / C`` and
``Ubar(t)`` the mean of ``U_i(t)`` over the ``C`` classes,

    OPIS = (1 / (t_max - t_min)) * integral_{t_min}^{t_max} sum_i w_i (U_i(t) - Ubar(t))^2 dt,

i.e. the across-class (population) variance of the utility averaged over the range. The integral is the mean
over a grid of thresholds (``num_thresholds`` equally spaced points including both ends, or the thresholds given).
OPIS is 0 when every class has the same utility at every threshold of the range; it is at most 0.25.

The paper's calibration range is set by the operating points of interest, expressed as the overall FAR; by
default here it is the range of thresholds where the overall FAR (over all negative pairs) lies in
``far_range = (0.01, 0.1)``: ``t_min`` is the threshold of overall FAR 0.1, ``t_max`` that of FAR 0.01 (empirical
quantiles of the negative similarities). Every embedding space is thus judged at the same operating points, not
at the same raw cosines. The paper's variant ``epsilon-OPIS`` (worst fraction of classes) is not implemented.

Pairs: all ``n (n - 1) / 2`` pairs when that is at most ``max_pairs``, else ``max_pairs`` pairs of distinct nodes
drawn uniformly with replacement by ``numpy.random.default_rng(seed)`` (deterministic). A class with no positive
pair (a single member, or none drawn) has no TAR: it is left out of OPIS and listed in ``dropped``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["ThresholdConsistency", "threshold_consistency", "pair_similarities", "DEFAULT_FAR_RANGE"]

DEFAULT_FAR_RANGE = (0.01, 0.1)
# Floats per chunk when computing sampled pairs' similarities (64 MB of float32).
_CHUNK_FLOATS = 1 << 24


@dataclass
class ThresholdConsistency:
    """The result of :func:`threshold_consistency`.

    ``tar``, ``far`` and ``utility`` are ``[C, T]``: one row per entry of ``classes`` (the labels kept), one
    column per entry of ``thresholds``; ``overall_tar`` / ``overall_far`` ``[T]`` pool every pair. ``positives`` /
    ``negatives`` count each class's pairs evaluated. ``far_range`` is the overall-FAR range that set the
    thresholds (``None`` when they were given).
    """

    opis: float
    thresholds: np.ndarray
    classes: np.ndarray
    tar: np.ndarray
    far: np.ndarray
    utility: np.ndarray
    overall_tar: np.ndarray
    overall_far: np.ndarray
    positives: np.ndarray
    negatives: np.ndarray
    pairs: int
    sampled: bool
    far_range: tuple[float, float] | None
    dropped: list = field(default_factory=list)

    def per_class(self) -> dict:
        """``{class: {"tar", "far", "utility"}}``, each the mean over the calibration range, and the pair counts."""
        return {
            _py(c): {
                "tar": float(self.tar[k].mean()),
                "far": float(self.far[k].mean()),
                "utility": float(self.utility[k].mean()),
                "positives": int(self.positives[k]),
                "negatives": int(self.negatives[k]),
            }
            for k, c in enumerate(self.classes)
        }

    def to_dict(self, curves: bool = False) -> dict:
        """JSON-ready summary (``overall_tar`` / ``overall_far`` / ``utility``: means over the range, the last over
        the classes too); with ``curves`` also every class's TAR / FAR at every threshold."""
        out = {
            "opis": self.opis,
            "threshold_range": [float(self.thresholds[0]), float(self.thresholds[-1])],
            "num_thresholds": int(self.thresholds.size),
            "far_range": list(self.far_range) if self.far_range else None,
            "overall_tar": float(np.mean(self.overall_tar)),
            "overall_far": float(np.mean(self.overall_far)),
            "utility": float(self.utility.mean()),
            "pairs": self.pairs,
            "sampled": self.sampled,
            "dropped": [_py(c) for c in self.dropped],
            "per_class": self.per_class(),
        }
        if curves:
            out["curves"] = {
                "thresholds": self.thresholds.tolist(),
                "overall_tar": self.overall_tar.tolist(),
                "overall_far": self.overall_far.tolist(),
                "tar": {_py(c): self.tar[k].tolist() for k, c in enumerate(self.classes)},
                "far": {_py(c): self.far[k].tolist() for k, c in enumerate(self.classes)},
            }
        return out


def _py(c):
    return c.item() if isinstance(c, np.generic) else c


def _as_numpy(a) -> np.ndarray:
    if hasattr(a, "detach"):  # torch.Tensor, without importing torch
        a = a.detach().cpu().numpy()
    return np.asarray(a)


def _check_inputs(embeddings, labels) -> tuple[np.ndarray, np.ndarray]:
    x = _as_numpy(embeddings)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be 2-D [n, d] (got shape {list(x.shape)})")
    if x.shape[0] < 2 or x.shape[1] < 1:
        raise ValueError(f"embeddings must have at least 2 rows and 1 column (got shape {list(x.shape)})")
    if not np.issubdtype(x.dtype, np.number):
        raise ValueError(f"embeddings must be numeric (got dtype {x.dtype})")
    x = np.ascontiguousarray(x, dtype=np.float32)
    bad = ~np.isfinite(x)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise ValueError(f"embeddings contain NaN/inf in {rows.size} row(s), first row {int(rows[0])}")
    y = _as_numpy(labels)
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise ValueError(
            f"labels must be 1-D with one label per embedding row ({x.shape[0]}), got shape {list(y.shape)}"
        )
    if y.dtype.kind == "f":
        if not np.isfinite(y).all():
            raise ValueError(f"labels contain NaN/inf (first at position {int(np.flatnonzero(~np.isfinite(y))[0])})")
        if (y != np.round(y)).any():
            raise ValueError("labels must be integers (got non-integral floats)")
    elif y.dtype.kind not in "iub":
        raise ValueError(f"labels must be integers (got dtype {y.dtype})")
    y = y.astype(np.int64)
    classes = np.unique(y)
    if classes.size < 2:
        raise ValueError(
            f"threshold consistency needs at least 2 classes (labels hold {classes.size}: {classes.tolist()})"
        )
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    zero = np.flatnonzero(norm[:, 0] == 0)
    if zero.size:
        raise ValueError(
            f"embeddings have {zero.size} all-zero row(s) (first row {int(zero[0])}): no direction, no cosine"
        )
    return x / norm, y


def pair_similarities(
    x: np.ndarray, max_pairs: int = 2_000_000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """``(i, j, cosine, sampled)`` for the pairs of rows of the unit-norm ``x`` that :func:`threshold_consistency`
    evaluates: all ``i < j`` when there are at most ``max_pairs``, else ``max_pairs`` uniform draws of ``i != j``."""
    n = x.shape[0]
    total = n * (n - 1) // 2
    if total <= max_pairs:
        i, j = np.triu_indices(n, k=1)
        sims = (x @ x.T)[i, j]
        return i, j, sims.astype(np.float64), False
    rng = np.random.default_rng(seed)
    i = rng.integers(0, n, size=max_pairs)
    j = rng.integers(0, n - 1, size=max_pairs)
    j += j >= i  # uniform over j != i
    sims = np.empty(max_pairs, dtype=np.float64)
    step = max(1, _CHUNK_FLOATS // x.shape[1])
    for a in range(0, max_pairs, step):
        b = min(a + step, max_pairs)
        sims[a:b] = np.einsum("ij,ij->i", x[i[a:b]], x[j[a:b]])
    return i, j, sims, True


def _accept_rate(sorted_sims: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Fraction of ``sorted_sims`` that are ``>= t`` for each threshold."""
    return 1.0 - np.searchsorted(sorted_sims, thresholds, side="left") / sorted_sims.size


def _f1(tar: np.ndarray, far: np.ndarray) -> np.ndarray:
    tnr = 1.0 - far
    den = tar + tnr
    return np.divide(2.0 * tar * tnr, den, out=np.zeros_like(den), where=den > 0)


def _check_thresholds(thresholds) -> np.ndarray:
    t = np.asarray(_as_numpy(thresholds), dtype=np.float64).reshape(-1)
    if t.size == 0:
        raise ValueError("thresholds is empty: the calibration range needs at least one threshold")
    if not np.isfinite(t).all():
        raise ValueError(f"thresholds contain NaN/inf: {t[~np.isfinite(t)][:3].tolist()}")
    return t


def threshold_consistency(
    embeddings,
    labels,
    thresholds=None,
    *,
    far_range: tuple[float, float] = DEFAULT_FAR_RANGE,
    num_thresholds: int = 101,
    max_pairs: int = 2_000_000,
    seed: int = 0,
) -> ThresholdConsistency:
    """OPIS of ``embeddings`` (cosine similarity) with per-class TAR / FAR curves (see the module docstring).

    Args:
        embeddings: ``[n, d]`` vectors (numpy or torch); L2-normalised here.
        labels: ``[n]`` integer classes.
        thresholds: the calibration range as explicit cosine thresholds (1-D, non-empty); default: derived from
            ``far_range``.
        far_range: ``(low, high)`` overall FAR, ``0 < low < high < 1``: the range is the thresholds at which the
            overall FAR runs from ``high`` down to ``low`` (only without ``thresholds``).
        num_thresholds: grid points of the derived range (both ends included).
        max_pairs: most pairs evaluated; more are sampled deterministically (``seed``).
        seed: seed of that sampling.

    Raises:
        ValueError: embeddings not a finite 2-D array with at least 2 non-zero rows; labels not one integer per row;
            fewer than 2 classes (in all, or with a positive pair); an empty or non-finite threshold range; a bad
            ``far_range``, ``num_thresholds`` or ``max_pairs``.
    """
    x, y = _check_inputs(embeddings, labels)
    if not isinstance(max_pairs, (int, np.integer)) or max_pairs < 1:
        raise ValueError(f"max_pairs must be an integer >= 1 (got {max_pairs!r})")
    if thresholds is None:
        lo, hi = (float(v) for v in far_range)
        if not 0.0 < lo < hi < 1.0:
            raise ValueError(
                f"far_range must be (low, high) with 0 < low < high < 1 (got {tuple(far_range)}): empty range"
            )
        if not isinstance(num_thresholds, (int, np.integer)) or num_thresholds < 2:
            raise ValueError(f"num_thresholds must be an integer >= 2 (got {num_thresholds!r})")
    else:
        t = _check_thresholds(thresholds)

    i, j, sims, sampled = pair_similarities(x, int(max_pairs), seed)
    li, lj = y[i], y[j]
    same = li == lj
    neg_all = np.sort(sims[~same])
    if neg_all.size == 0:
        raise ValueError("no negative pair among the pairs evaluated: raise max_pairs")
    if thresholds is None:
        # Overall FAR(t) = P(neg >= t); FAR = f at the (1 - f) quantile of the negative similarities.
        t_min, t_max = np.quantile(neg_all, [1.0 - hi, 1.0 - lo])
        t = np.linspace(t_min, t_max, int(num_thresholds))

    pos_sims, pos_lab = sims[same], li[same]
    neg_sims = np.concatenate([sims[~same], sims[~same]])
    neg_lab = np.concatenate([li[~same], lj[~same]])
    pos_order = np.lexsort((pos_sims, pos_lab))
    pos_sims, pos_lab = pos_sims[pos_order], pos_lab[pos_order]
    neg_order = np.lexsort((neg_sims, neg_lab))
    neg_sims, neg_lab = neg_sims[neg_order], neg_lab[neg_order]

    kept, dropped, tar, far, npos, nneg = [], [], [], [], [], []
    for c in np.unique(y):
        p = pos_sims[np.searchsorted(pos_lab, c, "left") : np.searchsorted(pos_lab, c, "right")]
        q = neg_sims[np.searchsorted(neg_lab, c, "left") : np.searchsorted(neg_lab, c, "right")]
        if p.size == 0 or q.size == 0:
            dropped.append(c)
            continue
        kept.append(c)
        tar.append(_accept_rate(p, t))
        far.append(_accept_rate(q, t))
        npos.append(p.size)
        nneg.append(q.size)
    if len(kept) < 2:
        raise ValueError(
            f"threshold consistency needs at least 2 classes with a positive pair (two members); got {len(kept)} "
            f"(classes without one: {[_py(c) for c in dropped]})"
        )
    tar_a, far_a = np.stack(tar), np.stack(far)
    util = _f1(tar_a, far_a)
    opis = float(util.var(axis=0).mean())
    return ThresholdConsistency(
        opis=opis,
        thresholds=t,
        classes=np.asarray(kept),
        tar=tar_a,
        far=far_a,
        utility=util,
        overall_tar=_accept_rate(np.sort(sims[same]), t) if same.any() else np.full(t.shape, np.nan),
        overall_far=_accept_rate(neg_all, t),
        positives=np.asarray(npos),
        negatives=np.asarray(nneg),
        pairs=int(sims.size),
        sampled=sampled,
        far_range=(lo, hi) if thresholds is None else None,
        dropped=dropped,
    )
