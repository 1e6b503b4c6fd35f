"""The results JSON shared by every results-producing command, and its
text / markdown renderings.

Shape (docs/design.md)::

    {"dataset": str, "protocol": str, "metric": "acc", "run_id": str | None,
     "results": {MODEL: {GROUP: {"mean": float, "std": float,
                                 "values": [float, ...]}}}}

GROUP is ``val`` (validation accuracy at the selected epoch, as OGB's "Highest Valid") or a test group
(``overall``, ``head``, ``tail``, ``isolated``; ``tran`` / ``ind`` under the inductive protocol).

plus an optional ``"extra": {...}`` object when ``make_results`` is given one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..data.splits import GROUPS, INDUCTIVE_GROUPS

REQUIRED_KEYS = ("dataset", "protocol", "metric", "run_id", "results")
OPTIONAL_KEYS = ("extra",)
CELL_KEYS = ("mean", "std", "values")


class ResultsValidationError(ValueError):
    """A results object does not follow the shared JSON shape."""


def _summary_of(name: str, obj: Any) -> dict[str, dict[str, Any]]:
    if hasattr(obj, "summary") and callable(obj.summary):
        # a ProtocolResult: its test groups and the validation accuracy of each run's selected epoch
        obj = obj.summary(include_val=True) if hasattr(obj, "best_val") and obj.best_val else obj.summary()
    if not isinstance(obj, Mapping):
        raise TypeError(
            f"results for model {name!r} must be a ProtocolResult or a "
            f"{{group: {{mean, std, values}}}} dict (got {type(obj).__name__})"
        )
    out = {}
    for group, cell in obj.items():
        if not isinstance(cell, Mapping):
            raise TypeError(f"results[{name!r}][{group!r}] must be a dict with {CELL_KEYS} (got {type(cell).__name__})")
        out[str(group)] = {
            "mean": float(cell["mean"]),
            "std": float(cell["std"]),
            "values": [float(v) for v in cell["values"]],
        }
    return out


def make_results(
    dataset: str,
    protocol: str,
    run_id: str | None,
    models: Mapping[str, Any],
    metric: str = "acc",
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Build (and validate) the results JSON.

    Args:
        dataset: registry name (``"cora"``).
        protocol: e.g. ``"standard"``, ``"coldstart"``, ``"inductive"``.
        run_id: MLflow parent run id, or ``None`` when not tracked.
        models: ``{model_name: ProtocolResult | summary dict}``.
        metric: ``"acc"`` (percent).
        extra: optional JSON-serialisable object stored under ``"extra"``.
    """
    obj: dict[str, Any] = {
        "dataset": dataset,
        "protocol": protocol,
        "metric": metric,
        "run_id": run_id,
        "results": {str(m): _summary_of(m, r) for m, r in models.items()},
    }
    if extra is not None:
        obj["extra"] = dict(extra)
    validate_results(obj)
    return obj


def _fail(where: str, msg: str) -> None:
    raise ResultsValidationError(f"{where}: {msg}")


def _number(where: str, v: Any) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        _fail(where, f"expected a finite number, got {v!r}")


def validate_results(obj: Any) -> None:
    """Raise :class:`ResultsValidationError` (a ``ValueError``) naming the first
    offending field when ``obj`` is not a well-formed results object."""
    if not isinstance(obj, Mapping):
        _fail("results JSON", f"expected an object, got {type(obj).__name__}")
    missing = [k for k in REQUIRED_KEYS if k not in obj]
    if missing:
        _fail("results JSON", f"missing key(s) {missing}")
    unknown = sorted(set(obj) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS))
    if unknown:
        _fail("results JSON", f"unknown key(s) {unknown}; allowed {list(REQUIRED_KEYS + OPTIONAL_KEYS)}")
    for key in ("dataset", "protocol", "metric"):
        if not isinstance(obj[key], str) or not obj[key]:
            _fail(key, f"expected a non-empty string, got {obj[key]!r}")
    if obj["run_id"] is not None and not isinstance(obj["run_id"], str):
        _fail("run_id", f"expected a string or null, got {obj['run_id']!r}")
    if "extra" in obj and not isinstance(obj["extra"], Mapping):
        _fail("extra", f"expected an object, got {type(obj['extra']).__name__}")
    results = obj["results"]
    if not isinstance(results, Mapping) or not results:
        _fail("results", "expected a non-empty object {model: {group: cell}}")
    for model, groups in results.items():
        where = f"results[{model!r}]"
        if not isinstance(model, str) or not model:
            _fail(where, "model names must be non-empty strings")
        if not isinstance(groups, Mapping) or not groups:
            _fail(where, "expected a non-empty object {group: cell}")
        for group, cell in groups.items():
            w = f"{where}[{group!r}]"
            if not isinstance(cell, Mapping):
                _fail(w, f"expected an object with {list(CELL_KEYS)}")
            if set(cell) != set(CELL_KEYS):
                _fail(w, f"expected exactly the keys {list(CELL_KEYS)}, got {sorted(cell)}")
            _number(f"{w}['mean']", cell["mean"])
            _number(f"{w}['std']", cell["std"])
            if cell["std"] < 0:
                _fail(f"{w}['std']", f"must be >= 0, got {cell['std']}")
            values = cell["values"]
            if not isinstance(values, list) or not values:
                _fail(f"{w}['values']", "expected a non-empty list of numbers")
            for i, v in enumerate(values):
                _number(f"{w}['values'][{i}]", v)
            mean = sum(values) / len(values)
            if abs(mean - cell["mean"]) > 1e-6 * max(1.0, abs(mean)):
                _fail(f"{w}['mean']", f"{cell['mean']} is not the mean of 'values' ({mean})")


#: The validation accuracy of the selected epoch / model (OGB's "Highest Valid"), reported beside the test groups.
VAL_GROUP = "val"
#: The same on the cold-start validation set (validation nodes made isolated like the isolated test nodes;
#: :class:`~graphlearn.data.splits.ColdStartSplit`), beside the ``isolated`` test group.
COLD_VAL_GROUP = "val_isolated"


def result_groups(results: Mapping[str, Any]) -> list[str]:
    """Groups present in ``results``: ``val`` and ``val_isolated`` first, then GROUPS order, tran/ind, then others."""
    seen: list[str] = []
    for groups in results["results"].values():
        for g in groups:
            if g not in seen:
                seen.append(g)
    order = [VAL_GROUP, COLD_VAL_GROUP, *GROUPS, *INDUCTIVE_GROUPS]
    return [g for g in order if g in seen] + sorted(g for g in seen if g not in order)


PERCENT_METRICS = ("acc",)


def _metric_label(results: Mapping[str, Any]) -> str:
    """``acc (%)``; other metrics (``mse``, ``rocauc``...) carry no unit."""
    metric = results["metric"]
    return f"{metric} (%)" if metric in PERCENT_METRICS else metric


def _cell(cell: Mapping[str, Any] | None) -> str:
    return "-" if cell is None else f"{cell['mean']:.2f} ± {cell['std']:.2f}"


def _runs(results: Mapping[str, Any]) -> str:
    n = {len(c["values"]) for g in results["results"].values() for c in g.values()}
    return str(n.pop()) if len(n) == 1 else f"{min(n)}-{max(n)}"


def _rows(results: Mapping[str, Any]):
    cols = result_groups(results)
    header = ["model"] + cols
    rows = [[m] + [_cell(groups.get(g)) for g in cols] for m, groups in results["results"].items()]
    return header, rows


def format_table(results: Mapping[str, Any]) -> str:
    """OGB-style plain-text table: one row per model, one column per group,
    cells ``mean ± std`` in percent."""
    validate_results(results)
    header, rows = _rows(results)
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    fmt = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
    title = (
        f"{results['dataset']} | protocol: {results['protocol']} | "
        f"{_metric_label(results)} mean ± std over {_runs(results)} runs"
    )
    lines = [title, fmt(header), fmt(["-" * w for w in widths])]
    lines += [fmt(r) for r in rows]
    return "\n".join(lines)


def to_markdown(results: Mapping[str, Any]) -> str:
    """The same table as GitHub-flavoured markdown."""
    validate_results(results)
    header, rows = _rows(results)
    lines = [
        f"**{results['dataset']}**, protocol `{results['protocol']}`, "
        f"{_metric_label(results)} mean ± std over {_runs(results)} runs",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join([" --- "] + [" ---: "] * (len(header) - 1)) + "|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)
