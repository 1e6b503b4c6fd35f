"""Node splits and the degree-group protocols (cold start, GLNN inductive).

Every function here is seeded and non-mutating: it returns a shallow copy of
the input :class:`~torch_geometric.data.Data` with new tensors attached.
The exact rules, and how they differ from the papers, are in
``docs/protocols.md``.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform
from torch_geometric.utils import degree as pyg_degree
from torch_geometric.utils import is_undirected

from ..io import atomic_write as _atomic_write

GROUPS = ("overall", "head", "tail", "isolated")
# Extra groups reported under the GLNN inductive protocol (InductiveSplit).
INDUCTIVE_GROUPS = ("tran", "ind")

_SPLIT_FORMAT = 1


# ---------------------------------------------------------------- helpers
def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def _check_fraction(name: str, value: float, *, allow_zero: bool = True) -> None:
    low_ok = value >= 0 if allow_zero else value > 0
    if not (low_ok and value < 1):
        bound = "[0, 1)" if allow_zero else "(0, 1)"
        raise ValueError(f"'{name}' must be a fraction in {bound} (got {value!r})")


def _copy(data: Data) -> Data:
    # Shallow copy: the tensors we replace are new objects, the rest is shared
    # read-only with the input (x can be large; cloning it would double memory).
    return copy.copy(data)


def node_degree(edge_index: Tensor, num_nodes: int) -> Tensor:
    """Degree of every node of an undirected ``edge_index`` (both directions
    stored), as int64 ``[num_nodes]``."""
    return pyg_degree(edge_index[0], num_nodes, dtype=torch.long)


def degree_order(deg: Tensor, seed: int = 0) -> Tensor:
    """Node indices sorted by ascending degree, ties broken by a seeded random
    permutation (so equal-degree nodes do not fall into a group by index)."""
    perm = torch.randperm(deg.numel(), generator=_generator(seed))
    order = torch.sort(deg[perm], stable=True).indices
    return perm[order]


def _drop_edges_touching(edge_index: Tensor, nodes_mask: Tensor) -> Tensor:
    keep = ~(nodes_mask[edge_index[0]] | nodes_mask[edge_index[1]])
    return edge_index[:, keep]


def _require(data: Data, *names: str) -> None:
    missing = [n for n in names if getattr(data, n, None) is None]
    if missing:
        raise ValueError(f"data has no attribute(s) {missing}; the graph contract (docs/design.md) requires them")


def _require_undirected(data: Data) -> None:
    if not is_undirected(data.edge_index, num_nodes=data.num_nodes):
        raise ValueError(
            "edge_index must be undirected (both directions stored) to "
            "rank nodes by degree; apply "
            "torch_geometric.transforms.ToUndirected() first"
        )


def _mask(index: Tensor, n: int) -> Tensor:
    mask = torch.zeros(n, dtype=torch.bool)
    mask[index] = True
    return mask


# ---------------------------------------------------------- random split
def stratified_split(data: Data, train: float = 0.6, val: float = 0.2, seed: int = 0) -> Data:
    """Per-class random split of the labelled nodes (``y >= 0``).

    Each class ``c`` with ``n_c`` nodes gives ``round(train * n_c)`` nodes to
    train, ``round(val * n_c)`` to validation and the rest to test; unlabelled
    nodes are in no mask. Written by hand because
    :func:`sklearn.model_selection.train_test_split` refuses classes with a
    single member, which small user graphs have.

    Args:
        data: graph with ``y`` (int64 ``[N]``, ``-1`` = unlabelled).
        train (float): training fraction. (default: ``0.6``)
        val (float): validation fraction. (default: ``0.2``)
        seed (int): random seed. (default: ``0``)
    """
    _require(data, "y")
    _check_fraction("train", train, allow_zero=False)
    _check_fraction("val", val)
    if train + val >= 1:
        raise ValueError(f"train + val must be < 1 to leave test nodes (got {train} + {val})")
    y = data.y.view(-1)
    n = y.numel()
    gen = _generator(seed)
    masks = {k: torch.zeros(n, dtype=torch.bool) for k in ("train", "val", "test")}
    for c in torch.unique(y[y >= 0]).tolist():
        idx = (y == c).nonzero().view(-1)
        idx = idx[torch.randperm(idx.numel(), generator=gen)]
        n_tr = int(round(train * idx.numel()))
        n_va = int(round(val * idx.numel()))
        masks["train"][idx[:n_tr]] = True
        masks["val"][idx[n_tr : n_tr + n_va]] = True
        masks["test"][idx[n_tr + n_va :]] = True
    out = _copy(data)
    out.train_mask, out.val_mask, out.test_mask = (masks["train"], masks["val"], masks["test"])
    out.split_info = {"split": "stratified", "train": train, "val": val, "seed": seed}
    return out


# ------------------------------------------------------ degree groups
def _group_sizes(n: int, **fractions: float) -> dict[str, int]:
    return {k: int(round(f * n)) for k, f in fractions.items()}


def _thresholds(deg: Tensor, **masks: Tensor) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, m in masks.items():
        d = deg[m]
        out[name] = {
            "count": int(m.sum()),
            "min_degree": int(d.min()) if d.numel() else None,
            "max_degree": int(d.max()) if d.numel() else None,
        }
    return out


def degree_groups(data: Data, head: float = 0.1, tail: float = 0.1, seed: int = 0) -> Data:
    """Standard (non cold-start) degree groups; no edge is removed.

    ``isolated`` = the naturally zero-degree nodes, ``tail`` = the
    ``round(tail * N)`` lowest-degree nodes among the others, ``head`` = the
    ``round(head * N)`` highest-degree nodes; ties broken by a seeded
    permutation. Adds ``head_mask``, ``tail_mask``, ``isolated_mask``,
    ``degree`` and ``split_info`` to a copy of ``data``.
    """
    _require(data, "edge_index")
    _check_fraction("head", head)
    _check_fraction("tail", tail)
    _require_undirected(data)
    n = data.num_nodes
    deg = node_degree(data.edge_index, n)
    order = degree_order(deg, seed)
    sizes = _group_sizes(n, head=head, tail=tail)
    isolated = deg == 0
    rest = order[~isolated[order]]
    tail_idx = rest[: sizes["tail"]]
    head_idx = rest[sizes["tail"] :].flip(0)[: sizes["head"]]
    out = _copy(data)
    out.degree = deg
    out.isolated_mask = isolated
    out.tail_mask = _mask(tail_idx, n)
    out.head_mask = _mask(head_idx, n)
    out.split_info = {
        "split": "degree_groups",
        "head": head,
        "tail": tail,
        "seed": seed,
        "thresholds": _thresholds(deg, head=out.head_mask, tail=out.tail_mask, isolated=isolated),
    }
    return out


class ColdStartSplit(BaseTransform):
    r"""Cold-start (strict cold start) split after Cold Brew
    (`Zheng et al., ICLR 2022 <https://openreview.net/forum?id=1ugNpm7W6E>`_).

    Rule (see ``docs/protocols.md``): rank nodes by degree in the original
    graph, ties broken by a seeded permutation. ``isolated`` = the lowest
    ``round(isolated * N)`` nodes (all naturally zero-degree nodes first, and
    all of them even beyond the quota); every edge touching them is removed and
    they are dropped from ``train_mask`` / ``val_mask``. ``tail`` = the next
    ``round(tail * N)`` nodes in that order that still have an edge after the
    removal. ``head`` = the top ``round(head * N)`` nodes by original degree.

    The validation nodes made isolated are the **cold-start validation set** (``val_isolated_mask``): they are
    selected by the same rule as the isolated test nodes, lose their edges the same way and never give a label to
    training, so a choice scored on them sees what the isolated test group will see (:func:`val_group_masks`).

    Args:
        head (float): fraction of nodes in the head group. (default: ``0.1``)
        tail (float): fraction of nodes in the tail group. (default: ``0.1``)
        isolated (float): fraction of nodes made isolated. (default: ``0.1``)
        seed (int): seed of the tie-breaking permutation. (default: ``0``)
    """

    def __init__(self, head: float = 0.1, tail: float = 0.1, isolated: float = 0.1, seed: int = 0):
        for name, value in (("head", head), ("tail", tail), ("isolated", isolated)):
            _check_fraction(name, value)
        if head + tail + isolated > 1:
            raise ValueError(f"head + tail + isolated must be <= 1 (got {head} + {tail} + {isolated})")
        self.head, self.tail, self.isolated, self.seed = head, tail, isolated, seed

    def config(self) -> dict[str, Any]:
        return {
            "split": "coldstart",
            "head": self.head,
            "tail": self.tail,
            "isolated": self.isolated,
            "seed": self.seed,
        }

    def forward(self, data: Data) -> Data:
        _require(data, "edge_index", "train_mask", "val_mask", "test_mask")
        _require_undirected(data)
        n = data.num_nodes
        deg = node_degree(data.edge_index, n)
        order = degree_order(deg, self.seed)
        sizes = _group_sizes(n, head=self.head, tail=self.tail, isolated=self.isolated)

        n_iso = max(sizes["isolated"], int((deg == 0).sum()))
        isolated = _mask(order[:n_iso], n)
        edge_index = _drop_edges_touching(data.edge_index, isolated)
        deg_after = node_degree(edge_index, n)

        rest = order[n_iso:]
        # Nodes whose every neighbour was made isolated lose all their edges
        # too ("orphans"); they are not tail (they have no neighbourhood) nor
        # isolated by design: they stay in train/val and in no group.
        orphan = (deg_after == 0) & ~isolated
        tail_idx = rest[~orphan[rest]][: sizes["tail"]]
        tail = _mask(tail_idx, n)
        head_cand = order.flip(0)
        head_cand = head_cand[~(isolated | tail)[head_cand]]
        head = _mask(head_cand[: sizes["head"]], n)

        out = _copy(data)
        out.edge_index = edge_index
        if getattr(data, "edge_attr", None) is not None:
            keep = ~(isolated[data.edge_index[0]] | isolated[data.edge_index[1]])
            out.edge_attr = data.edge_attr[keep]
        out.degree = deg
        out.head_mask, out.tail_mask, out.isolated_mask = head, tail, isolated
        out.train_mask = data.train_mask & ~isolated
        out.val_mask = data.val_mask & ~isolated
        # the cold-start validation set: validation nodes the rule made isolated, exactly as the isolated test nodes
        # (no edge in the training graph, no label in training; out of val_mask, so no early stopping sees them)
        out.val_isolated_mask = data.val_mask & isolated
        info = self.config()
        info.update(
            {
                "num_nodes": n,
                "num_edges_before": int(data.edge_index.size(1)),
                "num_edges_after": int(edge_index.size(1)),
                "natural_zero_degree": int((deg == 0).sum()),
                "orphaned": int(orphan.sum()),
                "removed_from_train": int((data.train_mask & isolated).sum()),
                "removed_from_val": int((data.val_mask & isolated).sum()),
                "cold_validation": int(out.val_isolated_mask.sum()),
                "thresholds": _thresholds(deg, head=head, tail=tail, isolated=isolated),
            }
        )
        out.split_info = info
        return out

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(head={self.head}, tail={self.tail}, isolated={self.isolated}, seed={self.seed})"
        )


class InductiveSplit(BaseTransform):
    r"""GLNN inductive split (`Zhang et al., ICLR 2022
    <https://arxiv.org/abs/2110.08727>`_): hold out ``int(ratio * |test|)``
    random test nodes (``test_ind_mask``) together with all their edges.

    ``edge_index`` becomes the observed graph used for training, and
    ``full_edge_index`` keeps every edge for inference; ``test_tran_mask`` is
    the rest of the test set. Held-out nodes stay in ``x`` (their rows never
    reach a training loss or, with no edges, another node).

    Args:
        ratio (float): fraction of test nodes held out. (default: ``0.2``)
        seed (int): random seed. (default: ``0``)
    """

    def __init__(self, ratio: float = 0.2, seed: int = 0):
        _check_fraction("ratio", ratio, allow_zero=False)
        self.ratio, self.seed = ratio, seed

    def config(self) -> dict[str, Any]:
        return {"split": "inductive", "ratio": self.ratio, "seed": self.seed}

    def forward(self, data: Data) -> Data:
        _require(data, "edge_index", "test_mask")
        n = data.num_nodes
        test_idx = data.test_mask.nonzero().view(-1)
        perm = torch.randperm(test_idx.numel(), generator=_generator(self.seed))
        cut = int(test_idx.numel() * self.ratio)  # int() as in GLNN's idx_split
        ind = _mask(test_idx[perm[:cut]], n)
        out = _copy(data)
        out.full_edge_index = data.edge_index
        out.edge_index = _drop_edges_touching(data.edge_index, ind)
        out.test_ind_mask = ind
        out.test_tran_mask = data.test_mask & ~ind
        info = self.config()
        info.update(
            {
                "num_test_ind": int(ind.sum()),
                "num_test_tran": int(out.test_tran_mask.sum()),
                "num_edges_observed": int(out.edge_index.size(1)),
                "num_edges_full": int(data.edge_index.size(1)),
            }
        )
        prev = getattr(data, "split_info", None)
        if isinstance(prev, dict):
            info["previous"] = prev
        out.split_info = info
        return out

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(ratio={self.ratio}, seed={self.seed})"


def group_masks(data: Data) -> dict[str, Tensor]:
    """Test-restricted bool masks per reporting group.

    Returns ``{"overall": test_mask, "head": test & head_mask, ...}`` in
    :data:`GROUPS` order, then ``"tran"`` / ``"ind"`` when
    :class:`InductiveSplit` was applied. A group is left out when its mask is
    absent or has no test node (so no NaN reaches a results file).
    """
    _require(data, "test_mask")
    test = data.test_mask
    out = {"overall": test}
    sources = [(g, f"{g}_mask") for g in GROUPS[1:]]
    sources += [("tran", "test_tran_mask"), ("ind", "test_ind_mask")]
    for group, attr in sources:
        mask = getattr(data, attr, None)
        if mask is not None:
            m = test & mask
            if bool(m.any()):
                out[group] = m
    return out


def val_group_masks(data: Data) -> dict[str, Tensor]:
    """Validation bool masks per reporting group, the selection sets matching :func:`group_masks`.

    ``{"overall": val_mask, "head": val & head_mask, "tail": val & tail_mask, "isolated": val_isolated_mask}`` (the
    cold-start validation set of :class:`ColdStartSplit`); a group is left out when its mask is absent or empty.
    """
    _require(data, "val_mask")
    val = data.val_mask
    out = {"overall": val}
    for group in GROUPS[1:]:
        if group == "isolated":
            mask = getattr(data, "val_isolated_mask", None)
        else:
            mask = getattr(data, f"{group}_mask", None)
            mask = None if mask is None else val & mask
        if mask is not None and bool(mask.any()):
            out[group] = mask
    return out


# ----------------------------------------------------------- save / load
def _sidecar(path: Path) -> Path:
    return path.with_suffix(".json")


def _split_tensors(data: Data) -> dict[str, Tensor]:
    n = data.num_nodes
    out = {}
    for key, value in data.items():
        if (
            isinstance(value, Tensor)
            and value.dim() == 1
            and value.numel() == n
            and (key.endswith("_mask") and value.dtype == torch.bool or key == "degree")
        ):
            out[key] = value
    return out


def save_split(data: Data, path) -> tuple[Path, Path]:
    """Write the masks (and ``degree``) of ``data`` to ``path`` (npz) and the
    split config and degree thresholds (``data.split_info``) to a JSON sidecar
    (``path`` with suffix ``.json``). Both are written atomically (temporary
    file + :func:`os.replace`). Returns ``(npz_path, json_path)``."""
    path = Path(path)
    tensors = _split_tensors(data)
    if not tensors:
        raise ValueError(f"data has no '*_mask' bool tensors of length num_nodes to save to {path}")
    arrays = {k: v.cpu().numpy() for k, v in tensors.items()}
    meta = {
        "format": _SPLIT_FORMAT,
        "num_nodes": int(data.num_nodes),
        "keys": sorted(arrays),
        "info": getattr(data, "split_info", None) or {},
    }
    _atomic_write(path, lambda f: np.savez(f, **arrays))
    _atomic_write(_sidecar(path), lambda f: f.write(json.dumps(meta, indent=2, sort_keys=True).encode()))
    return path, _sidecar(path)


def load_split_info(path) -> dict[str, Any]:
    """The JSON sidecar of a split written by :func:`save_split`."""
    side = _sidecar(Path(path))
    if not side.is_file():
        raise FileNotFoundError(f"split sidecar not found: {side} (written by save_split next to {path})")
    try:
        meta = json.loads(side.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"split sidecar {side} is not valid JSON: {e}") from e
    for key in ("format", "num_nodes", "keys", "info"):
        if key not in meta:
            raise KeyError(f"split sidecar {side} has no key '{key}'")
    return meta


def load_split(path) -> dict[str, Tensor]:
    """Masks (bool) and ``degree`` (int64) saved by :func:`save_split`.

    Raises :class:`FileNotFoundError` naming the missing file, and
    :class:`KeyError` naming a key the sidecar lists but the npz lacks.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"split file not found: {path}")
    meta = load_split_info(path)
    out = {}
    with np.load(path, allow_pickle=False) as npz:
        for key in meta["keys"]:
            if key not in npz.files:
                raise KeyError(f"split file {path} has no array '{key}' listed in its sidecar {_sidecar(path)}")
            arr = npz[key]
            if arr.shape != (meta["num_nodes"],):
                raise ValueError(f"array '{key}' in {path} has shape {arr.shape}, expected ({meta['num_nodes']},)")
            out[key] = torch.from_numpy(arr.copy())
    return out
