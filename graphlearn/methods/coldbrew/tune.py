"""The Cold Brew student's settings, chosen per dataset on the cold-start validation set.

Every choice the student makes (which teacher it distils, how many virtual neighbours, their temperature, the weight
of distillation, ...) used to be scored on validation nodes that keep their edges, which cannot see what helps or
hurts nodes with none. A search scores candidate settings on the **cold-start validation set** (``val_isolated_mask``
of :class:`~graphlearn.data.splits.ColdStartSplit`: validation nodes chosen and made isolated exactly as the isolated
test nodes, never labelled in training) and keeps one setting **per dataset**: the one with the highest mean
accuracy on that set over the job's seeds (ties: the mean accuracy on the whole validation set, then the earlier
candidate). One seed's cold-start validation set is small (Cora: 42-58 nodes), too small to rank settings that
differ by a point or two; pooled over ten seeds it is ten times larger. Test labels are never read.

The candidates are the configured setting first, then settings that change one of its keys to another value of a
small categorical space, in an order drawn with the job's seed, then (for a larger budget) random draws of every key
(scikit-learn's :class:`~sklearn.model_selection.ParameterSampler`): every seed trains the same candidates, so their
scores pool. :func:`~graphlearn.methods.coldbrew.run_coldbrew` trains
them beside the configured student (``candidates=``), and :func:`choose` picks from every seed's scores.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from graphlearn.config import parse_value

__all__ = [
    "CANDIDATE",
    "DEFAULT_SPACE",
    "DEFAULT_TRIALS",
    "TUNABLE",
    "candidate_name",
    "candidate_settings",
    "check_space",
    "choose",
    "default_space",
    "parse_space",
]

#: ``graphlearn coldbrew --tune``'s default budget: candidate settings, each trained on every seed and protocol; with
#: the default space and configuration it is the configured setting and every one-key change of it (the configured
#: teacher, "auto", is chosen per seed, so both teachers are candidates).
DEFAULT_TRIALS = 8

#: The default search space: ``ColdBrewConfig`` key -> the values tried. Small and categorical: the changes the
#: Cora ablation (benchmarks/results/coldbrew_ablation_cora.md) found closest to, or above, the configured student
#: on the cold-start validation set; the teacher with or without SE is the paper's own question. KD weight, the
#: embedding query and cross-fitting (which multiplies MLP1's cost) scored lower there and are left to
#: ``--tune-space``.
DEFAULT_SPACE: dict[str, tuple] = {
    "student_teacher": ("GNN", "GNN+SE"),
    "feature_head": (0.0, 0.5, 1.0),
    "k": (10, 50),
    "temperature": (0.03, 0.1),
    "student_dropout": (0.5, 0.8),
}

#: The keys a search may vary: the student's own settings (the teachers and baselines are trained once per seed).
TUNABLE = (
    "student_teacher",
    "student_hidden",
    "student_layers",
    "student_dropout",
    "k",
    "temperature",
    "metric",
    "query",
    "kd_weight",
    "mlp1_folds",
    "feature_head",
    "student_lr",
    "student_weight_decay",
)

#: Model name of candidate ``i`` (``i >= 1``) in :func:`~graphlearn.methods.coldbrew.run_coldbrew`'s results; the
#: configured setting (candidate 0) is the ``"ColdBrew"`` model itself.
CANDIDATE = "ColdBrew/c{}"


def candidate_name(i: int) -> str:
    return "ColdBrew" if i == 0 else CANDIDATE.format(i)


def parse_space(items: Sequence[str] | None) -> dict[str, tuple]:
    """``["k=10,50", "query=features"]`` -> ``{"k": (10, 50), "query": ("features",)}`` (each value parsed like a
    ``--set`` value), then checked by :func:`check_space`.

    Raises:
        ValueError: an item without ``=``, a key the student does not have, an empty list or an invalid value.
    """
    space: dict[str, tuple] = {}
    for item in items or ():
        key, sep, values = str(item).partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"--tune-space expects KEY=V1,V2,..., got {item!r}")
        space[key] = tuple(parse_value(v.strip()) for v in values.split(",") if v.strip())
    return check_space(space)


def check_space(space: Mapping[str, Sequence], config=None) -> dict[str, tuple]:
    """``space`` with every key in :data:`TUNABLE` and every value valid for ``config`` (a ``ColdBrewConfig``, the
    defaults when ``None``): each value is applied with ``config.replace`` so its range and choices are checked.

    Raises:
        ValueError: naming the unknown key (and the valid ones), the key with no values, or the invalid value.
    """
    from .run import ColdBrewConfig  # noqa: PLC0415  (run imports this module)

    config = config or ColdBrewConfig()
    out: dict[str, tuple] = {}
    for key, values in space.items():
        if key not in TUNABLE:
            raise ValueError(
                f"the search space has key {key!r}, which the student does not have; choose from {list(TUNABLE)}"
            )
        values = tuple(values)
        if not values:
            raise ValueError(f"the search space gives no value for {key!r}")
        for value in values:
            try:
                config.replace(**{key: value})
            except ValueError as exc:
                raise ValueError(f"the search space value {key}={value!r} is invalid: {exc}") from None
        out[key] = values
    return out


def default_space(config, data) -> dict[str, tuple]:
    """:data:`DEFAULT_SPACE` fitted to ``config`` and the split graph ``data``: the ``k`` values below half the nodes
    that have an edge (a small graph has fewer candidates than the largest ``k``) and the teachers in
    ``config.models``."""
    from graphlearn.data.splits import node_degree  # noqa: PLC0415

    with_edges = int((node_degree(data.edge_index, data.num_nodes) > 0).sum())
    teachers = tuple(t for t in DEFAULT_SPACE["student_teacher"] if t in config.models) or (config.student_teacher,)
    return {
        **DEFAULT_SPACE,
        "k": tuple(k for k in DEFAULT_SPACE["k"] if k < with_edges // 2) or (config.k,),
        "student_teacher": teachers,
    }


def candidate_settings(config, trials: int, seed: int = 0, space: Mapping[str, Sequence] | None = None) -> list[dict]:
    """The settings a search trains, each a dict of ``ColdBrewConfig`` overrides: ``{}`` (the configured setting),
    then the settings that change **one** key of it to another value of ``space`` (:data:`DEFAULT_SPACE` when
    ``None``), in a seeded random order, then, if the budget is larger than those, distinct random draws of every key
    (scikit-learn's :class:`~sklearn.model_selection.ParameterSampler`, seeded). With a small budget, one change at a
    time keeps what the configured setting does well and tells what each change does; the order is random so that no
    key is always tried first. A space with fewer settings than the budget gives all of them.

    Raises:
        ValueError: a budget below 1 or an invalid space (:func:`check_space`).
    """
    import random  # noqa: PLC0415

    from sklearn.model_selection import ParameterSampler  # noqa: PLC0415

    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ValueError(f"the search budget must be an integer >= 1 candidate (got {trials!r})")
    space = check_space(DEFAULT_SPACE if space is None else space, config)
    start = {k: getattr(config, k) for k in space}
    singles = [{k: v} for k, values in space.items() for v in values if v != start[k]]
    random.Random(seed).shuffle(singles)
    out: list[dict] = [{}, *singles[: trials - 1]]
    if len(out) < trials:
        size = math.prod(len(v) for v in space.values())
        for draw in ParameterSampler({k: list(v) for k, v in space.items()}, n_iter=size, random_state=seed):
            change = {k: draw[k] for k in space if draw[k] != start[k]}  # only what differs from the configured one
            if len(out) < trials and change and change not in out:
                out.append(change)
    return out


def choose(scores: Sequence[Sequence[tuple[float, float]]]) -> int:
    """The candidate kept: ``scores[s][i] = (cold-start validation accuracy, validation accuracy)`` of candidate ``i``
    on seed ``s``; the highest mean of the first over seeds, ties by the mean of the second, then the lower index.
    NaN scores (a seed without a cold-start validation node) are left out of a mean.

    Raises:
        ValueError: no seed, or no candidate with a cold-start validation score.
    """
    if not scores:
        raise ValueError("no seed to choose the student's setting from")
    n = len(scores[0])

    def mean(i: int, j: int) -> float:
        vals = [seed[i][j] for seed in scores if not math.isnan(seed[i][j])]
        return sum(vals) / len(vals) if vals else -math.inf

    best = max(range(n), key=lambda i: (mean(i, 0), mean(i, 1), -i))
    if mean(best, 0) == -math.inf:
        raise ValueError(
            "the cold-start validation set is empty on every seed: no validation node is among the nodes the "
            "cold-start split made isolated; raise the split's isolated fraction or use more validation nodes"
        )
    return best


def summary(
    settings: Sequence[Mapping[str, Any]], scores: Sequence[Sequence[tuple[float, float]]], kept: int, config=None
):
    """One row per candidate: its setting (with ``config``, only what differs from it), mean cold-start validation
    and validation accuracy, and whether it was kept (for the results file and the report)."""
    rows = []
    for i, setting in enumerate(settings):
        if config is not None:
            setting = {k: v for k, v in setting.items() if v != getattr(config, k)}
        cold = [s[i][0] for s in scores if not math.isnan(s[i][0])]
        val = [s[i][1] for s in scores if not math.isnan(s[i][1])]
        rows.append(
            {
                "candidate": i,
                "setting": dict(setting) or "configured",
                "val_isolated": sum(cold) / len(cold) if cold else None,
                "val": sum(val) / len(val) if val else None,
                "seeds": len(cold),
                "kept": i == kept,
            }
        )
    return rows
