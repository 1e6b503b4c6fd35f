"""The one training core of graphlearn: seeding, the epoch loop with early stopping, one epoch callback.

Every method trains through :func:`fit_epochs` (mini-batch or anything else: the caller supplies one epoch of
training) or its full-batch form :func:`fit` (one optimiser step per epoch on a loss closure): the OGB protocol
(:func:`graphlearn.evaluation.run_protocol`), Cold Brew's teachers, MLPs and student, the neighbourhood-prediction
pretrainer (one stage per label-tree level) and GRDA. Conventions shared by all of them:

* epochs count from **1**; ``on_epoch(stage, epoch, metrics)`` is called after every epoch, ``stage`` naming what is
  being trained (``"GCN"``, ``"ColdBrew/mlp2"``, ``"level0"``, ``"grda"``). It is how pipelines log to MLflow (with
  ``step=epoch``) without the library importing mlflow;
* selection keeps the epoch with the highest ``metrics[score]`` (earliest on ties); ``patience`` stops after that many
  epochs without improvement; with ``restore_best`` the model's best state is put back at the end;
* randomness comes from :func:`seed_everything` and per-stage seeds :func:`stage_seed`, so adding a model to a run
  leaves the others' initialisation unchanged.
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import functools
import random
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

if TYPE_CHECKING:
    from .distributed import Context

__all__ = [
    "EpochCallback",
    "FitResult",
    "deterministic",
    "fit",
    "fit_epochs",
    "masked_accuracy",
    "minibatch_patience",
    "minibatches",
    "seed_everything",
    "stage_seed",
]

# on_epoch(stage, epoch, metrics): epoch is 1-based; metrics are floats (loss, accuracies in percent, ...).
EpochCallback = Callable[[str, int, dict[str, float]], None]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and, if present, CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def stage_seed(seed: int, stage: str) -> int:
    """A seed for one stage of a run, stable across processes (``crc32``, not ``hash``), so that adding or removing a
    model from a run leaves the initialisation of the others unchanged."""
    return (int(seed) * 1_000_003 + zlib.crc32(stage.encode())) % 2**31


@contextlib.contextmanager
def deterministic(enabled: bool = True):
    """Turn on ``torch.use_deterministic_algorithms`` (warn-only, since a few CUDA scatter kernels have no
    deterministic variant) and restore the caller's setting afterwards."""
    prev = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    if enabled:
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev, warn_only=prev_warn)


def masked_accuracy(logits: Tensor, y: Tensor, mask: Tensor) -> float:
    """Accuracy in percent on ``mask`` (NaN for an empty mask). Used for model selection inside training loops;
    reported numbers go through :func:`graphlearn.evaluation.accuracy` (ogb's ``Evaluator``)."""
    n = int(mask.sum())
    if n == 0:
        return float("nan")
    return 100.0 * float((logits[mask].argmax(-1) == y[mask]).sum()) / n


@dataclass
class FitResult:
    """What :func:`fit_epochs` observed.

    Attributes:
        best_epoch: 1-based epoch with the best score (0: no epoch scored, or no ``score`` asked for).
        best_score: that score (``-inf`` when none).
        epochs_run: epochs actually trained (fewer than asked after early stopping).
        curve: the metrics of every epoch, as passed to ``on_epoch``.
        best_metrics: the metrics of the best epoch (``{}`` when none).
    """

    best_epoch: int = 0
    best_score: float = -float("inf")
    epochs_run: int = 0
    curve: list[dict[str, float]] = field(default_factory=list)
    best_metrics: dict[str, float] = field(default_factory=dict)


def _check_epochs(epochs: int, patience: int | None) -> None:
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
        raise ValueError(f"epochs must be an integer >= 1 (got {epochs!r})")
    if patience is not None and patience < 1:
        raise ValueError(f"patience must be None or >= 1 (got {patience!r})")


@functools.cache
def _libc_function(name: str):
    try:
        return getattr(ctypes.CDLL("libc.so.6"), name)
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to tune or hand back this way
        return None


def _malloc_trim():
    return _libc_function("malloc_trim")


# glibc's mallopt parameters (malloc.h) and the largest mmap threshold it accepts on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_MMAP_MAX = -1, -3, -4
#: Blocks up to this size are served from the heap, not from fresh ``mmap`` pages (glibc's own threshold starts at
#: 128 KiB and only grows as mmapped blocks are freed).
HEAP_MMAP_THRESHOLD = 32 << 20
#: The heap's free top is not handed back by ``free`` below this size: the jobs' own trims
#: (:func:`release_freed_memory`, after every fit and between search blocks) decide when pages go back.
HEAP_TRIM_THRESHOLD = 1 << 40
#: glibc's default ``M_MMAP_MAX``, restored by :func:`kept_heap`.
_DEFAULT_MMAP_MAX = 65536


def _mallopt(param: int, value: int) -> bool:
    mallopt = _libc_function("mallopt")
    if mallopt is None:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    # a value beyond C int (the trim threshold) is clamped to INT_MAX: still "never by itself"
    return bool(mallopt(param, min(int(value), 2**31 - 1)))


def configure_heap() -> bool:
    """Keep the freed tensors of a training loop in the C heap for the next epoch (glibc; ``False`` and no change
    elsewhere). Process-wide, so the jobs call it at start (``pipelines._common.setup_threads``); the library never
    does on import.

    Why: with glibc's defaults every epoch's large transients (a 100k x 64 float32 activation is 25.6 MB) came from
    fresh ``mmap`` pages or from heap top the previous ``free`` had handed back, so each was page-faulted in (and
    zeroed by the kernel) again: 15 million minor faults and 36 s of system time in one 100k-node Cold Brew seed
    (``benchmarks/results/speed.md``). Numbers are unchanged (which addresses memory comes from decides nothing).
    Memory is still handed back by :func:`release_freed_memory` after every fit and between search blocks."""
    ok = _mallopt(_M_MMAP_THRESHOLD, HEAP_MMAP_THRESHOLD)
    ok = _mallopt(_M_TRIM_THRESHOLD, HEAP_TRIM_THRESHOLD) and ok
    _HEAP_CONFIGURED[0] = ok
    return ok


_HEAP_CONFIGURED = [False]


@contextlib.contextmanager
def kept_heap():
    """Within the block, serve blocks of every size from the heap (glibc ``M_MMAP_MAX`` 0: no ``mmap``), so a loop
    that allocates the same large tensors every step reuses the pages of the previous step instead of faulting
    fresh ones in; afterwards ``mmap`` is allowed again. Only with :func:`configure_heap` in effect (a job): it
    changes glibc's policy for the whole process. Either way the freed pages are handed back at the end
    (:func:`release_freed_memory`)."""
    unmapped = _HEAP_CONFIGURED[0] and _mallopt(_M_MMAP_MAX, 0)
    try:
        yield
    finally:
        if unmapped:
            _mallopt(_M_MMAP_MAX, _DEFAULT_MMAP_MAX)
        release_freed_memory()


def release_freed_memory() -> None:
    """Hand the pages the C heap holds free back to the OS (glibc's ``malloc_trim(0)``; a no-op elsewhere).

    Freed tensors below glibc's mmap threshold stay in the heap, and the heap's free pages stay resident: after a
    few models each one's transients add up (measured on Coauthor-CS: ~100 MB per model, 1.67 GB peak for one Cold
    Brew seed). Called after every fit and between the blocks of block-wise searches; a call costs milliseconds."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def release_between(blocks: Iterable):
    """``blocks`` one by one, with :func:`release_freed_memory` between two of them (after a block's loop body, before
    the next block): a block-wise computation keeps at most one block's freed transients resident, and one block (a
    served batch) never trims, so it does not fault the same pages in again on every call (half of a 200-node Cora
    batch's time, ``benchmarks/results/speed.md``)."""
    for i, block in enumerate(blocks):
        if i:
            release_freed_memory()
        yield block


def fit_epochs(
    train_epoch: Callable[[int], dict[str, float]],
    *,
    epochs: int,
    evaluate: Callable[[int], dict[str, float]] | None = None,
    score: str | None = None,
    patience: int | None = None,
    model: torch.nn.Module | None = None,
    restore_best: bool = False,
    stage: str = "model",
    on_epoch: EpochCallback | None = None,
    on_best: Callable[[int, dict[str, float]], None] | None = None,
    progress: bool = False,
) -> FitResult:
    """Run ``epochs`` epochs of ``train_epoch(epoch)`` (1-based), each followed by ``evaluate(epoch)``.

    Args:
        train_epoch: trains one epoch and returns its metrics (e.g. ``{"loss": ...}``).
        epochs (int): maximum number of epochs (``>= 1``).
        evaluate: returns evaluation metrics, merged into the epoch's (may return ``{}`` on epochs it skips).
        score (str, optional): the metric that selects the best epoch (higher is better; earliest on ties). Epochs
            whose metrics lack it are not candidates. (default: ``None``, no selection: the last epoch stands)
        patience (int, optional): stop after this many epochs without a better ``score``. (default: ``None``)
        model (Module, optional): with ``restore_best``, its ``state_dict`` is snapshotted at the best epoch and
            loaded back at the end.
        stage (str): name passed to ``on_epoch`` and shown on the progress bar.
        on_epoch: ``on_epoch(stage, epoch, metrics)`` after every epoch.
        on_best: ``on_best(epoch, metrics)`` whenever the score improves (e.g. to keep predictions).
        progress (bool): a tqdm bar over epochs.
    """
    _check_epochs(epochs, patience)
    if restore_best and model is None:
        raise ValueError("restore_best needs the model whose best state to keep")
    result = FitResult()
    best_state = None
    bar = tqdm(total=epochs, desc=stage, leave=False, disable=not progress)
    try:
        for epoch in range(1, epochs + 1):
            metrics = dict(train_epoch(epoch))
            if evaluate is not None:
                metrics.update(evaluate(epoch))
            result.curve.append(metrics)
            result.epochs_run = epoch
            if on_epoch is not None:
                on_epoch(stage, epoch, metrics)
            bar.update(1)
            if progress:
                bar.set_postfix({k: f"{v:.4g}" for k, v in list(metrics.items())[:4]}, refresh=False)
            if score is None or score not in metrics:
                continue
            if metrics[score] > result.best_score:
                result.best_score, result.best_epoch, result.best_metrics = metrics[score], epoch, metrics
                if restore_best:
                    best_state = copy.deepcopy(model.state_dict())
                if on_best is not None:
                    on_best(epoch, metrics)
            elif patience is not None and epoch - result.best_epoch >= patience:
                break
    finally:
        bar.close()
        release_freed_memory()  # a model's transients stay resident otherwise, and the next model adds its own
    if best_state is not None:
        model.load_state_dict(best_state)
    return result


#: Feature-only models (MLPs, GLNN, the Cold Brew student's MLPs) train full-batch on up to this many rows and in
#: mini-batches above it (``batch_size`` of :func:`minibatches`): one full-batch step per epoch over 100k rows is
#: out of cache and needs hundreds of epochs, a pass of mini-batch steps converges in a few tens.
FULL_BATCH_ROWS = 32768
#: Under mini-batches ``patience`` counts optimiser steps, as it does in full batch (one step per epoch), so a run
#: stops after ``ceil(patience / steps per pass)`` passes without improvement, and never before this many.
MIN_PATIENCE_PASSES = 10


def minibatches(
    sizes: Iterable[int], batch_size: int, full_batch_rows: int = FULL_BATCH_ROWS
) -> Callable[[], list[tuple[Tensor, ...]]] | None:
    """One epoch's mini-batches over several row sets at once, or ``None`` for full batch.

    ``sizes`` are the row counts of the sets a loss reads (e.g. the labelled rows and the distilled rows). With
    ``batch_size`` 0, or when every set has at most ``full_batch_rows`` rows, the answer is ``None`` (train
    full-batch, exactly as :func:`fit` without ``batches``). Otherwise the returned callable draws, on every call,
    a permutation of each set (from torch's global generator, so a seeded run repeats) and cuts every set into the
    same number of steps, ``ceil(largest set / batch_size)``: each step is a tuple of index tensors, one per set
    (positions ``0 .. size - 1`` into that set's rows), and every row of every set is in exactly one step. The
    callable's ``steps`` attribute is that number.
    """
    sizes = [int(s) for s in sizes]
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 0:
        raise ValueError(f"batch_size must be an integer >= 0 (0: full batch; got {batch_size!r})")
    if isinstance(full_batch_rows, bool) or not isinstance(full_batch_rows, int) or full_batch_rows < 0:
        raise ValueError(f"full_batch_rows must be an integer >= 0 (got {full_batch_rows!r})")
    largest = max(sizes, default=0)
    if batch_size == 0 or largest <= max(full_batch_rows, batch_size):
        return None
    steps = -(-largest // batch_size)

    def epoch() -> list[tuple[Tensor, ...]]:
        return list(zip(*(torch.randperm(s).tensor_split(steps) for s in sizes)))

    epoch.steps = steps
    return epoch


def minibatch_patience(patience: int | None, steps: int) -> int | None:
    """``patience`` (optimiser steps without improvement, as in full batch) in passes of ``steps`` steps: at least
    :data:`MIN_PATIENCE_PASSES` (``None`` stays ``None``)."""
    if patience is None:
        return None
    return max(MIN_PATIENCE_PASSES, -(-int(patience) // max(int(steps), 1)))


def fit(
    model: torch.nn.Module,
    loss_fn: Callable[..., Tensor],
    score_fn: Callable[[], dict[str, float]],
    *,
    epochs: int,
    lr: float,
    params: Iterable | None = None,
    weight_decay: float = 0.0,
    score: str = "score",
    patience: int | None = None,
    restore_best: bool = True,
    stage: str = "model",
    on_epoch: EpochCallback | None = None,
    on_best: Callable[[int, dict[str, float]], None] | None = None,
    progress: bool = False,
    parallel: Context | None = None,
    batches: Callable[[], Iterable] | None = None,
) -> FitResult:
    """Full-batch training with Adam: one step on ``loss_fn()`` per epoch (model in train mode), then
    ``score_fn()`` (eval mode, under ``no_grad``) whose ``score`` entry selects the epoch.

    Args:
        batches (callable, optional): mini-batch training (:func:`minibatches`): every epoch takes one Adam step
            on ``loss_fn(batch)`` for each ``batch`` of ``batches()``; the epoch's ``loss`` is the steps' mean, and
            ``patience`` counts steps (:func:`minibatch_patience`: ``ceil(patience / batches.steps)`` passes, at
            least :data:`MIN_PATIENCE_PASSES`). Not with ``parallel``. (default: ``None``: one full-batch step on
            ``loss_fn()``)
        params: parameters or parameter groups for :class:`torch.optim.Adam` (groups carry their own
            ``weight_decay``). (default: ``model.parameters()`` with ``weight_decay``)
        restore_best (bool): load the best epoch's state at the end (the model is left in eval mode).
        parallel (distributed.Context, optional): data-parallel training (:mod:`graphlearn.distributed`): ``loss_fn``
            is this rank's share of the loss, through the ``DistributedDataParallel`` wrapper; the epoch's
            ``loss`` is the mean over ranks and every rank uses rank 0's ``score_fn()`` metrics, so all take the
            same selection and early-stopping decisions; a rank that is gone raises ``distributed.PeerLost``.
            (default: ``None``, one process)

    Other arguments as in :func:`fit_epochs`.
    """
    if batches is not None and parallel is not None:
        raise ValueError("mini-batch training (batches) does not combine with data-parallel training (parallel)")
    if batches is not None:
        patience = minibatch_patience(patience, getattr(batches, "steps", 1))
    optimizer = torch.optim.Adam(model.parameters() if params is None else params, lr=lr, weight_decay=weight_decay)

    def train_epoch(epoch: int) -> dict[str, float]:
        model.train()
        if batches is not None:
            total, steps = 0.0, 0
            for batch in batches():
                optimizer.zero_grad()
                loss = loss_fn(batch)
                loss.backward()
                optimizer.step()
                total, steps = total + float(loss.detach()), steps + 1
            return {"loss": total / max(steps, 1)}
        optimizer.zero_grad()
        loss = loss_fn()
        loss.backward()
        optimizer.step()
        return {"loss": float(loss.detach()) if parallel is None else parallel.loss_value(loss)}

    def evaluate(epoch: int) -> dict[str, float]:
        model.eval()
        with torch.no_grad():
            return score_fn() if parallel is None else parallel.agree(score_fn())

    # under data parallelism, a rank that is gone (in DDP's backward, a collective) is distributed.PeerLost
    with contextlib.nullcontext() if parallel is None else parallel.guard():
        result = fit_epochs(
            train_epoch,
            epochs=epochs,
            evaluate=evaluate,
            score=score,
            patience=patience,
            model=model,
            restore_best=restore_best,
            stage=stage,
            on_epoch=on_epoch,
            on_best=on_best,
            progress=progress,
        )
    model.eval()
    return result
