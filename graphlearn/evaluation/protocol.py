"""The OGB leaderboard protocol, seeded: N runs, each resetting the model and
the optimiser, full-batch training, test accuracy read at the epoch of best
validation accuracy, reported per degree group as mean ± std.

Logging is a callback (``on_epoch``) so the library never imports MLflow.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import Data

from .. import sparse
from ..data.splits import group_masks
from ..training import FULL_BATCH_ROWS, EpochCallback, deterministic, fit, minibatches, seed_everything
from .metrics import accuracy

if TYPE_CHECKING:
    from ..distributed import Context

ModelFn = torch.nn.Module | Callable[[], torch.nn.Module]


def summarize(values: list[float]) -> dict[str, Any]:
    """``{"mean", "std", "values"}``. ``std`` is the sample standard deviation
    (ddof=1), as OGB's ``Logger`` (``torch.std``); 0.0 for a single run."""
    v = np.asarray(values, dtype=np.float64)
    std = float(v.std(ddof=1)) if v.size > 1 else 0.0
    return {"mean": float(v.mean()), "std": std, "values": [float(x) for x in v]}


@dataclass
class ProtocolResult:
    """Outcome of :func:`run_protocol`.

    Attributes:
        per_run: test accuracy (%) per group at the best-validation epoch.
        curves: per run, per epoch metrics (``loss``, ``train``, ``val`` and
            every group), as passed to ``on_epoch``.
        best_epochs: 1-based best-validation epoch per run.
        best_val: validation accuracy (%) at that epoch, per run.
        correct: bool ``[runs, N]``: node predicted correctly at the best epoch.
        wall_time: seconds per run (training + per-epoch evaluation).
        config: the protocol settings.
        models: with ``keep_models``, per run the model's ``state_dict`` (CPU tensors) at the best-validation epoch.
    """

    per_run: list[dict[str, float]] = field(default_factory=list)
    curves: list[list[dict[str, float]]] = field(default_factory=list)
    best_epochs: list[int] = field(default_factory=list)
    best_val: list[float] = field(default_factory=list)
    correct: np.ndarray | None = None
    wall_time: list[float] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    models: list[dict[str, Tensor]] = field(default_factory=list)

    @property
    def groups(self) -> list[str]:
        return list(self.per_run[0]) if self.per_run else []

    def summary(self, include_val: bool = False) -> dict[str, dict[str, Any]]:
        """``{group: {"mean", "std", "values"}}`` over runs (sample std)."""
        out = {g: summarize([r[g] for r in self.per_run]) for g in self.groups}
        if include_val:
            out["val"] = summarize(self.best_val)
        return out

    def __repr__(self) -> str:
        s = self.summary()
        cells = ", ".join(f"{g}={v['mean']:.2f}±{v['std']:.2f}" for g, v in s.items())
        return f"ProtocolResult(runs={len(self.per_run)}, {cells})"


def _new_model(model_fn: ModelFn) -> torch.nn.Module:
    model = model_fn if isinstance(model_fn, torch.nn.Module) else model_fn()
    if not hasattr(model, "reset_parameters"):
        raise TypeError(f"{type(model).__name__} has no reset_parameters(); the protocol resets every run")
    model.reset_parameters()
    return model


def _check_masks(data: Data) -> None:
    for name in ("train_mask", "val_mask", "test_mask"):
        m = getattr(data, name, None)
        if m is None or not bool(m.any()):
            raise ValueError(f"data.{name} is missing or selects no node; the protocol needs train, val and test nodes")


def run_protocol(
    model_fn: ModelFn,
    data: Data,
    *,
    runs: int = 10,
    epochs: int = 200,
    lr: float = 0.01,
    weight_decay: float = 5e-4,
    seed: int = 0,
    patience: int | None = None,
    on_epoch: EpochCallback | None = None,
    progress: bool = True,
    deterministic_algorithms: bool = True,
    label: str | None = None,
    keep_models: bool = False,
    parallel: Context | None = None,
    batch_size: int = 0,
    full_batch_rows: int = FULL_BATCH_ROWS,
    num_neighbors: list[int] | tuple[int, ...] | None = None,
) -> ProtocolResult:
    """Train and evaluate ``runs`` times under the OGB protocol.

    Run ``r`` seeds everything with ``seed + r``, builds the model
    (``model_fn()``, or re-uses ``model_fn`` if it is a module) and calls
    ``reset_parameters()``, creates a fresh Adam optimiser and trains full
    batch for ``epochs`` epochs on ``data.train_mask`` (cross-entropy on
    logits). After every epoch one evaluation forward scores train, val and
    each test group of :func:`~graphlearn.data.splits.group_masks`; the test
    numbers of the epoch with the highest validation accuracy (earliest on
    ties) are that run's result. ``patience`` stops a run after that many
    epochs without a validation improvement.

    A model with ``preprocess(x, edge_index)`` (SIGN, SGC) has it called once
    per graph; its output replaces ``x``. Under the GLNN inductive split
    (``data.full_edge_index`` / ``data.test_ind_mask``) training and the
    evaluation of train/val/transductive-test nodes use the observed
    ``edge_index``, and held-out nodes are predicted with a second forward on
    ``full_edge_index``; ``overall`` then equals GLNN's count-weighted mix.

    Args:
        on_epoch: ``on_epoch(stage, epoch, metrics)`` after every epoch (``stage`` is ``"run<r>"``, or
            ``"<label> seed=<seed + r>"`` with ``label``; ``epoch`` 1-based; ``metrics`` has ``loss``, ``train``,
            ``val`` and one key per group, accuracies in percent; see :mod:`graphlearn.training`).
        progress: show a tqdm bar per run (epoch, metrics), named by its stage.
        label: names the runs' stage (and bar) after the model, e.g. ``"gcn"`` -> ``"gcn seed=3"``.
        deterministic_algorithms: run under :func:`deterministic`.
        keep_models: keep each run's model at its best-validation epoch in ``ProtocolResult.models`` (the model's
            numbers are unchanged: selection already scores that epoch).
        parallel: train data-parallel over the ranks of a ``torch.distributed`` job (:mod:`graphlearn.distributed`),
            for models whose rows are independent once preprocessed (``row_independent``: MLP, SIGN, SGC; others are
            a ``ValueError``). Each rank trains on its share of the training nodes (:func:`_data_parallel`) and
            predicts its share of all nodes for the evaluation, which every rank then scores alike. Ranks other
            than 0 draw their own dropout masks. With one process (``None``, or a world size of 1) this is the
            single-process protocol, bit for bit.
        batch_size, full_batch_rows: mini-batch training for models whose rows are independent once preprocessed
            (``row_independent``: MLP, SIGN, SGC; others are a ``ValueError``): with ``batch_size > 0`` and more
            than ``full_batch_rows`` training nodes, every epoch is a pass of steps over the training nodes in
            batches of about ``batch_size`` (:func:`graphlearn.training.minibatches`). Not with ``parallel``.
            (default: ``0``: one full-batch step per epoch)
        num_neighbors: neighbour sampling for graph models (GraphSAGE on a large graph): every epoch is a pass of
            steps over the training nodes in batches of about ``batch_size`` seed nodes (``full_batch_rows`` is
            not consulted), each step's loss computed on the subgraph PyG's ``NeighborLoader`` samples around its
            seeds (``num_neighbors[l]`` neighbours per node at hop ``l``, one entry per layer; ``-1``: all). The
            evaluation stays one full-graph forward per epoch. Needs ``batch_size > 0`` and PyG's sampling
            backend (``pyg-lib`` or ``torch-sparse``: ``make sampling``); not with ``parallel``. (default:
            ``None``: no sampling)
    """
    if runs < 1 or epochs < 1:
        raise ValueError(f"'runs' and 'epochs' must be >= 1 (got {runs}, {epochs})")
    if patience is not None and patience < 1:
        raise ValueError(f"'patience' must be None or >= 1 (got {patience})")
    _check_masks(data)
    if parallel is not None and not parallel.parallel:
        parallel = None
    y = data.y.view(-1)
    train_mask, val_mask = data.train_mask, data.val_mask
    groups = group_masks(data)
    full_ei = getattr(data, "full_edge_index", None)
    ind_mask = getattr(data, "test_ind_mask", None)
    inductive = full_ei is not None and ind_mask is not None and bool(ind_mask.any())

    result = ProtocolResult(
        config=dict(
            runs=runs,
            epochs=epochs,
            lr=lr,
            weight_decay=weight_decay,
            seed=seed,
            patience=patience,
            inductive=inductive,
        )
    )
    correct_runs = []
    features: dict[str, Tensor] = {}
    with deterministic(deterministic_algorithms):
        for run in range(runs):
            t0 = time.perf_counter()
            seed_everything(seed + run)
            model = _new_model(model_fn)
            if num_neighbors is not None:
                sampler = _neighbor_sampler(model, data, num_neighbors, batch_size, parallel)
            elif batch_size and not getattr(model, "row_independent", False):
                raise ValueError(
                    f"batch_size={batch_size} needs a model whose rows are independent once preprocessed (MLP, SIGN, "
                    f"SGC); {type(model).__name__} propagates over the graph in training: leave batch_size at 0"
                )
            if batch_size and parallel is not None:
                raise ValueError("batch_size does not combine with data-parallel training (parallel): leave it at 0")
            if not features:  # preprocess depends only on the graph: once.
                pre = getattr(model, "preprocess", None)
                # data-parallel SIGN / SGC: the propagation is row-partitioned, each rank keeps its rows only
                local = parallel is not None and pre is not None and "parallel" in inspect.signature(pre).parameters
                kw = {"parallel": parallel} if local else {}
                features["obs"] = pre(data.x, data.edge_index, **kw) if pre else data.x
                if inductive:
                    features["full"] = pre(data.x, full_ei, **kw) if pre else data.x
                if getattr(model, "supports_sparse_input", False):
                    # bag-of-words features as CSR: same values, a much cheaper first layer
                    features = {k: sparse.model_input(v) for k, v in features.items()}
            x = features["obs"]
            best: dict = {}
            train_idx = train_mask.nonzero().view(-1)
            rows = 0 if num_neighbors is not None else full_batch_rows  # sampling: steps whatever the size
            batches = minibatches([train_idx.numel()], batch_size, rows) if parallel is None else None
            if parallel is None:

                def loss_fn(model=model, x=x) -> Tensor:
                    out = model(x, data.edge_index)
                    return F.cross_entropy(out[train_mask], y[train_mask])

                if num_neighbors is not None:  # a pass over the training nodes, each step on a sampled subgraph

                    def sampled_loss(seeds: Tensor, model=model, x=x) -> Tensor:
                        sub = sampler(seeds)  # the seeds first, in order (NeighborLoader's node-level output)
                        out = model(sparse.take_rows(x, sub.n_id), sub.edge_index)[: seeds.numel()]
                        return F.cross_entropy(out, y[seeds])

                    if batches is None:  # one step holds every training node: one sampled step per epoch

                        def loss_fn() -> Tensor:
                            return sampled_loss(train_idx)

                    else:

                        def loss_fn(batch) -> Tensor:
                            return sampled_loss(train_idx[batch[0].to(train_idx.device).sort().values])

                elif batches is not None:  # a pass over the training rows in steps (row_independent models only)
                    x_train, y_train = sparse.take_rows(x, train_idx), y[train_idx]

                    def loss_fn(batch, model=model) -> Tensor:
                        b = batch[0].to(y.device).sort().values
                        return F.cross_entropy(model(sparse.take_rows(x_train, b), data.edge_index), y_train[b])

                def predict(which: str, edge_index: Tensor, model=model) -> Tensor:
                    return model(features[which], edge_index).argmax(dim=-1)

            else:
                loss_fn, predict = _data_parallel(model, features, y, train_mask, parallel, local=local)
                parallel.seed_rank(seed + run)

            def score_fn() -> dict[str, float]:
                pred = predict("obs", data.edge_index)
                if inductive:
                    pred = torch.where(ind_mask, predict("full", full_ei), pred)
                best["pred"] = pred
                metrics = {"train": accuracy(y, pred, train_mask), "val": accuracy(y, pred, val_mask)}
                metrics.update({g: accuracy(y, pred, m) for g, m in groups.items()})
                return metrics

            def on_best(epoch: int, metrics: dict[str, float]) -> None:
                best["correct"] = (best["pred"] == y).cpu().numpy()

            fitted = fit(
                model,
                loss_fn,
                score_fn,
                epochs=epochs,
                lr=lr,
                weight_decay=weight_decay,
                score="val",
                patience=patience,
                restore_best=keep_models,
                stage=f"{label} seed={seed + run}" if label else f"run{run}",
                on_epoch=on_epoch,
                on_best=on_best,
                progress=progress,
                parallel=parallel,
                batches=batches,
            )
            result.per_run.append({g: fitted.best_metrics[g] for g in groups})
            result.curves.append(fitted.curve)
            result.best_epochs.append(fitted.best_epoch)
            result.best_val.append(fitted.best_score)
            result.wall_time.append(time.perf_counter() - t0)
            correct_runs.append(best["correct"])
            if keep_models:
                result.models.append({k: v.detach().cpu().clone() for k, v in model.state_dict().items()})
    result.correct = np.stack(correct_runs)
    return result


def _neighbor_sampler(model, data: Data, num_neighbors, batch_size: int, parallel) -> Callable[[Tensor], Data]:
    """PyG's ``NeighborLoader`` over the observed graph as a function ``seeds -> subgraph`` (``n_id``, ``edge_index``;
    the seeds are its first nodes, in order), after checking what :func:`run_protocol`'s ``num_neighbors`` needs."""
    hops = list(num_neighbors) if isinstance(num_neighbors, (list, tuple)) else None
    if not hops or not all(isinstance(h, int) and not isinstance(h, bool) and (h > 0 or h == -1) for h in hops):
        raise ValueError(f"num_neighbors must be a list of neighbours per hop, each > 0 or -1 (got {num_neighbors!r})")
    if getattr(model, "row_independent", False):
        raise ValueError(
            f"num_neighbors samples neighbourhoods for graph models; {type(model).__name__} reads no edges in "
            "training: use batch_size alone"
        )
    layers = getattr(model, "num_layers", None)
    if isinstance(layers, int) and len(hops) != layers:
        raise ValueError(
            f"num_neighbors has {len(hops)} hops but {type(model).__name__} has {layers} layers: give one entry per "
            f"layer (e.g. {[10] * layers})"
        )
    if not batch_size or batch_size < 1:
        raise ValueError(f"num_neighbors needs batch_size > 0, the seed nodes per step (got batch_size={batch_size})")
    if parallel is not None:
        raise ValueError("num_neighbors does not combine with data-parallel training (parallel): leave it unset")
    import torch_geometric.typing as pyg_typing  # noqa: PLC0415

    if not (pyg_typing.WITH_PYG_LIB or pyg_typing.WITH_TORCH_SPARSE):
        raise ValueError(
            "num_neighbors needs PyG's sampling backend, pyg-lib or torch-sparse, and neither is installed: run "
            "`make sampling` (builds torch-sparse and torch-scatter, about 30 minutes) or leave num_neighbors unset"
        )
    import warnings  # noqa: PLC0415

    from torch_geometric.loader import NeighborLoader  # noqa: PLC0415

    graph = Data(edge_index=data.edge_index, num_nodes=data.num_nodes)
    with warnings.catch_warnings():  # "without pyg-lib is deprecated": torch-sparse is the backend this project builds
        warnings.filterwarnings("ignore", message=".*without a 'pyg-lib' installation.*")
        loader = NeighborLoader(graph, num_neighbors=hops, batch_size=batch_size, shuffle=False)
    return loader


def _data_parallel(
    model: torch.nn.Module,
    features: dict[str, Tensor],
    y: Tensor,
    train_mask: Tensor,
    parallel: Context,
    local: bool = False,
) -> tuple[Callable[[], Tensor], Callable[[Tensor, Tensor], Tensor]]:
    """``(loss_fn, predict)`` of one data-parallel run.

    ``loss_fn``: the cross-entropy summed over this rank's share of the training nodes, divided by the number of
    training nodes in all and multiplied by the world size, through the ``DistributedDataParallel`` wrapper, whose
    gradient averaging over ranks then yields the gradient of the single-process loss (the mean over all training
    nodes), whatever the share sizes. ``predict(which, edge_index)``: the predicted class of every node from
    ``features[which]``, each rank predicting its share of the nodes, gathered in node order on every rank.
    ``local``: ``features`` already hold only this rank's share of the rows (:meth:`Context.rows`, a row-partitioned
    propagation); the rank then trains on the training nodes among them.
    """
    if not getattr(model, "row_independent", False):
        raise ValueError(
            f"{model!r} is not data-parallel: its nodes' outputs depend on other rows (graph convolution or batch "
            "norm); only row-independent models (mlp, sign, sgc) train over several processes"
        )
    net = parallel.wrap(model)
    device = parallel.device
    n = y.size(0)
    if local:
        rows = parallel.rows(n)
        shares = {k: v.to(device) for k, v in features.items()}
        index = train_mask[rows].nonzero().view(-1)  # positions in this rank's rows
        x_train, y_train = sparse.take_rows(shares["obs"], index), y[rows][index].to(device)
    else:
        index = parallel.shard(train_mask.nonzero().view(-1))
        x_train, y_train = sparse.take_rows(features["obs"], index).to(device), y[index].to(device)
        shares = {k: sparse.take_rows(v, parallel.rows(n)).to(device) for k, v in features.items()}  # cut once
    scale = parallel.world_size / int(train_mask.sum())

    def loss_fn() -> Tensor:
        return F.cross_entropy(net(x_train), y_train, reduction="sum") * scale

    def predict(which: str, edge_index: Tensor) -> Tensor:
        return parallel.gather_rows(model(shares[which]).argmax(dim=-1), n).cpu()

    return loss_fn, predict
