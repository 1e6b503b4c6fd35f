"""Full-batch training loop shared by the Cold Brew models.

Written by hand rather than with :func:`graphlearn.evaluation.run_protocol`
because every Cold Brew stage has its own loss (CE + SE penalty, MSE to the
teacher, CE + KD) while that protocol trains with plain cross-entropy.
"""

from __future__ import annotations

import copy
import random
import zlib
from collections.abc import Callable, Iterable

import numpy as np
import torch
from torch import Tensor

# on_epoch(stage, epoch, metrics): how a pipeline logs without this library
# importing mlflow. ``stage`` names the model being trained (e.g. "GCN",
# "ColdBrew/mlp1"), ``epoch`` counts from 0.
EpochCallback = Callable[[str, int, dict[str, float]], None]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def stage_seed(seed: int, stage: str) -> int:
    """A seed for one stage of a run, stable across processes (``crc32``,
    not ``hash``), so that adding or removing a model from a run leaves the
    initialisation of the others unchanged."""
    return (int(seed) * 1_000_003 + zlib.crc32(stage.encode())) % 2**31


def masked_accuracy(logits: Tensor, y: Tensor, mask: Tensor) -> float:
    """Accuracy in percent on ``mask`` (NaN for an empty mask). Used for model
    selection inside training loops; reported numbers go through
    :func:`graphlearn.evaluation.accuracy`."""
    n = int(mask.sum())
    if n == 0:
        return float("nan")
    return 100.0 * float((logits[mask].argmax(-1) == y[mask]).sum()) / n


def fit(
    model: torch.nn.Module,
    loss_fn: Callable[[], Tensor],
    score_fn: Callable[[], dict[str, float]],
    *,
    params: Iterable,
    epochs: int,
    lr: float,
    patience: int | None = None,
    stage: str = "model",
    on_epoch: EpochCallback | None = None,
) -> dict:
    """Train ``model`` full-batch with Adam; keep the best-scoring state.

    Args:
        model: the module trained (its ``state_dict`` is snapshotted at the best
            epoch and restored at the end).
        loss_fn: computes the training loss (model already in train mode).
        score_fn: returns metrics (model in eval mode, under ``no_grad``); its
            ``"score"`` entry (higher is better) selects the epoch.
        params: parameters or parameter groups for :class:`torch.optim.Adam`
            (groups carry their own ``weight_decay``).
        epochs (int): maximum number of epochs.
        lr (float): learning rate.
        patience (int, optional): stop after this many epochs without a
            better score. (default: ``None``, never)
        stage (str): name passed to ``on_epoch``.
        on_epoch: ``on_epoch(stage, epoch, metrics)`` after every epoch.

    Returns:
        ``{"best_epoch", "best_score", "epochs_run", "curve": [metrics, ...]}``.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1 (got {epochs})")
    optimizer = torch.optim.Adam(params, lr=lr)
    best_score, best_epoch, best_state = -float("inf"), -1, None
    curve: list[dict[str, float]] = []
    for epoch in range(epochs):
        model.train()
        optimizer.zero_grad()
        loss = loss_fn()
        loss.backward()
        optimizer.step()
        model.eval()
        with torch.no_grad():
            metrics = {"loss": float(loss), **score_fn()}
        curve.append(metrics)
        if on_epoch is not None:
            on_epoch(stage, epoch, metrics)
        score = metrics["score"]
        if score > best_score:
            best_score, best_epoch = score, epoch
            best_state = copy.deepcopy(model.state_dict())
        elif patience is not None and epoch - best_epoch >= patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return {"best_epoch": best_epoch, "best_score": best_score, "epochs_run": len(curve), "curve": curve}
