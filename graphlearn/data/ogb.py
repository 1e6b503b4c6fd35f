"""OGB node-property datasets through ogb's own :class:`~ogb.nodeproppred.PygNodePropPredDataset`, and a converter
that writes any contract graph in OGB's on-disk layout so that the same class (and OGB's evaluator) can read it.

OGB files are looked for under ``<root>/ogb/<ogbn_name>/`` (the folder ogb itself creates, e.g.
``<root>/ogb/ogbn_arxiv``). They are never downloaded from here: missing files raise
:class:`~graphlearn.data.registry.DatasetNotFoundError` before ogb is called, so ogb's interactive download prompt and
its half-made folders cannot happen. A read-only dataset folder is mirrored into the writable cache.
"""

from __future__ import annotations

import contextlib
import gzip
import importlib.util
import json
import os
import sys
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch_geometric.data import Data
from torch_geometric.data.data import DataEdgeAttr, DataTensorAttr
from torch_geometric.data.storage import GlobalStorage
from torch_geometric.utils import index_to_mask

from ..io import atomic_dir
from ._utils import build_graph, is_writable, mirror_dir, remove_created_on_error
from .registry import DatasetNotFoundError, register_dataset

__all__ = ["load_ogb", "load_ogb_folder", "load_ogb_layout", "ogb_meta", "write_ogb_layout"]

OGB_NAMES = ("ogbn-arxiv", "ogbn-products", "ogbn-papers100M")

# ogb saves its processed file with torch.save(Data, ...) and reads it with a bare torch.load, which since
# torch 2.6 defaults to weights_only=True. PyG allow-lists Data itself; these are the other classes such a
# pickle references (found by loading one: torch names each missing global in its UnpicklingError).
torch.serialization.add_safe_globals([DataEdgeAttr, DataTensorAttr, GlobalStorage])


def _dir_name(name: str) -> str:
    return name.replace("-", "_")  # ogb's own folder naming: ogbn-arxiv -> ogbn_arxiv


def ogb_meta(name: str) -> dict[str, str]:
    """ogb's metadata for a named dataset (a column of ``ogb/nodeproppred/master.csv``), as strings."""
    # Located without importing ogb.nodeproppred, which pulls in scikit-learn (seconds of import time).
    spec = importlib.util.find_spec("ogb")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the 'ogb' package is required for OGB datasets: pip install ogb")
    master_csv = Path(list(spec.submodule_search_locations)[0]) / "nodeproppred" / "master.csv"
    master = pd.read_csv(master_csv, index_col=0, keep_default_na=False)
    if name not in master:
        raise ValueError(f"{name!r} is not in ogb's master.csv; known: {', '.join(master.columns)}")
    return {k: str(v) for k, v in master[name].items()}


def ogb_files(meta: Mapping[str, Any]) -> list[str]:
    """The files ogb reads for a homogeneous node dataset, relative to its folder, given its ``meta``.

    With all of these present, ``PygNodePropPredDataset`` neither downloads (raw files present) nor asks whether to
    update (``RELEASE_v<version>.txt`` present).
    """
    if meta["binary"] == "True":
        raw = ["data.npz", "node-label.npz"]
    else:
        raw = ["edge.csv.gz", "num-node-list.csv.gz", "num-edge-list.csv.gz", "node-label.csv.gz"]
        raw += ["node-feat.csv.gz"] if meta["has_node_attr"] == "True" else []
        raw += ["edge-feat.csv.gz"] if meta["has_edge_attr"] == "True" else []
        for key in ("additional node files", "additional edge files"):
            raw += [f"{f}.csv.gz" for f in meta[key].split(",") if meta[key] != "None"]
    split = [f"split/{meta['split']}/{part}.csv.gz" for part in ("train", "valid", "test")]
    return [f"raw/{f}" for f in raw] + split + [f"RELEASE_v{meta['version']}.txt"]


def _open_dataset(dataset_dir: Path, make: Callable[[Path], Any]):
    """Run ``make(folder)`` on ``dataset_dir``, or on a cache mirror of it when it is read-only.

    Whatever ogb creates and leaves behind on failure (``processed/`` with a half-written file) is removed.
    """
    if not is_writable(dataset_dir):
        dataset_dir = mirror_dir(dataset_dir)
    # ogb prints its processing steps ("Loading necessary files...") on stdout: the user's stdout is for results
    # (`--json`), so they go to stderr
    with remove_created_on_error(dataset_dir / "processed"), contextlib.redirect_stdout(sys.stderr):
        return make(dataset_dir)


def _to_contract(dataset) -> Data:
    """Contract ``Data`` from an ogb node dataset: ``y`` flattened (NaN -> -1), masks from ``get_idx_split()``."""
    g = dataset[0]
    if g.x is None:
        raise ValueError(f"{dataset.name} has no node features; the graph contract needs x")
    n = g.num_nodes
    y = g.y.view(-1)
    if y.is_floating_point():  # ogbn-papers100M marks unlabelled nodes with NaN
        y = torch.where(torch.isnan(y), torch.full_like(y, -1), y)
    idx = dataset.get_idx_split()
    return build_graph(
        g.x,
        g.edge_index,
        y,
        train_mask=index_to_mask(idx["train"], n),
        val_mask=index_to_mask(idx["valid"], n),
        test_mask=index_to_mask(idx["test"], n),
        num_classes=dataset.num_classes,
    )


def load_ogb(root: str | os.PathLike, name: str) -> Data:
    """Load ``ogbn-arxiv``, ``ogbn-products`` or ``ogbn-papers100M`` with ogb's class and its official split.

    Args:
        root: data root; ogb's folder is ``<root>/ogb/<name with _>``, e.g. ``<root>/ogb/ogbn_arxiv``.
        name: the OGB name.

    Returns:
        Contract ``Data``: edges symmetrised (ogbn-arxiv is stored directed), ``y`` ``[N]`` with ``-1`` for
        unlabelled nodes, masks from ``get_idx_split()``.

    Raises:
        DatasetNotFoundError: a file ogb needs is missing (checked before ogb runs, so nothing is created).
    """
    from ogb.nodeproppred import PygNodePropPredDataset

    meta = ogb_meta(name)
    dataset_dir = Path(root) / "ogb" / _dir_name(name)
    missing = [dataset_dir / f for f in ogb_files(meta) if not (dataset_dir / f).exists()]
    if missing:
        raise DatasetNotFoundError.missing(name, missing, _how_to_get(name, meta))
    dataset = _open_dataset(dataset_dir, lambda d: PygNodePropPredDataset(name, root=str(d.parent)))
    return _to_contract(dataset)


def _how_to_get(name: str, meta: Mapping[str, str]) -> str:
    return (
        f"on a machine with internet run PygNodePropPredDataset({name!r}, root='<root>/ogb') from "
        f"ogb.nodeproppred, or download {meta['url']} and unzip it into <root>/ogb/, renaming the folder "
        f"{meta['download_name']}/ to {_dir_name(name)}/"
    )


# Converter ####################################################################################################


def _write_csv_gz(path: Path, array: np.ndarray) -> None:
    """Headerless CSV, gzip-compressed, as ogb's readers (``pd.read_csv(header=None)``) expect.

    Floats are written with NumPy's shortest float32 repr, which always has a ``.`` or an exponent: pandas then
    parses the column as float (ogb casts int columns to int64 and float ones to float32) and every float32 value
    comes back exactly (only the sign of a zero may be lost). Cells are formatted once per distinct value, so
    bag-of-words features stay fast.
    """
    array = np.asarray(array)
    if array.ndim == 1:
        array = array[:, None]
    if array.dtype.kind != "f":
        pd.DataFrame(array).to_csv(path, header=False, index=False, compression="gzip")
        return
    array = array.astype(np.float32)
    if not np.isfinite(array).all():
        raise ValueError(f"cannot write {path.name}: it has non-finite values")
    codes, values = pd.factorize(array.ravel())  # hashing, not sorting: fast on millions of cells
    cells = np.array([str(v).encode() for v in values], dtype=object)[codes.reshape(array.shape)]
    with gzip.open(path, "wb", compresslevel=6) as f:
        for start in range(0, len(cells), 4096):
            f.write(b"".join(b",".join(row) + b"\n" for row in cells[start : start + 4096]))


def write_ogb_layout(
    data: Data,
    root: str | os.PathLike,
    name: str | None = None,
    *,
    split_name: str = "graphlearn",
    overwrite: bool = False,
) -> dict[str, str]:
    """Write a graph in OGB's raw on-disk layout, so ``PygNodePropPredDataset`` reads it.

    Writes ``<root>/<name with _>/`` containing ``raw/{edge,node-feat,node-label,num-node-list,num-edge-list}.csv.gz``,
    ``split/<split_name>/{train,valid,test}.csv.gz``, ``RELEASE_v1.txt`` and ``meta_dict.json``. Edges are written
    exactly as stored (both directions for a contract graph) with ``add_inverse_edge = False``, so ogb gives back
    the same ``edge_index``. Unlabelled nodes keep ``-1``. The folder is written under a temporary name and renamed,
    so a failure leaves nothing behind.

    Args:
        data: graph with ``x``, ``y``, ``edge_index`` and the three masks.
        root: parent folder.
        name: OGB-style name starting with ``ogbn-`` (default ``"ogbn-" + data.name``).
        split_name: name of the split folder (ogb's ``meta['split']``).
        overwrite: replace an existing folder.

    Returns:
        ``meta_dict`` for ``PygNodePropPredDataset(name, meta_dict=meta_dict)`` (``dir_path`` is absolute) and for
        :func:`load_ogb_layout`.
    """
    if name is None:
        name = f"ogbn-{getattr(data, 'name', None) or 'graph'}"
    if not name.startswith("ogbn-"):
        raise ValueError(f"name must start with 'ogbn-' (an OGB node-property dataset name), got {name!r}")
    missing = [k for k in ("edge_index", "y", "train_mask", "val_mask", "test_mask") if getattr(data, k, None) is None]
    if missing:
        raise ValueError(f"cannot write {name}: data has no {', '.join(missing)}")
    y = data.y.view(-1)
    num_classes = int(getattr(data, "num_classes", None) or int(y.max()) + 1)
    final = Path(root).absolute() / _dir_name(name)
    meta = {
        "name": name,
        "dir_path": str(final),
        "download_name": final.name,
        "version": "1",
        "url": "",
        "num tasks": "1",
        "num classes": str(num_classes),
        "eval metric": "acc",
        "task type": "multiclass classification",
        "add_inverse_edge": "False",
        "has_node_attr": str(data.x is not None),
        "has_edge_attr": "False",
        "split": split_name,
        "additional node files": "None",
        "additional edge files": "None",
        "is hetero": "False",
        "binary": "False",
    }
    with atomic_dir(final, overwrite=overwrite) as tmp:
        (tmp / "raw").mkdir()
        _write_csv_gz(tmp / "raw" / "edge.csv.gz", data.edge_index.t().numpy())
        if data.x is not None:
            _write_csv_gz(tmp / "raw" / "node-feat.csv.gz", data.x.numpy())
        _write_csv_gz(tmp / "raw" / "node-label.csv.gz", y.numpy())
        _write_csv_gz(tmp / "raw" / "num-node-list.csv.gz", np.array([data.num_nodes]))
        _write_csv_gz(tmp / "raw" / "num-edge-list.csv.gz", np.array([data.edge_index.size(1)]))
        split_dir = tmp / "split" / split_name
        split_dir.mkdir(parents=True)
        for part, key in (("train", "train_mask"), ("valid", "val_mask"), ("test", "test_mask")):
            _write_csv_gz(split_dir / f"{part}.csv.gz", data[key].nonzero().view(-1).numpy())
        (tmp / "RELEASE_v1.txt").write_text(f"{name}: written by graphlearn.data.ogb.write_ogb_layout\n")
        (tmp / "meta_dict.json").write_text(json.dumps(meta, indent=1))
    return meta


def load_ogb_layout(root: str | os.PathLike, meta_dict: Mapping[str, Any] | str) -> Data:
    """Load a folder written by :func:`write_ogb_layout` through ``PygNodePropPredDataset``.

    Args:
        root: the ``root`` given to :func:`write_ogb_layout`; the folder is ``<root>/<meta_dict['download_name']>``
            (so a moved ``root`` still loads, whatever ``dir_path`` says).
        meta_dict: the dict :func:`write_ogb_layout` returned, or the dataset name, in which case it is read from the
            folder's ``meta_dict.json``.

    Returns:
        Contract ``Data`` with ``name`` set to the OGB name.
    """
    from ogb.nodeproppred import PygNodePropPredDataset

    if isinstance(meta_dict, str):
        path = Path(root) / _dir_name(meta_dict) / "meta_dict.json"
        if not path.exists():
            raise DatasetNotFoundError.missing(
                meta_dict, [path], "write it with graphlearn.data.write_ogb_layout", root_hint=False
            )
        meta_dict = json.loads(path.read_text())
    meta = {k: str(v) for k, v in meta_dict.items()}
    dataset_dir = Path(root) / meta["download_name"]
    missing = [dataset_dir / f for f in ogb_files(meta) if not (dataset_dir / f).exists()]
    if missing:
        raise DatasetNotFoundError.missing(
            meta.get("name", dataset_dir.name),
            missing,
            "write it with graphlearn.data.write_ogb_layout",
            root_hint=False,
        )
    name = meta.get("name") or dataset_dir.name
    dataset = _open_dataset(dataset_dir, lambda d: PygNodePropPredDataset(name, meta_dict={**meta, "dir_path": str(d)}))
    data = _to_contract(dataset)
    data.name = name
    return data


def _loader(root: Path, *, split: int, seed: int, name: str) -> Data:
    return load_ogb(root, name)  # one official split: split is checked by the registry, seed unused


def _register() -> None:
    descriptions = {
        "ogbn-arxiv": "OGB arXiv citation graph, 169343 nodes, 40 classes, time split",
        "ogbn-products": "OGB Amazon products co-purchase graph, 2.4M nodes, 47 classes, sales-rank split",
        "ogbn-papers100M": "OGB MAG papers citation graph, 111M nodes, 172 classes, time split",
    }
    for name in OGB_NAMES:
        meta = ogb_meta(name)
        register_dataset(
            name,
            partial(_loader, name=name),
            description=descriptions[name],
            source=f"Open Graph Benchmark (Hu et al. 2020), {meta['url']}",
            files=tuple(f"ogb/{_dir_name(name)}/{f}" for f in ogb_files(meta)),
            how_to_get=_how_to_get(name, meta),
        )


_register()


def load_ogb_folder(path: str | os.PathLike) -> Data:
    """Load a user's graph stored in OGB's on-disk layout (``raw/``, ``split/<name>/``, ``RELEASE_v<version>.txt``),
    the folder ``graphlearn train --dataset <folder>`` accepts.

    The metadata ogb needs comes from the folder's ``meta_dict.json`` (as :func:`write_ogb_layout` writes it), else
    from ogb's ``master.csv`` when the folder is named as an OGB dataset (``ogbn_arxiv``), else from the files
    themselves: the one split under ``split/``, node features when ``raw/node-feat.csv.gz`` exists, the release
    version of ``RELEASE_v<version>.txt`` and the number of classes from ``raw/node-label.csv.gz`` (one multiclass
    task, accuracy). The graph is named after the folder.

    Raises:
        ValueError: not a folder, or one whose layout cannot be read (no ``raw/edge.csv.gz``, no or several splits,
            no release file); the message names the folder and what is missing.
        DatasetNotFoundError: a file the metadata names is missing.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise ValueError(f"{path}: not a folder in OGB's layout (raw/, split/<name>/, RELEASE_v<version>.txt)")
    folder = folder.absolute()
    meta_file = folder / "meta_dict.json"
    official = {_dir_name(n): n for n in OGB_NAMES}
    if meta_file.is_file():
        try:
            meta = {k: str(v) for k, v in json.loads(meta_file.read_text()).items()}
        except (json.JSONDecodeError, AttributeError, UnicodeDecodeError) as e:
            raise ValueError(f"{meta_file}: not a readable OGB meta_dict.json ({e})") from None
    elif folder.name in official:
        meta = ogb_meta(official[folder.name])
        meta["name"] = official[folder.name]
    else:
        meta = _infer_meta(folder)
    meta.update(dir_path=str(folder), download_name=folder.name)
    meta.setdefault("name", f"ogbn-{folder.name}")
    data = load_ogb_layout(folder.parent, meta)
    data.name = folder.name
    return data


def _infer_meta(folder: Path) -> dict[str, str]:
    """ogb's ``meta_dict`` for a homogeneous, single-task multiclass graph in OGB's layout, read off its files."""
    layout = "OGB's layout (raw/edge.csv.gz, raw/node-label.csv.gz, split/<name>/, RELEASE_v<version>.txt)"
    for needed in ("raw/edge.csv.gz", "raw/node-label.csv.gz"):
        if not (folder / needed).is_file():
            raise ValueError(f"{folder}: no {needed}; a graph folder must be in {layout}")
    splits = sorted(p.name for p in (folder / "split").iterdir() if p.is_dir()) if (folder / "split").is_dir() else []
    if len(splits) != 1:
        found = f"found {splits}" if splits else "found none"
        raise ValueError(f"{folder}: expected exactly one split folder under split/ ({found}); a graph folder must be "
                         f"in {layout}, or carry a meta_dict.json naming its split")  # fmt: skip
    releases = sorted(folder.glob("RELEASE_v*.txt"))
    if not releases:
        raise ValueError(f"{folder}: no RELEASE_v<version>.txt (without it ogb asks whether to download an update); "
                         f"a graph folder must be in {layout}")  # fmt: skip
    try:
        labels = pd.read_csv(folder / "raw" / "node-label.csv.gz", header=None).to_numpy()
    except (OSError, ValueError, EOFError, pd.errors.ParserError) as e:
        raise ValueError(f"{folder / 'raw' / 'node-label.csv.gz'}: not a readable label file ({e})") from None
    finite = labels[np.isfinite(labels)] if labels.size else labels
    if finite.size == 0:
        raise ValueError(f"{folder / 'raw' / 'node-label.csv.gz'}: no labels")
    return {
        "name": f"ogbn-{folder.name}",
        "version": releases[-1].stem.removeprefix("RELEASE_v"),
        "url": "",
        "num tasks": "1",
        "num classes": str(int(finite.max()) + 1),
        "eval metric": "acc",
        "task type": "multiclass classification",
        "add_inverse_edge": "False",  # the contract symmetrises edges itself
        "has_node_attr": str((folder / "raw" / "node-feat.csv.gz").is_file()),
        "has_edge_attr": "False",
        "split": splits[0],
        "additional node files": "None",
        "additional edge files": "None",
        "is hetero": "False",
        "binary": "False",
    }
