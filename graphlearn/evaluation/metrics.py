"""Accuracy through OGB's evaluator, so every number in graphlearn is computed
by the same code as the OGB leaderboard."""

from __future__ import annotations

import functools

import numpy as np
import torch
from ogb.nodeproppred import Evaluator

ArrayLike = torch.Tensor | np.ndarray

# OGB's evaluator is keyed by dataset name and picks the metric from its
# master table. ogbn-arxiv's metric is plain multi-class accuracy
# (mean of y_true == y_pred over one task), which is exactly what Planetoid,
# Amazon/Coauthor and user graphs report; using its evaluator for every
# non-OGB dataset gives them the same checked code path and input contract.
ACC_EVALUATOR = "ogbn-arxiv"


@functools.cache
def _evaluator(name: str) -> Evaluator:
    # Evaluator() reads OGB's master.csv with pandas: build it once.
    return Evaluator(name)


def _to_numpy(a: ArrayLike, what: str) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        return a.detach().cpu().numpy()
    if isinstance(a, np.ndarray):
        return a
    raise TypeError(f"'{what}' must be a torch.Tensor or numpy array (got {type(a).__name__})")


def predictions(y_pred: ArrayLike) -> np.ndarray:
    """Class labels ``[N]`` from labels ``[N]`` / ``[N, 1]`` or scores ``[N, C]``."""
    p = _to_numpy(y_pred, "y_pred")
    if p.ndim == 2 and p.shape[1] > 1:
        return p.argmax(axis=1)
    return p.reshape(-1)


def accuracy(y_true: ArrayLike, y_pred: ArrayLike, mask: ArrayLike | None = None) -> float:
    """Accuracy in percent, computed by :class:`ogb.nodeproppred.Evaluator`.

    Args:
        y_true: int labels ``[N]`` (or ``[N, 1]``).
        y_pred: predicted labels ``[N]`` or class scores/logits ``[N, C]``.
        mask: optional bool ``[N]`` selecting the nodes scored.
    """
    t = _to_numpy(y_true, "y_true").reshape(-1)
    p = predictions(y_pred)
    if p.shape[0] != t.shape[0]:
        raise ValueError(f"y_true has {t.shape[0]} nodes but y_pred has {p.shape[0]}")
    if mask is not None:
        m = _to_numpy(mask, "mask").reshape(-1)
        if m.dtype != np.bool_ or m.shape[0] != t.shape[0]:
            raise ValueError(f"mask must be bool of length {t.shape[0]} (got {m.dtype} of length {m.shape[0]})")
        t, p = t[m], p[m]
    if t.size == 0:
        raise ValueError("accuracy of an empty node set is undefined (mask selects no node)")
    out = _evaluator(ACC_EVALUATOR).eval({"y_true": t.reshape(-1, 1), "y_pred": p.reshape(-1, 1)})
    return 100.0 * float(out["acc"])
