"""Data parallelism on ``torch.distributed`` for the feature-only models (MLP, SIGN, SGC).

Everything after propagation treats nodes as independent rows, so full-batch training splits exactly: each rank
computes the loss on its shard of the training nodes as a *sum* over them divided by the number of training nodes in
all (times the world size, because :class:`~torch.nn.parallel.DistributedDataParallel` averages gradients over
ranks). The averaged gradient is then the single-process full-batch gradient, up to float rounding, whatever the
shard sizes.

Launch with ``torchrun`` (it sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``)::

    torchrun --nproc-per-node 2 --no-python graphlearn train --dataset synthetic:2000 --model mlp,sign

:func:`init` reads that environment and opens the process group (``gloo`` on CPU, ``nccl`` when CUDA is present;
``$GRAPHLEARN_DIST_BACKEND`` overrides); without it (or with a world size of 1) it returns the single-process
:class:`Context`, whose methods do nothing, so the same code runs unchanged, bit for bit, in one process.
:func:`session` wraps it with the teardown (``destroy_process_group``) in a ``finally``.

This module knows nothing of MLflow: pipelines ask :func:`is_main` before they open runs or write files.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import Tensor

from .training import stage_seed

__all__ = ["Context", "PeerLost", "current", "init", "is_main", "launched", "session", "shard_rows"]

T = TypeVar("T")

# A collective that waits this long has a peer that is stuck, not slow (a peer that dies is seen at once: its sockets
# close). Rank 0 alone writes to MLflow between collectives, which takes seconds.
DEFAULT_TIMEOUT = datetime.timedelta(minutes=10)
BACKENDS = ("gloo", "nccl")


class PeerLost(KeyboardInterrupt):
    """Another rank of the job is gone (it failed or was killed, and torchrun stops the others). For this rank it is
    an interruption, not an error of its own: pipelines mark their MLflow runs KILLED, as after Ctrl-C, so that
    rerunning the command continues them."""


def _peer_lost(error: BaseException) -> bool:
    """A collective that failed because a peer's connection went away: torch's ``DistError`` family, or gloo's
    transport errors ("Connection closed by peer", "Read error ... Connection reset by peer"), which torch raises
    as plain ``RuntimeError``."""
    return isinstance(error, dist.DistError) or (isinstance(error, RuntimeError) and "gloo/transport" in str(error))


def shard_rows(index: Tensor, rank: int, world_size: int) -> Tensor:
    """Rank ``rank``'s contiguous share of ``index`` (``torch.tensor_split``: shares differ by at most one row).

    Uneven shares are fine for the full-batch loss of this module (it divides by the total count, not the share's),
    but every rank needs at least one row: a world size larger than ``len(index)`` is a ``ValueError``.
    """
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, {world_size}) (got {rank})")
    n = int(index.numel())
    if world_size > n:
        raise ValueError(
            f"world size {world_size} exceeds the {n} row(s) to share out; every rank needs at least one "
            f"(run at most {n} process(es))"
        )
    return torch.tensor_split(index.reshape(-1), world_size)[rank]


@dataclass(frozen=True)
class Context:
    """Where this process stands in the job: ``rank`` of ``world_size`` (``local_rank`` on its machine) and the
    process group's ``backend`` (``None``: one process, every method below is the identity)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def parallel(self) -> bool:
        """More than one process shares the work."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that opens MLflow runs, prints and writes files."""
        return self.rank == 0

    @property
    def device(self) -> torch.device:
        """Where this rank's model and collectives live: its GPU under ``nccl``, else the CPU."""
        return torch.device("cuda", self.local_rank) if self.backend == "nccl" else torch.device("cpu")

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        """Inside, a collective that fails because another rank is gone raises :class:`PeerLost` (a
        ``KeyboardInterrupt``) naming this rank, instead of torch's ``RuntimeError``."""
        try:
            yield
        except RuntimeError as e:
            if not (self.parallel and _peer_lost(e)):
                raise
            # gloo's "[.../pair.cc:553] Connection closed by peer [10.0.0.2]:5264. This is typically caused by ..."
            first = re.sub(r"^\[[^\]]*\]\s*", "", str(e).strip().splitlines()[0] if str(e).strip() else "")
            first = first.split(". ")[0] or type(e).__name__
            raise PeerLost(f"rank {self.rank} of {self.world_size}: another rank of the job is gone ({first})") from e

    def shard(self, index: Tensor) -> Tensor:
        """This rank's share of ``index`` (:func:`shard_rows`); all of it in one process."""
        return shard_rows(index, self.rank, self.world_size) if self.parallel else index

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """``model`` in :class:`~torch.nn.parallel.DistributedDataParallel` (its gradients averaged over ranks in
        ``backward``; rank 0's parameters broadcast at construction); ``model`` itself in one process. Forward
        passes that should not synchronise (evaluation) call ``model``, not the wrapper; ``backward`` through it
        belongs inside :meth:`guard`."""
        if not self.parallel:
            return model
        from torch.nn.parallel import DistributedDataParallel  # noqa: PLC0415

        model.to(self.device)
        ids = [self.local_rank] if self.device.type == "cuda" else None
        with self.guard():  # broadcasts rank 0's parameters
            return DistributedDataParallel(model, device_ids=ids)

    def seed_rank(self, seed: int) -> None:
        """Give every rank but 0 its own random stream (dropout masks), derived from ``seed``: rank 0 keeps the stream
        of a single-process run, and the shards are not dropped with one and the same pattern."""
        if self.parallel and self.rank > 0:
            torch.manual_seed(stage_seed(seed, f"rank{self.rank}"))

    def loss_value(self, loss: Tensor) -> float:
        """The job's loss from this rank's scaled shard loss: the mean over ranks (the single-process loss)."""
        if not self.parallel:
            return float(loss.detach())
        total = loss.detach().clone().reshape(1).to(self.device)
        with self.guard():
            dist.all_reduce(total)
        return float(total) / self.world_size

    def broadcast(self, obj: T) -> T:
        """Rank 0's ``obj`` on every rank (pickled; for small things: metrics, decisions, results)."""
        if not self.parallel:
            return obj
        box = [obj]
        with self.guard():
            dist.broadcast_object_list(box, src=0, device=self.device if self.device.type == "cuda" else None)
        return box[0]

    def agree(self, metrics: dict[str, float]) -> dict[str, float]:
        """Rank 0's epoch metrics on every rank, so that every rank takes the same selection and early-stopping
        decision even if their own evaluations differed in the last bit."""
        return self.broadcast(metrics)

    def on_main(self, fn: Callable[[], T]) -> T:
        """``fn()`` on rank 0 only, its result on every rank. If it raises, rank 0 raises its own error and every
        other rank a ``ValueError`` with the same message (so the job fails with one error on every rank, instead
        of the other ranks waiting for rank 0 in the next collective)."""
        if not self.parallel:
            return fn()
        outcome: tuple[bool, Any] = (True, None)
        error = None
        if self.is_main:
            try:
                outcome = (True, fn())
            except Exception as e:  # noqa: BLE001  (re-raised below, after the others have heard of it)
                error, outcome = e, (False, f"{type(e).__name__} on rank 0: {e}")
        ok, value = self.broadcast(outcome)
        if error is not None:
            raise error
        if not ok:
            raise ValueError(value)
        return value

    def rows(self, n: int) -> Tensor:
        """This rank's share of the rows ``0..n-1`` (int64), as :meth:`gather_rows` expects them."""
        return self.shard(torch.arange(n))

    def gather_rows(self, local: Tensor, n: int) -> Tensor:
        """Every rank's ``local`` (one row per index of its :meth:`rows` of ``n``) concatenated in row order, on
        every rank: a forward pass split over ranks, put back together. On ``local``'s device."""
        if not self.parallel:
            return local
        home, local = local.device, local.to(self.device)
        size = -(-n // self.world_size)  # tensor_split's largest share; the smaller ones are padded to it
        padded = local.new_zeros((size, *local.shape[1:]))
        padded[: local.size(0)] = local
        parts = [torch.empty_like(padded) for _ in range(self.world_size)]
        with self.guard():
            dist.all_gather(parts, padded)
        counts = [len(s) for s in torch.tensor_split(torch.arange(n), self.world_size)]
        return torch.cat([p[:c] for p, c in zip(parts, counts, strict=True)]).to(home)


_SINGLE = Context()
_current = _SINGLE


def launched() -> bool:
    """Started by ``torchrun`` (or another launcher that sets ``RANK`` and ``WORLD_SIZE``)."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def _env_int(name: str, default: int | None = None) -> int:
    text = os.environ.get(name)
    if text is None:
        if default is None:
            raise ValueError(f"${name} is not set; launch with torchrun, which sets RANK, WORLD_SIZE and LOCAL_RANK")
        return default
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"${name} must be an integer (got {text!r})") from None


def _environment() -> Context:
    """The :class:`Context` torchrun's environment describes (no process group opened)."""
    if not launched():
        return _SINGLE
    rank, world_size = _env_int("RANK"), _env_int("WORLD_SIZE")
    local_rank = _env_int("LOCAL_RANK", 0)
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"$RANK={rank} and $WORLD_SIZE={world_size}: need WORLD_SIZE >= 1 and 0 <= RANK < WORLD_SIZE")
    if world_size == 1:
        return _SINGLE
    missing = [v for v in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(v)]
    if missing:
        raise ValueError(f"${' and $'.join(missing)} not set; launch with torchrun, which sets them")
    backend = os.environ.get("GRAPHLEARN_DIST_BACKEND") or ("nccl" if torch.cuda.is_available() else "gloo")
    if backend not in BACKENDS:
        raise ValueError(f"$GRAPHLEARN_DIST_BACKEND={backend!r}; choose one of {list(BACKENDS)}")
    return Context(rank=rank, world_size=world_size, local_rank=local_rank, backend=backend)


def init(timeout: datetime.timedelta = DEFAULT_TIMEOUT) -> Context:
    """Open the default process group from torchrun's environment and return this process's :class:`Context`; the
    single-process one (no process group) when not launched by torchrun or with a world size of 1."""
    global _current
    ctx = _environment()
    if ctx.parallel and not dist.is_initialized():
        if ctx.backend == "nccl":
            torch.cuda.set_device(ctx.local_rank)
        dist.init_process_group(ctx.backend, init_method="env://", timeout=timeout)
    _current = ctx
    return ctx


def teardown() -> None:
    """Close the process group :func:`init` opened (if any); the single-process context is current again."""
    global _current
    if dist.is_initialized():
        dist.destroy_process_group()
    _current = _SINGLE


@contextlib.contextmanager
def session(timeout: datetime.timedelta = DEFAULT_TIMEOUT) -> Iterator[Context]:
    """:func:`init`, then :func:`teardown` whatever happens inside."""
    try:
        yield init(timeout)
    finally:
        teardown()


def current() -> Context:
    """The context :func:`init` set up (the single-process one before, or outside a session)."""
    return _current


def is_main() -> bool:
    """Whether this process is rank 0 (always, in one process)."""
    return _current.is_main
