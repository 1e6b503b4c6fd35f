"""The Cold Brew student's settings, searched on the cold-start validation set.

Every choice the student makes (which teacher it distils, how many virtual neighbours, their temperature, the weight
of distillation, ...) used to be scored on validation nodes that keep their edges, which cannot see what helps or
hurts nodes with none. :func:`tune_student` scores each candidate setting on the **cold-start validation set**
(``val_isolated_mask`` of :class:`~graphlearn.data.splits.ColdStartSplit`: validation nodes chosen and made isolated
exactly as the isolated test nodes, never labelled in training) and keeps the best, ties going to the higher accuracy
on the whole validation set. The search is Optuna's TPE sampler (seeded: the same seed gives the same trials) over a
small categorical space; its first trial is always the configured setting (added to a key's values when they lack
it), so the search can only keep a setting that does at least as well on the cold-start validation set. Test labels
are never read.

The budget (``trials``) is the number of students trained per seed (a repeated setting is not trained again).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Data

from graphlearn.config import parse_value
from graphlearn.evaluation import accuracy

__all__ = ["DEFAULT_SPACE", "DEFAULT_TRIALS", "TUNABLE", "TuneResult", "check_space", "parse_space", "tune_student"]

#: ``graphlearn coldbrew --tune``'s default budget: students trained per seed (about 3-5 s each on Cora, 1 thread).
DEFAULT_TRIALS = 8

#: The default search space: ``ColdBrewConfig`` key -> the values tried. Kept small and categorical so that a budget
#: of a few trials covers it sensibly; cross-fitting (``mlp1_folds``) is left out because it multiplies MLP1's cost.
DEFAULT_SPACE: dict[str, tuple] = {
    "student_teacher": ("GNN", "GNN+SE"),
    "k": (10, 50, 200),
    "temperature": (0.03, 0.1, 0.3),
    "kd_weight": (1.0, 10.0, 100.0),
    "query": ("features", "embedding"),
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
    "student_lr",
    "student_weight_decay",
)


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


@dataclass
class TuneResult:
    """What :func:`tune_student` tried and kept."""

    best: dict[str, Any]  #: the kept setting (keys of the space)
    best_trial: int
    trials: list[dict[str, Any]] = field(default_factory=list)  #: per trial: number, params, val_isolated, val

    def to_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_trial": self.best_trial, "trials": self.trials}


def _score(logits: Tensor, y: Tensor, mask: Tensor) -> float:
    return accuracy(y, logits.argmax(-1), mask) if bool(mask.any()) else math.nan


def tune_student(
    data: Data,
    config,
    teachers: Mapping[str, tuple[Tensor, Tensor]],
    *,
    trials: int = DEFAULT_TRIALS,
    seed: int = 0,
    space: Mapping[str, Sequence] | None = None,
    on_trial: Callable[[dict[str, Any]], None] | None = None,
    on_epoch: Callable | None = None,
    train: Callable | None = None,
):
    """Search the student's settings on the cold-start validation set of ``data`` and return the best student.

    Args:
        data: a :class:`~graphlearn.data.splits.ColdStartSplit` graph (its ``val_isolated_mask`` is the score).
        config: the ``ColdBrewConfig`` the search starts from (its values are the first trial; keys outside the
            space keep them).
        teachers: ``{"GNN": (embeddings, logits), "GNN+SE": ...}``, the trained teachers the student may distil.
        trials (int): the budget: settings tried (>= 1).
        seed (int): seeds the sampler and every student (``stage_seed(seed, "ColdBrew")``, as without a search).
        space: key -> values (:data:`DEFAULT_SPACE` when ``None``); ``student_teacher`` values must be in
            ``teachers``.
        on_trial: called with each trial's record (``number``, ``params``, ``val_isolated``, ``val``).
        on_epoch: ``on_epoch(stage, epoch, metrics)``, called after the search with the kept student's training
            curves (stages as in :meth:`ColdBrewStudent.fit`).
        train: ``train(data, config, embeddings, logits, seed=..., on_epoch=...) -> (student, history)``; default
            :func:`~graphlearn.methods.coldbrew.run.train_student`.

    Returns:
        ``(student, history, config of the kept setting, TuneResult, logits [N, C] of the first trial's student)``
        (the first trial is ``config`` itself: the search's ablation comes for free).

    Raises:
        ValueError: a budget below 1, an empty cold-start validation set, an invalid space or a teacher not trained.
    """
    import optuna  # noqa: PLC0415  (only when a search is asked for)

    from .run import train_student  # noqa: PLC0415

    train = train or train_student
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ValueError(f"the search budget must be an integer >= 1 trial (got {trials!r})")
    cold = getattr(data, "val_isolated_mask", None)
    if cold is None or not bool(cold.any()):
        raise ValueError(
            "the cold-start validation set is empty: no validation node is among the nodes the cold-start split made "
            f"isolated ({0 if cold is None else int(cold.sum())} nodes); raise ColdStartSplit's isolated fraction or "
            "use a split with more validation nodes"
        )
    space = check_space(DEFAULT_SPACE if space is None else space, config)
    for name in space.get("student_teacher", ()):
        if name not in teachers:
            raise ValueError(
                f"the search space names teacher {name!r}, which was not trained; trained: {sorted(teachers)}"
            )
    start = {k: getattr(config, k) for k in space}
    if start.get("student_teacher") == "auto":
        start["student_teacher"] = space["student_teacher"][0]
    # the configured setting is always a candidate (the first trial), so a search never keeps worse on the set
    space = {k: v if start[k] in v else (start[k], *v) for k, v in space.items()}
    kept: dict[str, Any] = {}
    first: dict[str, Tensor] = {}
    seen: dict[tuple, float] = {}
    records: list[dict[str, Any]] = []

    def objective(trial) -> float:
        params = {k: trial.suggest_categorical(k, list(v)) for k, v in space.items()}
        key = tuple(sorted(params.items(), key=lambda kv: kv[0]))
        if key in seen:  # TPE may propose a setting again: same seed, same student, same score
            return seen[key]
        cfg = config.replace(**params)
        teacher = params.get("student_teacher", config.student_teacher)
        if teacher == "auto":
            teacher = next(iter(teachers))
        emb, logits = teachers[teacher]
        curves: list[tuple] = []
        student, history = train(data, cfg, emb, logits, seed=seed, on_epoch=lambda *a: curves.append(a))
        with torch.no_grad():
            out = student.logits(data.x, self_index=torch.arange(data.num_nodes, device=data.x.device))
        record = {
            "number": trial.number,
            "params": params,
            "val_isolated": _score(out, data.y, cold),
            "val": _score(out, data.y, data.val_mask),
        }
        records.append(record)
        if not first:
            first["logits"] = out
        if on_trial is not None:
            on_trial(record)
        rank = (record["val_isolated"], -math.inf if math.isnan(record["val"]) else record["val"])
        if not kept or rank > kept["rank"]:
            kept.update(
                rank=rank, student=student, history=history, config=cfg, teacher=teacher, record=record, curves=curves
            )
        # one objective for the sampler: the cold-start accuracy, the whole validation set only breaking ties
        score = record["val_isolated"] + 1e-4 * (0.0 if math.isnan(record["val"]) else record["val"])
        seen[key] = score
        return score

    optuna.logging.set_verbosity(logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.enqueue_trial(start)
    seen_before = 0
    while len(records) < trials:  # a repeated proposal costs nothing and does not count against the budget
        study.optimize(objective, n_trials=1)
        seen_before += 1
        if seen_before >= 20 * trials:  # the space is smaller than the budget: everything was tried
            break
    if on_epoch is not None:
        for args in kept["curves"]:
            on_epoch(*args)
    cfg = kept["config"].replace(student_teacher=kept["teacher"])
    result = TuneResult(best=kept["record"]["params"], best_trial=kept["record"]["number"], trials=records)
    return kept["student"], kept["history"], cfg, result, first["logits"]
