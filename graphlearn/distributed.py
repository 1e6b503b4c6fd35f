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

from . import sparse
from .training import stage_seed

__all__ = [
    "Context",
    "PeerLost",
    "RowPartition",
    "current",
    "init",
    "is_main",
    "launched",
    "propagate_rows",
    "row_bounds",
    "session",
    "shard_rows",
]

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

    def accuracy(self, correct: Tensor, total: int) -> float:
        """Percent correct over every rank's share: ``correct`` (this rank's count of right predictions, a tensor)
        and ``total`` (its number of rows) summed over ranks; ``100 * correct / total`` in one process."""
        counts = torch.tensor([float(correct), float(total)], dtype=torch.float64, device=self.device)
        if self.parallel:
            with self.guard():
                dist.all_reduce(counts)
        # in float32, as ``(pred == y).float().mean()`` of one process rounds it
        return 100.0 * float(counts[0].float() / counts[1].float()) if counts[1] > 0 else float("nan")

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


# --- partitioned propagation ------------------------------------------------------------------------------------


def row_bounds(n: int, world_size: int) -> list[int]:
    """``[0, b_1, ..., n]``: rank ``r`` owns the rows ``b_r .. b_{r+1}-1``, the same contiguous shares as
    :meth:`Context.rows` (``torch.tensor_split``: they differ by at most one row)."""
    sizes = [len(s) for s in torch.tensor_split(torch.arange(n), world_size)]
    bounds = [0]
    for size in sizes:
        bounds.append(bounds[-1] + size)
    return bounds


class RowPartition:
    """A propagation operator split by rows over the ranks of a job: rank ``r`` holds only its row block of the
    operator (the messages into its nodes, :func:`graphlearn.sparse.propagation_rows`) and only its nodes' rows of
    the features, and a product ``P @ h`` exchanges, over ``all_to_all``, just the rows of ``h`` that its block's
    columns name (its *halo*), once per hop.

    Built once per graph (two ``all_to_all`` calls agree on who sends which rows to whom); then every
    :meth:`matmul` is one exchange and one local CSR product. Memory per rank: its block of the operator, its rows of
    ``h`` and the halo (at most every node its rows have an edge from), instead of the whole of both.

    Args:
        edge_index: the whole graph (every rank of a torchrun job loads it); only the rank's block is kept.
        num_nodes: ``N``.
        ctx: this rank's :class:`Context` (one process: the whole operator, no exchange).
        norm, add_self_loops, dtype: as :func:`graphlearn.sparse.propagation_matrix`.
    """

    def __init__(
        self,
        edge_index: Tensor,
        num_nodes: int,
        ctx: Context,
        norm: str = "gcn",
        *,
        add_self_loops: bool | None = None,
        dtype: torch.dtype | None = None,
    ):
        if ctx.world_size > num_nodes:
            raise ValueError(
                f"world size {ctx.world_size} exceeds the {num_nodes} node(s) to share out; every rank needs at "
                f"least one (run at most {num_nodes} process(es))"
            )
        self.ctx, self.num_nodes = ctx, num_nodes
        self.bounds = row_bounds(num_nodes, ctx.world_size)
        self.start, self.end = self.bounds[ctx.rank], self.bounds[ctx.rank + 1]
        block = sparse.propagation_rows(
            edge_index, num_nodes, self.start, self.end, norm, dtype, add_self_loops=add_self_loops
        )
        if not ctx.parallel:
            self.operator, self.send_index, self.send_counts, self.recv_counts = block, None, [], []
            return
        cols = block.col_indices()
        needed = torch.unique(cols)  # sorted: contiguous per owner, in rank order (all_to_all's receive order)
        owner = torch.searchsorted(torch.tensor(self.bounds[1:]), needed, right=True)
        self.recv_counts = torch.bincount(owner, minlength=ctx.world_size).tolist()
        wanted = torch.tensor(self.recv_counts, dtype=torch.long)
        asked = torch.empty_like(wanted)
        with ctx.guard():
            dist.all_to_all_single(asked, wanted)  # asked[r]: how many of my rows rank r needs
            self.send_counts = asked.tolist()
            requests = torch.empty(sum(self.send_counts), dtype=torch.long)
            dist.all_to_all_single(requests, needed, self.send_counts, self.recv_counts)
        self.send_index = requests - self.start  # my local rows, grouped by the rank that asked for them
        # columns renumbered into the halo (positions in `needed`, which is sorted: each row's order is kept)
        self.operator = torch.sparse_csr_tensor(
            block.crow_indices(),
            torch.searchsorted(needed, cols),
            block.values(),
            (self.end - self.start, needed.numel()),
            check_invariants=False,
        )

    @property
    def rows(self) -> slice:
        """This rank's rows of the graph."""
        return slice(self.start, self.end)

    def matmul(self, h: Tensor, chunk: int | None = None) -> Tensor:
        """``(P @ H)[rows]`` from this rank's ``h = H[rows]`` ``[rows, F]`` (every rank calls it together, with the
        same ``chunk``). ``chunk``: exchange and multiply that many feature columns at a time, so the halo buffer is
        ``[halo, chunk]`` instead of ``[halo, F]`` (the same result; ``None``: all columns at once)."""
        if h.dim() != 2 or h.size(0) != self.end - self.start:
            raise ValueError(
                f"rank {self.ctx.rank} owns rows [{self.start}, {self.end}) ({self.end - self.start}) but got "
                f"shape {list(h.shape)}"
            )
        if chunk is not None and chunk < 1:
            raise ValueError(f"chunk must be >= 1 feature column or None (got {chunk})")
        if not self.ctx.parallel:
            return self.operator @ h
        width = h.size(1)
        chunk = width if chunk is None else min(chunk, width)
        out = None
        for lo in range(0, width, chunk):
            part = h[:, lo : lo + chunk]
            send = part[self.send_index].contiguous()
            halo = h.new_empty((sum(self.recv_counts), part.size(1)))
            with self.ctx.guard():
                dist.all_to_all_single(halo, send, self.recv_counts, self.send_counts)
            if chunk == width:
                return self.operator @ halo
            if out is None:
                out = h.new_empty(h.shape)
            out[:, lo : lo + chunk] = self.operator @ halo
            del send, halo
        return out


def propagate_rows(
    x: Tensor, edge_index: Tensor, K: int, ctx: Context, *, add_self_loops: bool = True, chunk: int | None = None
) -> tuple[list[Tensor], slice]:
    """SIGN's ``[X, ÂX, ..., Â^K X]`` (:func:`graphlearn.models.sign.propagate`), row-partitioned over the job's
    ranks: ``(this rank's rows of every hop, which rows)``. ``x`` is the whole ``[N, F]`` feature matrix (dense);
    only the rank's rows are kept after the first hop; ``chunk``: see :meth:`RowPartition.matmul`. One process: the
    single-process hops themselves, bit for bit.
    """
    if not ctx.parallel:
        from .models.sign import propagate  # noqa: PLC0415

        return propagate(x, edge_index, K, add_self_loops), slice(0, x.size(0))
    part = RowPartition(edge_index, x.size(0), ctx, "gcn", add_self_loops=add_self_loops, dtype=x.dtype)
    out = [x[part.rows].contiguous()]
    for _ in range(K):
        out.append(part.matmul(out[-1], chunk))
    return out, part.rows
