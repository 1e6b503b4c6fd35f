"""Results JSON, tables and plots (graphlearn.evaluation.results / plots)."""

from __future__ import annotations

import copy
import json
import math

import matplotlib
import numpy as np
import pytest

from graphlearn.evaluation import (
    ProtocolResult,
    ResultsValidationError,
    format_table,
    make_results,
    to_markdown,
    validate_results,
)
from graphlearn.evaluation.plots import degree_buckets, plot_accuracy_by_degree, plot_group_accuracy

PNG = b"\x89PNG\r\n\x1a\n"


def cell(values):
    v = np.asarray(values, dtype=float)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)), "values": list(map(float, v))}


@pytest.fixture
def results():
    res = ProtocolResult(
        per_run=[{"overall": 81.0, "head": 90.0, "tail": 70.0}, {"overall": 82.0, "head": 91.0, "tail": 72.0}]
    )
    mlp = {"overall": cell([58.0, 60.0]), "isolated": cell([57.0, 59.0])}
    return make_results("cora", "coldstart", None, {"gcn": res, "mlp": mlp})


def test_make_results_shape(results):
    assert set(results) == {"dataset", "protocol", "metric", "run_id", "results"}
    assert results["metric"] == "acc" and results["run_id"] is None
    gcn = results["results"]["gcn"]["overall"]
    assert gcn == {"mean": 81.5, "std": pytest.approx(math.sqrt(0.5)), "values": [81.0, 82.0]}
    assert json.loads(json.dumps(results)) == results
    validate_results(json.loads(json.dumps(results)))
    with_extra = make_results(
        "cora", "standard", "abc", {"gcn": results["results"]["gcn"]}, extra={"split": {"seed": 0}}
    )
    assert with_extra["extra"] == {"split": {"seed": 0}} and with_extra["run_id"] == "abc"


def test_summary_uses_sample_std_like_ogb():
    res = ProtocolResult(per_run=[{"overall": v} for v in (80.0, 81.0, 83.0)])
    s = res.summary()["overall"]
    assert s["std"] == pytest.approx(np.std([80, 81, 83], ddof=1))
    assert ProtocolResult(per_run=[{"overall": 80.0}]).summary()["overall"]["std"] == 0.0


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda r: r.pop("run_id"), "missing key"),
        (lambda r: r.update(bogus=1), "unknown key"),
        (lambda r: r.update(dataset=""), "dataset"),
        (lambda r: r.update(run_id=5), "run_id"),
        (lambda r: r.update(results={}), "non-empty"),
        (lambda r: r["results"]["gcn"]["overall"].update(std=-1.0), "std"),
        (lambda r: r["results"]["gcn"]["overall"].update(mean=float("nan")), "finite"),
        (lambda r: r["results"]["gcn"]["overall"].update(values=[]), "values"),
        (lambda r: r["results"]["gcn"]["overall"].update(values=[1.0, "x"]), r"values'\]\[1\]"),
        (lambda r: r["results"]["gcn"]["overall"].update(mean=10.0), "not the mean"),
        (lambda r: r["results"]["gcn"]["overall"].pop("std"), "exactly the keys"),
        (lambda r: r["results"]["gcn"].update(head=[1, 2]), "head"),
    ],
)
def test_validate_rejects_malformed(results, mutate, match):
    bad = copy.deepcopy(results)
    mutate(bad)
    with pytest.raises(ResultsValidationError, match=match):
        validate_results(bad)
    assert issubclass(ResultsValidationError, ValueError)


def test_format_table(results):
    text = format_table(results)
    lines = text.splitlines()
    assert "cora" in lines[0] and "coldstart" in lines[0] and "2 runs" in lines[0]
    assert lines[1].split() == ["model", "overall", "head", "tail", "isolated"]
    gcn = next(l for l in lines if l.startswith("gcn"))
    assert "81.50 ± 0.71" in gcn and gcn.rstrip().endswith("-")
    mlp = next(l for l in lines if l.startswith("mlp"))
    assert "59.00 ± 1.41" in mlp


def test_to_markdown(results):
    md = to_markdown(results).splitlines()
    assert md[2] == "| model | overall | head | tail | isolated |"
    assert md[3].startswith("| --- |")
    assert md[4].startswith("| gcn | 81.50 ± 0.71 |")


def test_degree_buckets():
    assert degree_buckets(20) == [(0, 0), (1, 1), (2, 2), (3, 4), (5, 8), (9, 16), (17, 32)]
    assert degree_buckets(0) == [(0, 0)]


def test_plots_write_png(tmp_path, results):
    backend = matplotlib.get_backend()
    rng = np.random.default_rng(0)
    n = 200
    degrees = rng.integers(0, 40, n)
    correct = {"gcn": rng.random((3, n)) < 0.8, "mlp": rng.random(n) < 0.6}
    mask = np.zeros(n, dtype=bool)
    mask[50:] = True
    p1 = tmp_path / "deg" / "by_degree.png"
    fig = plot_accuracy_by_degree(degrees, correct, p1, mask=mask, title="t")
    assert p1.read_bytes().startswith(PNG) and fig is not None
    p2 = tmp_path / "groups.png"
    plot_group_accuracy(results, p2)
    assert p2.read_bytes().startswith(PNG)
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["by_degree.png", "groups.png"]
    assert matplotlib.get_backend() == backend  # no global backend switch
    with pytest.raises(ValueError, match="nodes"):
        plot_accuracy_by_degree(degrees, {"gcn": np.ones(n - 1, bool)}, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_degree_plot_has_an_isolated_bin_merges_tiny_bins_and_keeps_the_legend_off_the_data(tmp_path):
    rng = np.random.default_rng(1)
    n = 300
    degrees = rng.integers(1, 60, n)
    mask = np.ones(n, dtype=bool)
    isolated = np.zeros((2, n), dtype=bool)  # one cold-start split per run
    isolated[0, :40], isolated[1, 40:80] = True, True
    correct = {"student": rng.random((2, n)) < 0.7, "gcn": rng.random((2, n)) < 0.5}
    correct["gcn"][isolated] = False  # a GNN that fails every isolated node
    fig = plot_accuracy_by_degree(degrees, correct, tmp_path / "d.png", mask=mask, isolated=isolated, min_nodes=20)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[0] == "isolated\n(n=40)"
    sizes = [int(label.split("n=")[1].rstrip(")")) for label in labels[1:]]
    assert min(sizes) >= 20 and sum(sizes) == n - 40  # every node that kept its edges, in bins of >= 20
    (gcn,) = [c for c in ax.containers if c.get_label() == "gcn"]
    assert gcn.lines[0].get_ydata()[0] == 0.0  # the isolated bin scores each run on its own isolated nodes
    fig.canvas.draw()
    legend, frame = ax.get_legend().get_window_extent(), ax.get_window_extent()
    assert legend.x0 >= frame.x1  # beside the axes, not over the lines
    with pytest.raises(ValueError, match="isolated must be bool"):
        plot_accuracy_by_degree(degrees, correct, tmp_path / "x.png", isolated=np.zeros((3, n), bool))
