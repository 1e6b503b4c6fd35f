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
from .results import COLD_VAL_GROUP, PERCENT_METRICS, VAL_GROUP, _metric_label, result_groups, validate_results

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


def _merge_small(buckets: list[tuple[int, int]], counts: list[int], min_nodes: int) -> list[tuple[int, int]]:
    """Adjacent degree buckets joined until each holds at least ``min_nodes`` nodes (a small last one joins the
    previous), so that bins of a handful of nodes do not set the scale."""
    merged: list[list[int]] = []
    total = 0
    for (lo, hi), n in zip(buckets, counts):
        if merged and total < min_nodes:
            merged[-1][1], total = hi, total + n
        else:
            merged.append([lo, hi])
            total = n
    if len(merged) > 1 and total < min_nodes:
        last = merged.pop()
        merged[-1][1] = last[1]
    return [(lo, hi) for lo, hi in merged]


def plot_accuracy_by_degree(
    degrees,
    correct_by_model: Mapping[str, object],
    path,
    *,
    mask=None,
    title: str | None = None,
    isolated=None,
    min_nodes: int = 20,
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
        isolated: optional bool ``[N]`` or ``[runs, N]`` (one per run, when each run has its own split): the nodes
            the cold-start split made isolated. They get their own first bin, ``isolated``, and leave the degree
            bins, which then hold the nodes that kept their edges (by original degree).
        min_nodes: adjacent degree bins are merged until each holds at least this many scored nodes (per run).
    """
    deg = _np(degrees).reshape(-1).astype(np.int64)
    keep = np.ones_like(deg, dtype=bool) if mask is None else _np(mask).astype(bool)
    if keep.shape != deg.shape or not keep.any():
        raise ValueError(f"mask must be a bool array of length {deg.size} selecting at least one node")
    models = {}
    for model, correct in correct_by_model.items():
        c = _np(correct).astype(bool)
        c = c[None, :] if c.ndim == 1 else c
        if c.shape[1] != deg.size:
            raise ValueError(f"correct_by_model[{model!r}] has {c.shape[1]} nodes, degrees has {deg.size}")
        models[model] = c
    runs = max((c.shape[0] for c in models.values()), default=1)
    iso = np.zeros((1, deg.size), dtype=bool) if isolated is None else _np(isolated).astype(bool)
    iso = iso[None, :] if iso.ndim == 1 else iso
    if iso.shape[1] != deg.size or iso.shape[0] not in (1, runs):
        raise ValueError(f"isolated must be bool [{deg.size}] or [{runs}, {deg.size}] (got {list(iso.shape)})")
    iso = np.broadcast_to(iso, (runs, deg.size)) & keep
    rest = keep & ~iso  # [runs, N]: scored nodes that kept their edges
    scored = deg[rest.any(0)]
    buckets = [(lo, hi) for lo, hi in degree_buckets(int(scored.max()) if scored.size else 0)]
    counts = [int(((deg >= lo) & (deg <= hi) & rest[0]).sum()) for lo, hi in buckets]
    buckets = [b for b, n in zip(buckets, counts) if n] or buckets[:1]
    counts = [int(((deg >= lo) & (deg <= hi) & rest[0]).sum()) for lo, hi in buckets]
    buckets = _merge_small(buckets, counts, min_nodes)
    members = [(deg >= lo) & (deg <= hi) & rest for lo, hi in buckets]  # each [runs, N]
    labels = [
        (f"{lo}" if lo == hi else f"{lo}-{hi}") + f"\n(n={int(m[0].sum())})" for (lo, hi), m in zip(buckets, members)
    ]
    if iso.any():
        members.insert(0, iso)
        labels.insert(0, f"isolated\n(n={int(iso[0].sum())})")

    fig = _new_figure((max(7.0, 1.0 * len(members) + 3.5), 4.0))
    ax = fig.add_subplot()
    xs = np.arange(len(members))
    for i, (model, c) in enumerate(models.items()):
        acc = np.stack(
            [
                np.array(
                    [c[r, m[min(r, m.shape[0] - 1)]].mean() * 100 if m[r].any() else np.nan for r in range(c.shape[0])]
                )
                for m in members
            ],
            axis=1,
        )
        offset = (i - (len(models) - 1) / 2) * 0.06
        ax.errorbar(xs + offset, np.nanmean(acc, axis=0), yerr=_std(acc), marker="o", capsize=3, label=model)
    ax.set_xticks(xs, labels)
    if iso.any():
        ax.axvline(0.5, color="0.7", linewidth=0.8)
    ax.set_xlabel("node degree (isolated: no edge in the training graph)" if iso.any() else "node degree")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, frameon=False)  # off the data
    if title:
        ax.set_title(title)
    fig.tight_layout()
    save_figure(fig, path, **_SAVEFIG)
    return fig


def plot_group_accuracy(results: Mapping[str, object], path, *, title: str | None = None) -> Figure:
    """Grouped bar chart of a results JSON: groups on the x axis, one bar per
    model, error bars = std over runs."""
    validate_results(results)
    groups = [g for g in result_groups(results) if g not in (VAL_GROUP, COLD_VAL_GROUP)]  # test groups only
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
