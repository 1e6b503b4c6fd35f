"""Figures for the reports. Built on ``matplotlib.figure.Figure`` with an Agg
canvas, so importing this module never changes the process-wide backend
(pyplot is not used). Each function writes its file atomically
(:func:`graphlearn.io.save_figure`) and returns the ``Figure`` (for
``tracking.log_figure``)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..io import save_figure
from .results import PERCENT_METRICS, VAL_GROUP, _metric_label, result_groups, validate_results

_SAVEFIG = {"dpi": 150, "bbox_inches": "tight"}


def _new_figure(size: tuple[float, float]) -> Figure:
    fig = Figure(figsize=size)
    FigureCanvasAgg(fig)
    return fig


def _np(a) -> np.ndarray:
    return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


def degree_buckets(max_degree: int) -> list[tuple[int, int]]:
    """Inclusive ``(lo, hi)`` buckets 0, 1, 2, 3-4, 5-8, 9-16, 17-32 ...
    (powers of two) up to ``max_degree``."""
    buckets = [(0, 0), (1, 1), (2, 2)]
    lo = 3
    while lo <= max_degree:
        hi = 2 * (lo - 1)
        buckets.append((lo, hi))
        lo = hi + 1
    return [b for b in buckets if b[0] <= max(max_degree, 0)]


def _std(a: np.ndarray) -> np.ndarray:
    return a.std(axis=0, ddof=1) if a.shape[0] > 1 else np.zeros(a.shape[1])


def plot_accuracy_by_degree(
    degrees, correct_by_model: Mapping[str, object], path, *, mask=None, title: str | None = None
) -> Figure:
    """Accuracy (%) per degree bucket, one line per model, error bars = std
    over runs.

    Args:
        degrees: int ``[N]`` node degrees (use ``data.degree``, the original
            degree, under the cold-start split).
        correct_by_model: ``{model: bool [runs, N] or [N]}``, e.g.
            ``ProtocolResult.correct``.
        path: output file (format from the suffix, PNG by default).
        mask: optional bool ``[N]`` of the nodes to score (e.g. ``test_mask``).
    """
    deg = _np(degrees).reshape(-1).astype(np.int64)
    keep = np.ones_like(deg, dtype=bool) if mask is None else _np(mask).astype(bool)
    if keep.shape != deg.shape or not keep.any():
        raise ValueError(f"mask must be a bool array of length {deg.size} selecting at least one node")
    buckets = [(lo, hi) for lo, hi in degree_buckets(int(deg[keep].max())) if ((deg >= lo) & (deg <= hi) & keep).any()]
    members = [(deg >= lo) & (deg <= hi) & keep for lo, hi in buckets]
    labels = [
        (f"{lo}" if lo == hi else f"{lo}-{hi}") + f"\n(n={int(m.sum())})" for (lo, hi), m in zip(buckets, members)
    ]

    fig = _new_figure((max(6.0, 1.0 * len(buckets) + 2), 4.0))
    ax = fig.add_subplot()
    xs = np.arange(len(buckets))
    for i, (model, correct) in enumerate(correct_by_model.items()):
        c = _np(correct).astype(bool)
        c = c[None, :] if c.ndim == 1 else c
        if c.shape[1] != deg.size:
            raise ValueError(f"correct_by_model[{model!r}] has {c.shape[1]} nodes, degrees has {deg.size}")
        acc = np.stack([c[:, m].mean(axis=1) * 100 for m in members], axis=1)
        offset = (i - (len(correct_by_model) - 1) / 2) * 0.06
        ax.errorbar(xs + offset, acc.mean(axis=0), yerr=_std(acc), marker="o", capsize=3, label=model)
    ax.set_xticks(xs, labels)
    ax.set_xlabel("node degree")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.grid(axis="y", alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    save_figure(fig, path, **_SAVEFIG)
    return fig


def plot_group_accuracy(results: Mapping[str, object], path, *, title: str | None = None) -> Figure:
    """Grouped bar chart of a results JSON: groups on the x axis, one bar per
    model, error bars = std over runs."""
    validate_results(results)
    groups = [g for g in result_groups(results) if g != VAL_GROUP]  # test groups only
    models = list(results["results"])
    fig = _new_figure((max(6.0, 1.5 * len(groups) + 2), 4.0))
    ax = fig.add_subplot()
    width = 0.8 / len(models)
    xs = np.arange(len(groups))
    for i, model in enumerate(models):
        cells = results["results"][model]
        means = [cells[g]["mean"] if g in cells else np.nan for g in groups]
        stds = [cells[g]["std"] if g in cells else 0.0 for g in groups]
        ax.bar(xs + (i - (len(models) - 1) / 2) * width, means, width, yerr=stds, capsize=3, label=model)
    ax.set_xticks(xs, groups)
    ax.set_ylabel(_metric_label(results))
    if results["metric"] in PERCENT_METRICS:
        ax.set_ylim(0, 100)
    ax.grid(axis="y", alpha=0.3)
    ax.legend()
    ax.set_title(title or f"{results['dataset']} ({results['protocol']})")
    save_figure(fig, path, **_SAVEFIG)
    return fig


def plot_threshold_consistency(result, path, *, title: str | None = None, class_names=None) -> Figure:
    """Per-class TAR, FAR and utility (F1 of TAR and 1 - FAR) against the cosine threshold over the calibration
    range of a :class:`~graphlearn.evaluation.threshold.ThresholdConsistency`, one line per class; the dashed
    black line pools every pair (overall TAR / FAR). The title carries the OPIS."""
    t = np.asarray(result.thresholds)
    names = class_names if class_names is not None else {}
    fig = _new_figure((13.0, 4.0))
    axes = fig.subplots(1, 3, sharex=True)
    panels = (("TAR", result.tar, result.overall_tar), ("FAR", result.far, result.overall_far))
    for ax, (label, per_class, overall) in zip(axes, panels):
        for k, c in enumerate(result.classes):
            ax.plot(t, per_class[k], label=str(names[c]) if c in names else f"class {c}")
        ax.plot(t, overall, "k--", label="all pairs")
        ax.set_ylabel(label)
    for k, c in enumerate(result.classes):
        axes[2].plot(t, result.utility[k])
    axes[2].set_ylabel("utility (F1 of TAR, 1 - FAR)")
    for ax in axes:
        ax.set_xlabel("cosine threshold")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize="small")
    fig.suptitle((title + ": " if title else "") + f"OPIS {result.opis:.4g}")
    save_figure(fig, path, **_SAVEFIG)
    return fig
