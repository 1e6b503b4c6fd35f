"""plot_domain_graph builds its figure on an Agg canvas and leaves matplotlib's process-wide backend alone."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from graphlearn.methods.grda.plots import plot_domain_graph

ROOT = Path(__file__).resolve().parents[2]


def _args(n: int = 6):
    a = np.zeros((n, n), dtype=np.float32)
    i = np.arange(n - 1)
    a[i, i + 1] = a[i + 1, i] = 1
    rng = np.random.default_rng(0)
    values = {"GRDA": rng.uniform(0, 100, n), "DANN": rng.uniform(0, 100, n)}
    return a, rng.normal(size=(n, 2)), np.arange(n) < 2, [f"d{k}" for k in range(n)], values, "acc", "toy"


def test_plot_domain_graph_draws_one_panel_per_model():
    fig = plot_domain_graph(*_args())
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 4  # two panels, two colour bars
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert buf.getvalue().startswith(b"\x89PNG")


def test_plot_domain_graph_leaves_the_backend_alone():
    # In a fresh interpreter whose backend is svg: the old code called matplotlib.use("Agg") for the whole process.
    code = (
        "import sys, matplotlib; sys.path.insert(0, sys.argv[1]); from tests.methods.test_grda_plots import _args\n"
        "from graphlearn.methods.grda.plots import plot_domain_graph\n"
        "plot_domain_graph(*_args())\n"
        "print(matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules)\n"
    )
    env = dict(os.environ, MPLBACKEND="svg")
    out = subprocess.run(
        [sys.executable, "-c", code, str(ROOT)], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["svg", "False"]
