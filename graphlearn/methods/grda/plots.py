"""Plot the domain graph with every domain coloured by a per-domain metric. Built on ``matplotlib.figure.Figure``
with an Agg canvas, like :mod:`graphlearn.evaluation.plots`: the process-wide backend is left alone (pyplot is not
used, so no figure is kept open by it either)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def plot_domain_graph(
    adjacency: np.ndarray,
    positions: np.ndarray,
    source: np.ndarray,
    domain_ids: Sequence[str],
    values_by_model: Mapping[str, Sequence[float]],
    metric: str,
    title: str = "",
):
    """One panel per model: edges in grey, domains at ``positions`` coloured by ``values`` (accuracy: higher is
    better, green; MSE: lower is better, green too), sources drawn as squares, targets as circles.

    Returns the matplotlib ``Figure`` (the caller saves it, e.g. with :func:`graphlearn.io.save_figure`, or logs it).
    """
    pos = np.asarray(positions, dtype=float)
    a = np.asarray(adjacency)
    src = np.asarray(source, dtype=bool)
    models = list(values_by_model)
    all_vals = np.concatenate([np.asarray(v, dtype=float) for v in values_by_model.values()])
    cmap = "RdYlGn" if metric == "acc" else "RdYlGn_r"
    vmin, vmax = (0.0, 100.0) if metric == "acc" else (0.0, float(np.nanmax(all_vals)) or 1.0)
    fig = Figure(figsize=(5.2 * len(models), 4.6))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(models), squeeze=False)
    iu, ju = np.nonzero(np.triu(a > 0, k=1))
    for ax, name in zip(axes[0], models):
        vals = np.asarray(values_by_model[name], dtype=float)
        for i, j in zip(iu, ju):
            ax.plot(pos[[i, j], 0], pos[[i, j], 1], color="0.8", lw=0.6, zorder=1)
        sc = None
        for mask, marker in ((src, "s"), (~src, "o")):
            sc = ax.scatter(
                pos[mask, 0],
                pos[mask, 1],
                c=vals[mask],
                cmap=cmap,
                vmin=vmin,
                vmax=vmax,
                marker=marker,
                s=150,
                edgecolors="k",
                linewidths=2.0 if marker == "s" else 0.6,
                zorder=2,
            )
        if len(domain_ids) <= 64:
            for k, label in enumerate(domain_ids):
                ax.annotate(str(label), pos[k], fontsize=6, ha="center", va="center", zorder=3)
        tgt = vals[~src].mean()
        ax.set_title(f"{name}: target {metric} {tgt:.2f}")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_aspect("equal", adjustable="datalim")
        fig.colorbar(sc, ax=ax, shrink=0.7, label=metric)
    if title:
        fig.suptitle(f"{title}  (squares: source domains)")
    fig.tight_layout()
    return fig
