"""Check a graph against the graph contract of ``docs/design.md`` and clean it.

:func:`validate_graph` is the one gate every user-supplied graph goes through:
it returns a cleaned copy (float32 finite ``x``, int64 ``y`` with ``-1`` for
unlabelled nodes, an undirected coalesced ``edge_index`` without self-loops or
duplicates, disjoint bool masks) or raises :class:`GraphValidationError` with a
message that names the source, the offending row / edge and its value. The
bad inputs it handles, with real messages, are listed in ``docs/bad_inputs.md``.
"""

from __future__ import annotations

import copy
import logging

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import coalesce, remove_self_loops, to_undirected

log = logging.getLogger(__name__)

POLICIES = ("remove", "error")
MASKS = ("train_mask", "val_mask", "test_mask")


class GraphValidationError(ValueError):
    """A graph, or a file describing one, breaks the graph contract.

    The message names the file (or ``<in-memory>``), the row / edge and the
    offending value when they are known; the same facts are kept on the
    attributes ``source``, ``row`` and ``value`` (``None`` when unknown).
    """

    def __init__(self, message: str, *, source=None, row=None, value=None):
        super().__init__(message)
        self.source, self.row, self.value = source, row, value


def check_policy(name: str, value: str) -> None:
    if value not in POLICIES:
        raise ValueError(f"{name} must be one of {POLICIES}; got {value!r}")


# ------------------------------------------------------------ edge helpers
# Shared with graphlearn.data.user, which reports the same findings in terms of
# edge-file rows and original node ids.
def first_self_loop(edge_index: Tensor) -> int | None:
    """Position of the first self-loop in ``edge_index`` or ``None``."""
    loops = (edge_index[0] == edge_index[1]).nonzero().view(-1)
    return int(loops[0]) if loops.numel() else None


def first_duplicate(edge_index: Tensor, num_nodes: int) -> tuple[int, int] | None:
    """``(j, i)``: edge ``j`` is the first edge repeating the same ordered
    ``(src, dst)`` pair as the earlier edge ``i``; ``None`` when there is none.
    Self-loops are ignored (they have their own policy)."""
    keep = (edge_index[0] != edge_index[1]).nonzero().view(-1)
    key = edge_index[0, keep] * num_nodes + edge_index[1, keep]
    sorted_key, perm = torch.sort(key, stable=True)
    repeat = sorted_key[1:] == sorted_key[:-1]
    if not bool(repeat.any()):
        return None
    j = int(keep[perm[1:][repeat].min()])  # stable sort: perm[1:] are later copies
    k = edge_index[0, j] * num_nodes + edge_index[1, j]
    i = int(keep[(key == k).nonzero()[0, 0]])
    return j, i


def count_duplicates(edge_index: Tensor, num_nodes: int) -> int:
    """Number of repeated ordered ``(src, dst)`` pairs, self-loops ignored."""
    no_loops = edge_index[:, edge_index[0] != edge_index[1]]
    key = no_loops[0] * num_nodes + no_loops[1]
    return int(key.numel() - torch.unique(key).numel())


# ------------------------------------------------------------ the validator
def _copy(data: Data) -> Data:
    """Tensors cloned, lists / dicts copied one level; other objects shared.
    (``Data.clone`` deep-copies ``node_ids`` element by element: seconds for
    a million ids.)"""
    out = copy.copy(data)
    for key, value in data.items():
        if isinstance(value, Tensor):
            out[key] = value.clone()
        elif isinstance(value, (list, dict)):
            out[key] = copy.copy(value)
    return out


def _node(data: Data, i: int) -> str:
    ids = getattr(data, "node_ids", None)
    return f"node {i} (id {ids[i]!r})" if ids is not None and i < len(ids) else f"node {i}"


def _shape(t: Tensor) -> tuple[int, ...]:
    return tuple(t.shape)


def _check_x(data: Data, source: str) -> Tensor:
    x = data.x
    if x is None:
        raise GraphValidationError(
            f"{source}: data has no node features 'x'; expected a float tensor [num_nodes, num_features]", source=source
        )
    if not isinstance(x, Tensor):
        raise GraphValidationError(f"{source}: x is a {type(x).__name__}; expected a torch.Tensor", source=source)
    if x.dim() != 2:
        raise GraphValidationError(
            f"{source}: x has shape {_shape(x)}; expected a 2-D tensor [num_nodes, num_features]", source=source
        )
    if not x.is_floating_point():
        raise GraphValidationError(f"{source}: x has dtype {x.dtype}; expected a floating-point tensor", source=source)
    if x.size(0) == 0:
        raise GraphValidationError(
            f"{source}: the graph is empty (x has shape {_shape(x)}); expected at least one node", source=source
        )
    x32 = x.to(torch.float32)
    first = None  # (row, column, value, count) of the non-finite values
    if x32.layout == torch.sparse_csr:  # checked on the stored values: a sparse x is never made dense
        bad = ~torch.isfinite(x32.values())
        if bool(bad.any()):
            j = int(bad.nonzero()[0])
            r = int(torch.searchsorted(x32.crow_indices(), torch.tensor(j), right=True)) - 1
            first = (r, int(x32.col_indices()[j]), float(x.values()[j]), int(bad.sum()))
    else:
        bad = ~torch.isfinite(x32)
        if bool(bad.any()):
            r, c = (int(v) for v in bad.nonzero()[0])
            first = (r, c, x[r, c].item(), int(bad.sum()))
    if first is not None:
        r, c, value, count = first
        why = "" if value != value or abs(value) == float("inf") else " (overflows float32)"
        raise GraphValidationError(
            f"{source}: x[{r}, {c}] = {value}{why} at {_node(data, r)}, feature column "
            f"{c}; node features must be finite ({count} non-finite value(s) in total)",
            source=source,
            row=r,
            value=value,
        )
    return x32


def _check_y(data: Data, source: str, n: int) -> Tensor:
    y = data.y
    if y is None:
        return torch.full((n,), -1, dtype=torch.long)
    if not isinstance(y, Tensor):
        raise GraphValidationError(f"{source}: y is a {type(y).__name__}; expected a torch.Tensor", source=source)
    if y.dim() == 2 and y.size(1) == 1:  # OGB stores labels as [N, 1]
        y = y.view(-1)
    if y.dim() != 1 or y.numel() != n:
        raise GraphValidationError(
            f"{source}: y has shape {_shape(y)}; expected [{n}] (one label per node)", source=source
        )
    if y.is_floating_point() or y.dtype == torch.bool or y.is_complex():
        raise GraphValidationError(
            f"{source}: y has dtype {y.dtype}; expected integer class indices (-1 = unlabelled)", source=source
        )
    y = y.long()
    bad = (y < -1).nonzero().view(-1)
    if bad.numel():
        i = int(bad[0])
        raise GraphValidationError(
            f"{source}: y[{i}] = {int(y[i])} at {_node(data, i)}; "
            f"labels must be class indices >= 0, or -1 for "
            f"unlabelled",
            source=source,
            row=i,
            value=int(y[i]),
        )
    return y


def _check_edge_index(data: Data, source: str, n: int) -> Tensor:
    ei = data.edge_index
    if ei is None:
        return torch.empty(2, 0, dtype=torch.long)
    if not isinstance(ei, Tensor):
        raise GraphValidationError(
            f"{source}: edge_index is a {type(ei).__name__}; expected a torch.Tensor", source=source
        )
    if ei.dim() != 2 or ei.size(0) != 2:
        raise GraphValidationError(
            f"{source}: edge_index has shape {_shape(ei)}; expected [2, num_edges]", source=source
        )
    if ei.is_floating_point() or ei.dtype == torch.bool or ei.is_complex():
        raise GraphValidationError(
            f"{source}: edge_index has dtype {ei.dtype}; expected an integer tensor", source=source
        )
    ei = ei.long()
    bad = ((ei < 0) | (ei >= n)).any(0).nonzero().view(-1)
    if bad.numel():
        j = int(bad[0])
        r = 0 if not 0 <= int(ei[0, j]) < n else 1
        value = int(ei[r, j])
        raise GraphValidationError(
            f"{source}: edge {j} ({int(ei[0, j])} -> {int(ei[1, j])}): "
            f"edge_index[{r}, {j}] = {value} is out of range; node ids must be in "
            f"[0, {n}) ({bad.numel()} bad edge(s) in total)",
            source=source,
            row=j,
            value=value,
        )
    return ei


def _check_masks(data: Data, source: str, y: Tensor) -> None:
    n = y.numel()
    present = [m for m in MASKS if getattr(data, m, None) is not None]
    for name in present:
        m = data[name]
        if not isinstance(m, Tensor) or m.dtype != torch.bool:
            what = m.dtype if isinstance(m, Tensor) else type(m).__name__
            raise GraphValidationError(f"{source}: {name} has dtype {what}; expected torch.bool", source=source)
        if _shape(m) != (n,):
            raise GraphValidationError(
                f"{source}: {name} has shape {_shape(m)}; expected [{n}] (one entry per node)", source=source
            )
    if len(present) > 1:
        count = sum(data[name].long() for name in present)
        both = (count > 1).nonzero().view(-1)
        if both.numel():
            i = int(both[0])
            names = [name for name in present if bool(data[name][i])]
            raise GraphValidationError(
                f"{source}: {_node(data, i)} is in {' and '.join(names)}; the masks "
                f"must be disjoint ({both.numel()} node(s) in more than one)",
                source=source,
                row=i,
            )
    if "train_mask" in present:
        missing = (data.train_mask & (y < 0)).nonzero().view(-1)
        if missing.numel():
            i = int(missing[0])
            raise GraphValidationError(
                f"{source}: train {_node(data, i)} has no label (y = -1); every "
                f"train node needs a label ({missing.numel()} unlabelled train "
                f"node(s))",
                source=source,
                row=i,
                value=-1,
            )


def validate_graph(
    data: Data,
    source: str = "<in-memory>",
    *,
    self_loops: str = "remove",
    duplicate_edges: str = "remove",
    undirected: bool = True,
) -> Data:
    """Check ``data`` against the graph contract and return a cleaned copy.

    Checks, in order: ``x`` is a 2-D floating tensor with at least one row and
    only finite values (cast to float32); ``y`` (optional, ``[N]`` or
    ``[N, 1]``) holds integers ``>= -1`` (cast to int64; absent means all
    ``-1``); ``num_classes`` (set when absent) exceeds every label;
    ``edge_index`` is an integer ``[2, E]`` tensor with ids in ``[0, N)``;
    ``node_ids`` (optional) has ``N`` entries; ``train/val/test_mask`` are bool
    ``[N]`` and disjoint, and every train node has a label. Then self-loops and
    repeated ``(src, dst)`` pairs are handled by their policy (``"remove"``
    logs how many were dropped at INFO level, ``"error"`` raises naming the
    first one), and the edges are symmetrised and coalesced with PyG.

    Args:
        data (Data): the graph; never modified.
        source (str): what to call the graph in messages (a file name).
            (default: ``"<in-memory>"``)
        self_loops (str): ``"remove"`` or ``"error"``. (default: ``"remove"``)
        duplicate_edges (str): ``"remove"`` or ``"error"``; an edge and its
            reverse are not duplicates. (default: ``"remove"``)
        undirected (bool): store both directions of every edge, as the
            contract requires; ``False`` keeps the given directions (sorted and
            de-duplicated), for callers that want a directed graph.
            (default: ``True``)

    Raises:
        GraphValidationError: naming ``source``, the row / edge and the value.
    """
    check_policy("self_loops", self_loops)
    check_policy("duplicate_edges", duplicate_edges)
    if not isinstance(data, Data):
        raise TypeError(f"validate_graph expects a torch_geometric.data.Data; got {type(data).__name__}")
    data = _copy(data)  # everything below works on (and returns) the copy
    x = _check_x(data, source)
    n = x.size(0)
    if "num_nodes" in data and data.num_nodes != n:
        raise GraphValidationError(f"{source}: num_nodes = {data.num_nodes} but x has {n} rows", source=source)
    y = _check_y(data, source, n)
    labelled_max = int(y.max())
    num_classes = getattr(data, "num_classes", None)
    if num_classes is None:
        num_classes = labelled_max + 1
    elif labelled_max >= int(num_classes):
        i = int(y.argmax())
        raise GraphValidationError(
            f"{source}: y[{i}] = {labelled_max} at {_node(data, i)} "
            f"but num_classes is {num_classes}; labels must be "
            f"in [0, num_classes)",
            source=source,
            row=i,
            value=labelled_max,
        )
    ids = getattr(data, "node_ids", None)
    if ids is not None and len(ids) != n:
        raise GraphValidationError(
            f"{source}: node_ids has {len(ids)} entries; expected {n} (one per node)", source=source
        )
    ei = _check_edge_index(data, source, n)
    edge_attr = getattr(data, "edge_attr", None)
    if edge_attr is not None and edge_attr.size(0) != ei.size(1):
        raise GraphValidationError(
            f"{source}: edge_attr has {edge_attr.size(0)} rows but edge_index has {ei.size(1)} edges", source=source
        )
    _check_masks(data, source, y)

    j = first_self_loop(ei)
    if j is not None:
        if self_loops == "error":
            raise GraphValidationError(
                f"{source}: edge {j} is a self-loop on {_node(data, int(ei[0, j]))} "
                f"(self_loops='error'; pass self_loops='remove' to drop them)",
                source=source,
                row=j,
                value=int(ei[0, j]),
            )
        before = ei.size(1)
        ei, edge_attr = remove_self_loops(ei, edge_attr)
        log.info("%s: removed %d self-loop(s)", source, before - ei.size(1))
    dup = count_duplicates(ei, n)
    if dup:
        if duplicate_edges == "error":
            j, i = first_duplicate(ei, n)
            raise GraphValidationError(
                f"{source}: edge {j} ({int(ei[0, j])} -> {int(ei[1, j])}) repeats edge "
                f"{i} (duplicate_edges='error'; pass duplicate_edges='remove' to drop "
                f"them)",
                source=source,
                row=j,
            )
        log.info("%s: removed %d duplicate edge(s)", source, dup)
    # Repeated edges are merged by coalesce / to_undirected; repeated edge
    # attributes are averaged.
    if undirected:
        ei, edge_attr = to_undirected(ei, edge_attr, num_nodes=n, reduce="mean")
    else:
        ei, edge_attr = coalesce(ei, edge_attr, num_nodes=n, reduce="mean")

    data.x, data.y, data.edge_index = x, y, ei
    if edge_attr is not None:
        data.edge_attr = edge_attr
    data.num_classes = int(num_classes)
    return data
