"""Sparse bag-of-words features as model input.

Cora's features are 1.3% non-zero, CiteSeer's 0.9%: a dense ``[N, F] @ [F, H]``
first layer spends almost all of an epoch multiplying zeros. ``F.linear`` (and
so PyG's ``Linear`` / ``MLP`` / ``GCNConv``) accepts a sparse CSR input and
back-propagates to the dense weight, which on Cora is ~7x faster on one core.
These helpers let the training loops keep one code path for dense and CSR
inputs: :func:`model_input` decides, :func:`take_rows`, :func:`dropout` and
:func:`normalize_rows` do what ``x[idx]``, ``F.dropout`` and ``F.normalize`` do on
dense tensors.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

# Convert only matrices this sparse and this wide (decided by density and shape, not by total size: a batch of
# 200 new Cora nodes, 286k elements, used to stay dense, so 98.7 % of the student's search multiplied zeros).
MAX_DENSITY = 0.1
MIN_COLUMNS = 128  # narrower feature matrices stay dense: their rows are cheap to multiply either way
MIN_ELEMENTS = 0  # no size floor (kept as a knob)
# torch flags every CSR construction as beta; the ops used here are covered by tests.
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")


def is_sparse(x: Tensor) -> bool:
    return x.layout in (torch.sparse_csr, torch.sparse_coo)


def model_input(
    x: Tensor, max_density: float = MAX_DENSITY, min_elements: int = MIN_ELEMENTS, min_columns: int = MIN_COLUMNS
) -> Tensor:
    """``x`` as a CSR tensor when it is a wide (``>= min_columns`` columns), mostly-zero (``<= max_density``
    non-zero) 2-D float matrix, else ``x`` unchanged: the one place that decides dense vs CSR input. Values are
    identical either way."""
    if is_sparse(x) or x.dim() != 2 or not x.is_floating_point() or x.numel() == 0:
        return x
    if x.size(1) < min_columns or x.numel() < min_elements:
        return x
    nnz = int(torch.count_nonzero(x))
    if nnz > max_density * x.numel():
        return x
    return x.to_sparse_csr()


# Sparse features are *stored* sparse (the job's feature matrix, the student's candidate keys) from this many dense
# elements on (128 MB as float32); below, they stay dense: the copy is small and the dense path's numbers are the
# pinned ones (tests/test_golden.py). Coauthor-CS (18,333 x 6,805, 0.9 % non-zero): 12 MB instead of 0.5 GB.
STORE_SPARSE_MIN_ELEMENTS = 1 << 25


def compact(x: Tensor, min_elements: int | None = None) -> Tensor:
    """``x`` as CSR when :func:`model_input` would make it CSR and it has at least ``min_elements`` (default:
    :data:`STORE_SPARSE_MIN_ELEMENTS`) dense elements, else ``x`` unchanged (values identical either way): the rule
    for keeping a feature matrix sparse in memory."""
    min_elements = STORE_SPARSE_MIN_ELEMENTS if min_elements is None else min_elements
    if is_sparse(x) or x.dim() != 2 or x.numel() < min_elements:
        return x
    return model_input(x)


def all_finite(x: Tensor) -> bool:
    """No NaN or infinity in a dense or sparse ``x`` (for sparse: its stored values)."""
    if is_sparse(x):
        x = x.values() if x.layout == torch.sparse_csr else x.coalesce().values()
    # A finite sum has no NaN or infinite term: one reduction instead of an elementwise test and a reduction (0.6 ms
    # of a 200-node Cora batch); a sum that overflows, or a NaN, falls through to the exact test.
    if x.is_floating_point() and bool(torch.isfinite(x.sum())):
        return True
    return bool(torch.isfinite(x).all())


def dense_rows(x: Tensor, start: int, stop: int) -> Tensor:
    """Rows ``start:stop`` of a dense or CSR ``x`` as a dense tensor (a bounded block, never the whole matrix)."""
    block = slice_rows(x, start, stop)
    return block.to_dense() if is_sparse(block) else block


# Outside autograd, row-wise maps of batches above this many rows run block of rows by block (:func:`row_blocks`):
# their intermediates ([rows, hidden] per layer, 1 GB each at 1M nodes and width 256) never exist for every row at once.
INFERENCE_BLOCK_ROWS = 131_072


def slice_rows(x: Tensor, start: int, stop: int) -> Tensor:
    """Rows ``start:stop`` of a dense or CSR ``x``, in its layout (a view when dense; for CSR its row range, read
    from the row pointers without touching the other rows' entries)."""
    if not is_sparse(x):
        return x[start:stop]
    stop = min(stop, x.size(0))
    if x.layout != torch.sparse_csr:
        return take_rows(x, torch.arange(start, stop, device=x.device))
    crow = x.crow_indices()
    a, b = int(crow[start]), int(crow[stop])
    return torch.sparse_csr_tensor(
        crow[start : stop + 1] - a, x.col_indices()[a:b], x.values()[a:b], (stop - start, x.size(1)),
        check_invariants=False,
    )  # fmt: skip


def row_blocks(fn, parts: Sequence[Tensor], block_rows: int | None = None) -> Tensor:
    """``fn(parts)`` for a row-wise ``fn`` of row-aligned ``parts`` (dense or CSR): with autograd off and more than
    ``block_rows`` rows (default :data:`INFERENCE_BLOCK_ROWS`), computed on ``ceil(rows / block_rows)`` blocks of
    rows of equal size (within one row) written into one output, so that only one block's intermediates exist at a
    time. Below it, or under autograd, exactly ``fn(parts)``. Equal blocks, never a short last one: a GEMM of a few
    rows takes another kernel that rounds differently, while blocks of many rows give the whole product's values bit
    for bit on this CPU's BLAS (``tests/methods/coldbrew/test_minibatch.py``)."""
    block = INFERENCE_BLOCK_ROWS if block_rows is None else block_rows
    n = parts[0].size(0)
    if torch.is_grad_enabled() or n <= block:
        return fn(parts)
    count = -(-n // block)
    bounds = [n * i // count for i in range(count + 1)]
    out = None
    for start, stop in zip(bounds[:-1], bounds[1:]):
        y = fn([slice_rows(p, start, stop) for p in parts])
        if out is None:
            out = y.new_empty((n, *y.shape[1:]))
        out[start:stop] = y
    return out


def map_dense_rows(x: Tensor, fn, block_elements: int = 1 << 24) -> Tensor:
    """``fn`` (a row-wise function of a dense block) applied to a CSR ``x`` block of rows by block, each made dense
    (at most ``block_elements`` elements) and stored CSR again: the same values, bit for bit, as ``fn`` on the dense
    matrix, without ever holding it (e.g. ``F.normalize`` rounds differently from :func:`normalize_rows`, and the
    rounding decides ties between neighbours)."""
    rows = max(1, block_elements // max(x.size(1), 1))
    crows, cols, vals, offset = [torch.zeros(1, dtype=torch.long, device=x.device)], [], [], 0
    for start in range(0, x.size(0), rows):
        block = fn(dense_rows(x, start, start + rows)).to_sparse_csr()
        crows.append(block.crow_indices()[1:] + offset)
        cols.append(block.col_indices())
        vals.append(block.values())
        offset += block.values().numel()
    return torch.sparse_csr_tensor(
        torch.cat(crows),
        torch.cat(cols) if cols else torch.zeros(0, dtype=torch.long),
        torch.cat(vals) if vals else torch.zeros(0, dtype=x.dtype),
        x.shape,
        check_invariants=False,
    )


def normalize_rows_as_dense(x: Tensor) -> Tensor:
    """``F.normalize(x, dim=-1)`` bit for bit, for a dense or CSR ``x`` (CSR stays CSR, normalised per dense block
    with :func:`map_dense_rows`); :func:`normalize_rows` rounds CSR rows differently, which moves tied neighbours."""
    if not is_sparse(x):
        return F.normalize(x, dim=-1)
    return map_dense_rows(x, lambda b: F.normalize(b, dim=-1))


def take_rows(x: Tensor, index: Tensor) -> Tensor:
    """``x[index]`` for a bool mask or int64 index, dense or CSR (CSR stays CSR)."""
    if index.dtype == torch.bool:
        index = index.nonzero().view(-1)
    if not is_sparse(x):
        return x[index]
    coo = x.to_sparse_coo() if x.layout == torch.sparse_csr else x
    return coo.index_select(0, index).to_sparse_csr()


# Dropout keeps an entry when a uniform integer in [0, 2^DROPOUT_BITS) is at least round(p * 2^DROPOUT_BITS): the drop
# rate is p rounded to a multiple of 2^-24 (0.6 -> 0.600000024), and kept entries are scaled by
# 2^24 / (2^24 - threshold), so the expectation is the input's exactly. The integers come as NumPy's float32
# uniforms, (32-bit draw >> 8) / 2^24, exact multiples of 2^-24.
DROPOUT_BITS = 24


class DropoutStream:
    """Dropout masks for rate ``p`` drawn from one random stream: an ``SFC64`` NumPy generator seeded by one draw
    from torch's default generator (so ``torch.manual_seed`` fixes every mask, on any number of threads). Masks for
    consecutive blocks of a tensor are the mask of the whole tensor (the stream is read in order).

    Why not ``F.dropout``: on CPU its ``bernoulli_`` was a third of a Cold Brew run and two thirds of a SIGN epoch.
    Torch's own ``random_`` (the same 32-bit Mersenne Twister draw per entry) is 2x cheaper than ``bernoulli_`` and
    NumPy's ``SFC64`` 2.5x cheaper again; a mask is one float per entry, as ``F.dropout`` keeps
    (``benchmarks/results/speed.md`` has the measurements). Non-CPU tensors draw with torch's ``random_``."""

    def __init__(self, p: float):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability must be in [0, 1] (got {p})")
        full = 1 << DROPOUT_BITS
        self.threshold = round(p * full)
        self.cut = self.threshold / full  # exact in float32
        self.scale = full / (full - self.threshold) if self.threshold < full else 0.0
        seed = int(torch.randint(0, 2**63 - 1, (), dtype=torch.int64))
        self._rng = np.random.Generator(np.random.SFC64(seed))
        self._spare: np.ndarray | None = None  # the unused upper half of the last 64-bit draw (see _words)

    def _words(self, n: int) -> np.ndarray:
        """The next ``n`` 32-bit words of the stream, in the order NumPy's own 32-bit draws read them (the low half
        of each 64-bit output, then its high half, the high half kept for the next call): ``Generator.random(
        dtype=float32)`` makes each float ``(word >> 8) * 2^-24`` from exactly these words. Drawn 64 bits at a time
        (``integers`` over the full uint64 range returns the raw outputs), 1.6x cheaper than the float fill."""
        head = self._spare if self._spare is not None else np.empty(0, dtype=np.uint32)
        need = max(n - head.size, 0)
        raw = self._rng.integers(0, 2**64, size=(need + 1) // 2, dtype=np.uint64, endpoint=False)
        words = raw.view(np.uint32)  # little-endian: low half first
        if sys.byteorder != "little":
            words = words.reshape(-1, 2)[:, ::-1].reshape(-1)
        words = np.concatenate([head, words]) if head.size else words
        self._spare = words[n:].copy() if words.size > n else None
        return words[:n]

    def mask(self, like: Tensor) -> Tensor:
        """The next ``like.numel()`` draws as a mask shaped like ``like``: ``0`` (dropped) or ``1 / (1 - p)``
        (kept), in ``like``'s dtype and on its device."""
        if self.threshold >= 1 << DROPOUT_BITS:
            return torch.zeros(like.shape, dtype=like.dtype, device=like.device)
        if like.device.type == "cpu":
            # kept where the float (word >> 8) * 2^-24 is at least cut = threshold * 2^-24, i.e. where
            # word >= threshold * 2^8 (exact integer comparison, the same entries as comparing the floats)
            kept = np.greater_equal(self._words(like.numel()), np.uint32(self.threshold << (32 - DROPOUT_BITS)))
            m = torch.from_numpy(kept).view(like.shape).to(torch.float32)
        else:
            m = torch.empty(like.shape, dtype=torch.float32, device=like.device).random_(0, 1 << DROPOUT_BITS)
            m = m.ge_(self.threshold)
        m = m.mul_(self.scale)
        return m if m.dtype == like.dtype else m.to(like.dtype)


def dropout_mask(like: Tensor, p: float) -> Tensor:
    """The multiplier of one dropout draw for a tensor shaped like ``like`` (:class:`DropoutStream`): ``0`` (dropped,
    rate ``p`` rounded to a multiple of ``2^-24``) or ``1 / (1 - p)`` (kept), in ``like``'s dtype and device."""
    return DropoutStream(p).mask(like)


def dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """The library's one dropout (every dropout site of the models and methods calls it): ``x`` times
    :func:`dropout_mask`, the identity outside training or for ``p == 0``. Same distribution as ``F.dropout`` (up
    to ``p``'s rounding to ``2^-24``), other random numbers. For a CSR ``x`` only its stored values are drawn for
    (the zeros it does not store would stay zero under dense dropout too); CSR stays CSR."""
    if not training or p == 0.0:
        return x
    if not is_sparse(x):
        return x * dropout_mask(x, p)
    x = x if x.layout == torch.sparse_csr else x.to_sparse_csr()
    values = x.values()
    values = values * dropout_mask(values, p)
    return torch.sparse_csr_tensor(x.crow_indices(), x.col_indices(), values, x.shape, check_invariants=False)


# Row blocks of dropout_linear: about 4 MB of float32 each, so the mask and the dropped block stay in cache and are
# served from the allocator's free lists every epoch (a whole-matrix mask was ~1 GB of fresh pages per SIGN epoch).
DROPOUT_LINEAR_BLOCK = 1 << 20


def dropout_linear(x: Tensor, p: float, weight: Tensor, bias: Tensor | None, training: bool) -> Tensor:
    """``F.linear(dropout(x, p, training), weight, bias)`` for a dense input that needs no gradient (input features),
    computed by blocks of rows: the same mask as :func:`dropout` on the whole ``x`` (the generator is drawn in the
    same order, block after block), the same values up to float rounding, but neither a whole-size mask nor a
    whole-size dropped copy is allocated at once. Autograd keeps the dropped blocks for the weight's gradient. Any
    other input (CSR, a tensor that requires grad, eval mode) takes the plain path."""
    if (
        not training
        or p == 0.0
        or is_sparse(x)
        or x.requires_grad
        or x.dim() != 2
        or x.size(1) == 0
        or x.numel() <= 2 * DROPOUT_LINEAR_BLOCK
    ):
        return F.linear(dropout(x, p, training), weight, bias)
    rows = max(1, DROPOUT_LINEAR_BLOCK // x.size(1))
    stream = DropoutStream(p)
    return torch.cat([F.linear(stream.mask(block).mul_(block), weight, bias) for block in x.split(rows)])


def row_ids(x: Tensor) -> Tensor:
    """The row of every stored entry of a CSR ``x`` (``[nnz]``, int64)."""
    counts = x.crow_indices().diff()
    if x.size(0) == 1:  # one new node per request: no repeat_interleave (a third of one-node normalisation)
        return torch.zeros(x.values().numel(), dtype=torch.long, device=x.device)
    return torch.repeat_interleave(torch.arange(x.size(0), device=x.device), counts, output_size=x.values().numel())


def _csr_row_sq_norms(x: Tensor, rows: Tensor) -> Tensor:
    """Squared L2 norm of every row of a CSR ``x`` whose stored entries lie in rows ``rows`` (:func:`row_ids`)."""
    return torch.zeros(x.size(0), dtype=x.dtype, device=x.device).index_add_(0, rows, x.values().pow(2))


def row_sq_norms(x: Tensor) -> Tensor:
    """Squared L2 norm of every row ``[n]`` of a dense or CSR ``x``."""
    if not is_sparse(x):
        return x.pow(2).sum(-1)
    x = x if x.layout == torch.sparse_csr else x.to_sparse_csr()
    return _csr_row_sq_norms(x, row_ids(x))


def normalize_rows(x: Tensor) -> Tensor:
    """``F.normalize(x, dim=-1)`` for dense or CSR ``x`` (CSR stays CSR)."""
    if not is_sparse(x):
        return F.normalize(x, dim=-1)
    x = x if x.layout == torch.sparse_csr else x.to_sparse_csr()
    rows = row_ids(x)  # computed once for the norms and the division
    values = x.values() / _csr_row_sq_norms(x, rows).sqrt().clamp_min(1e-12)[rows]
    return torch.sparse_csr_tensor(x.crow_indices(), x.col_indices(), values, x.shape, check_invariants=False)


def row_sum_normalize(x: Tensor) -> Tensor:
    """PyG's ``NormalizeFeatures`` for dense or CSR ``x``: shifted by its smallest entry, then every row divided by
    its sum (rows summing below 1, e.g. all-zero ones, by 1). CSR stays CSR, with the same stored entries; it must
    then be non-negative (a shift would fill the unstored zeros)."""
    if not is_sparse(x):
        x = x - x.min()
        return x.div_(x.sum(dim=-1, keepdim=True).clamp_(min=1.0))
    x = x if x.layout == torch.sparse_csr else x.to_sparse_csr()
    low = min_value(x)
    if low < 0:
        raise ValueError(f"row_sum_normalize: a sparse matrix with negative entries (min {low:.3g}) would densify")
    values = x.values() - low if low > 0 else x.values()
    rows = row_ids(x)
    sums = torch.zeros(x.size(0), dtype=x.dtype, device=x.device).index_add_(0, rows, values)
    values = values / sums.clamp_(min=1.0)[rows]
    return torch.sparse_csr_tensor(x.crow_indices(), x.col_indices(), values, x.shape, check_invariants=False)


def min_value(x: Tensor) -> float:
    """The smallest entry of a dense or CSR ``x`` (a CSR matrix with an unstored entry has 0 among them)."""
    if not is_sparse(x):
        return float(x.min())
    x = x if x.layout == torch.sparse_csr else x.to_sparse_csr()
    values = x.values()
    stored_min = float(values.min()) if values.numel() else 0.0
    return min(stored_min, 0.0) if values.numel() < x.size(0) * x.size(1) else stored_min


NORMS = ("gcn", "mean", "sum")


def propagation_matrix(
    edge_index: Tensor,
    num_nodes: int,
    norm: str = "gcn",
    dtype: torch.dtype | None = None,
    *,
    add_self_loops: bool | None = None,
) -> Tensor:
    """The message-passing operator of ``edge_index`` as a CSR matrix ``P [N, N]``: ``P @ h`` is what a
    ``GCNConv`` (``norm="gcn"``: :math:`D^{-1/2}(A+I)D^{-1/2}` from PyG's ``gcn_norm``), a mean
    (``"mean"``: :math:`1/\\deg_{in}(i)`) or a sum (``"sum"``) aggregation computes from ``h``, where
    ``P[i, j]`` weighs the message ``j -> i``. A node without in-edges gets a zero row.

    ``add_self_loops`` (``gcn`` only): ``None`` or ``True`` adds the self-loops a node lacks, as ``GCNConv`` does;
    ``False`` normalises ``A`` itself, :math:`D^{-1/2} A D^{-1/2}` (``gcn_norm(add_self_loops=False)``: a node
    without edges then gets a zero row). The ``mean`` and ``sum`` operators never add self-loops; ``True`` is refused
    there. This is the one propagation operator of the library: SIGN/SGC's :func:`graphlearn.models.sign.propagate`,
    GIANT's :func:`~graphlearn.methods.giant.propagated_features` and the Cold Brew teacher use it.

    Why: PyG's ``MessagePassing`` gathers an ``[E, d]`` message tensor and scatters it back on every call; one
    ``torch.sparse.mm`` with the CSR operator, built once per graph, does the same sum. Amazon-Photo (245k edges,
    width 64, forward + backward, one core): 283 ms with ``SimpleConv``, 18 ms with this.
    """
    src, dst, weight = _weighted_edges(edge_index, num_nodes, norm, dtype, add_self_loops)
    coo = torch.sparse_coo_tensor(torch.stack([dst, src]), weight, (num_nodes, num_nodes), check_invariants=False)
    return coo.coalesce().to_sparse_csr()


def propagation_rows(
    edge_index: Tensor,
    num_nodes: int,
    start: int,
    end: int,
    norm: str = "gcn",
    dtype: torch.dtype | None = None,
    *,
    add_self_loops: bool | None = None,
) -> Tensor:
    """Rows ``start:end`` of :func:`propagation_matrix` (the messages into nodes ``start..end-1``) as a CSR matrix
    ``[end - start, N]``: a row block for a rank of a partitioned propagation
    (:class:`graphlearn.distributed.RowPartition`). The same weights as the whole operator's rows, but only the block's
    edges are weighted: besides them, building it takes ``N`` degrees and a byte per edge, not the whole operator."""
    if not 0 <= start <= end <= num_nodes:
        raise ValueError(f"row block [{start}, {end}) is not inside [0, {num_nodes}]")
    _check_operator(edge_index, num_nodes, norm, add_self_loops)
    dtype = dtype or torch.get_default_dtype()
    src, dst = edge_index
    rows = torch.arange(start, end, device=edge_index.device)
    loops = norm == "gcn" and add_self_loops is not False
    not_loop = src != dst if loops else None  # gcn_norm's add_remaining_self_loops: one loop of weight 1 per node
    in_block = (dst >= start) & (dst < end)
    if loops:
        in_block &= not_loop
    s, t = src[in_block], dst[in_block]
    if loops:
        s, t = torch.cat([s, rows]), torch.cat([t, rows])
    if norm == "sum":
        weight = torch.ones(t.numel(), dtype=dtype, device=t.device)
    else:
        deg = torch.bincount(dst[not_loop] if loops else dst, minlength=num_nodes).to(dtype)
        if norm == "gcn":
            deg = deg + 1 if loops else deg
            inv = deg.pow(-0.5)
            inv.masked_fill_(inv == float("inf"), 0)
            weight = inv[s] * inv[t]  # gcn_norm's deg^-1/2[src] * 1 * deg^-1/2[dst]
        else:  # mean
            weight = torch.ones(t.numel(), dtype=dtype, device=t.device) / deg[t]
    coo = torch.sparse_coo_tensor(torch.stack([t - start, s]), weight, (end - start, num_nodes), check_invariants=False)
    return coo.coalesce().to_sparse_csr()


def _check_operator(edge_index: Tensor, num_nodes: int, norm: str, add_self_loops: bool | None) -> None:
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; choose one of {list(NORMS)}")
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"edge_index must have shape [2, E] (got {list(edge_index.shape)})")
    if edge_index.numel() and (int(edge_index.min()) < 0 or int(edge_index.max()) >= num_nodes):
        raise ValueError(
            f"edge_index has node ids in [{int(edge_index.min())}, {int(edge_index.max())}], "
            f"outside [0, {num_nodes - 1}]"
        )
    if add_self_loops and norm != "gcn":
        raise ValueError(f"add_self_loops=True is supported for norm='gcn' only (got norm={norm!r})")


def _weighted_edges(
    edge_index: Tensor, num_nodes: int, norm: str, dtype: torch.dtype | None, add_self_loops: bool | None
) -> tuple[Tensor, Tensor, Tensor]:
    """``(src, dst, weight)`` of the operator's non-zeros (the checks of :func:`propagation_matrix`)."""
    _check_operator(edge_index, num_nodes, norm, add_self_loops)
    dtype = dtype or torch.get_default_dtype()
    if norm == "gcn":
        from torch_geometric.nn.conv.gcn_conv import gcn_norm  # noqa: PLC0415

        loops = True if add_self_loops is None else bool(add_self_loops)
        edge_index, weight = gcn_norm(edge_index, None, num_nodes, add_self_loops=loops, dtype=dtype)
    else:
        weight = torch.ones(edge_index.size(1), dtype=dtype, device=edge_index.device)
        if norm == "mean":
            deg = torch.zeros(num_nodes, dtype=dtype, device=edge_index.device)
            deg.index_add_(0, edge_index[1], weight)
            weight = weight / deg[edge_index[1]]
    src, dst = edge_index
    return src, dst, weight


class _FixedSpMM(torch.autograd.Function):
    """``P @ h`` for a constant CSR ``P`` whose backward multiplies by a cached CSR ``P^T``."""

    @staticmethod
    def forward(ctx, P: Tensor, PT: Tensor, h: Tensor) -> Tensor:
        ctx.PT = PT
        return P @ h

    @staticmethod
    def backward(ctx, grad: Tensor):
        return None, None, ctx.PT @ grad


def transpose_csr(P: Tensor) -> Tensor:
    """``P^T`` as a CSR matrix, computed once per ``P`` and kept on it (``P`` is a fixed propagation operator; sparse
    tensors are not modified in place on this path)."""
    PT = P.__dict__.get("_graphlearn_transpose_csr")
    if PT is None:
        PT = P.__dict__["_graphlearn_transpose_csr"] = P.t().to_sparse_csr()
    return PT


def spmm(P: Tensor, h: Tensor) -> Tensor:
    """``P @ h`` for a fixed CSR operator ``P`` (e.g. :func:`propagation_matrix`) and a dense ``h``.

    Same values and gradients as ``P @ h`` (bit-identical), but autograd's backward of a CSR product transposes
    ``P`` on every step; here the transpose is built once per operator (:func:`transpose_csr`). One Cold Brew teacher
    step on Amazon-Photo, forward + backward: 0.143 -> 0.114 s (``benchmarks/results/speed.md``)."""
    if P.layout != torch.sparse_csr or not (torch.is_grad_enabled() and h.requires_grad):
        return P @ h
    return _FixedSpMM.apply(P, transpose_csr(P), h)


def _transposed(weight: Tensor) -> Tensor:
    """``weight.t().contiguous()``, kept on the weight tensor until it changes (its version counter and storage)."""
    key = (weight._version, weight.data_ptr())
    hit = weight.__dict__.get("_graphlearn_transposed")
    if hit is None or hit[0] != key:
        hit = weight.__dict__["_graphlearn_transposed"] = (key, weight.detach().t().contiguous())
    return hit[1]


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None, columns: slice | None = None) -> Tensor:
    """``F.linear(x, weight[:, columns], bias)``. For a CSR ``x`` at inference (no autograd) the product uses a
    cached contiguous ``weight^T``: ``F.linear`` copies ``weight^T`` into a contiguous buffer on every call, which
    dominated one-node inference (the student per new Cora node 0.726 -> 0.319 ms before one-row calls moved to
    NumPy, methods/coldbrew/onerow.py). Bit-identical values."""
    if x.layout == torch.sparse_csr and not torch.is_grad_enabled():
        wt = _transposed(weight)
        wt = wt if columns is None else wt[columns]
        return torch.sparse.mm(x, wt) if bias is None else torch.addmm(bias, x, wt)
    w = weight if columns is None else weight[:, columns]
    return F.linear(x, w, bias)


def mlp_forward(
    mlp,
    parts: Sequence[Tensor],
    batch: Tensor | None = None,
    batch_size: int | None = None,
    return_emb: bool = False,
    input_dropout: float = 0.0,
):
    """``mlp(torch.cat(parts, dim=-1))`` for a PyG :class:`~torch_geometric.nn.MLP`, with its first layer applied
    block by block: ``W [x_1, ..., x_k] = W_1 x_1 + ... + W_k x_k``. Lets a CSR bag-of-words block sit beside dense
    blocks without concatenation turning the dense columns into stored sparse entries: Cold Brew's MLP2 on
    Coauthor-CS (60 stored entries per row plus 158 dense columns), forward + backward of the first layer,
    2.6 s as one CSR matrix; the sparse block alone 0.63 s, the dense one a small GEMM. Same parameters, same
    result (up to float rounding); one dense part is exactly PyG's arithmetic. The hidden dropouts are
    :func:`dropout` (this is the forward of :class:`graphlearn.models.mlp.PyGMLP`). ``batch`` / ``batch_size`` go
    to norms that take them; ``return_emb`` returns ``(out, last hidden)`` as PyG's ``MLP.forward`` does.
    ``input_dropout`` drops the inputs first (:func:`dropout`; one dense part through :func:`dropout_linear`, the same
    draw without a whole-size mask)."""
    first = mlp.lins[0]
    if input_dropout and mlp.training:
        if len(parts) == 1 and not is_sparse(parts[0]):
            x = dropout_linear(parts[0], input_dropout, first.weight, first.bias, True)
            return _mlp_rest(mlp, x, batch, batch_size, return_emb)
        parts = [dropout(p, input_dropout, True) for p in parts]
    widths = [p.size(-1) for p in parts]
    if sum(widths) != first.in_channels:
        raise ValueError(
            f"the parts have {sum(widths)} columns in all; the MLP's first layer takes {first.in_channels}"
        )
    if len(parts) == 1 and not (is_sparse(parts[0]) and not torch.is_grad_enabled()):
        x = F.linear(parts[0], first.weight, first.bias)  # what PyG's Linear computes
    else:
        x, start = None, 0
        for p, w in zip(parts, widths):
            term = linear(p, first.weight, columns=slice(start, start + w))
            x = term if x is None else x + term
            start += w
        if first.bias is not None:
            x = x + first.bias
    return _mlp_rest(mlp, x, batch, batch_size, return_emb)


def _mlp_rest(mlp, x: Tensor, batch: Tensor | None, batch_size: int | None, return_emb: bool):
    """:func:`mlp_forward` after the first layer's linear map."""
    # PyG MLP.forward, first layer done above. Its Linear is F.linear(x, weight, bias); calling F.linear directly and
    # skipping identity norms and inactive dropouts is the same arithmetic without module-call overhead per layer
    # (a third of one new node's inference).
    lins, act, training = mlp.lins, mlp.act, mlp.training
    emb = None
    for i, norm in enumerate(mlp.norms):
        if i > 0:
            x = F.linear(x, lins[i].weight, lins[i].bias)
        if act is not None and mlp.act_first:
            x = act(x)
        if mlp.supports_norm_batch:
            x = norm(x, batch, batch_size)
        elif not isinstance(norm, torch.nn.Identity):
            x = norm(x)
        if act is not None and not mlp.act_first:
            x = act(x)
        if training:
            x = dropout(x, mlp.dropout[i], True)
        emb = x
    if mlp.plain_last:
        if len(lins) > 1:
            x = F.linear(x, lins[-1].weight, lins[-1].bias)
        if training:
            x = dropout(x, mlp.dropout[-1], True)
    return (x, emb) if return_emb else x
