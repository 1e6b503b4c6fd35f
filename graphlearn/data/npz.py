"""Graphs stored as single ``.npz`` files: Amazon/Coauthor (GraphGallery) and the heterophilous benchmarks (Yandex).

Both are read directly with NumPy: they are small, load in well under a second and need no processed cache.
PyG's ``Amazon``/``Coauthor`` classes cannot read the GraphGallery re-saves (different keys), and PyG has no reader
for the Yandex files' ten stored splits, so these few lines are written by hand.
"""

from __future__ import annotations

import pickle
import zipfile
from functools import partial
from pathlib import Path

import numpy as np
from torch_geometric.data import Data

from ._utils import build_graph, feature_tensor
from .registry import register_dataset
from .splits import stratified_split

__all__ = ["load_graphgallery_npz", "load_yandex_npz"]

GRAPHGALLERY = {
    "amazon-photo": (
        "amazon_photo",
        "Amazon Photo co-purchase graph, 7650 nodes, 8 classes",
        "McAuley et al. 2015 via Shchur et al. 2018; GraphGallery re-save (EdisonLeeeee/GraphData)",
    ),
    "coauthor-cs": (
        "coauthor_cs",
        "Coauthor CS co-authorship graph, 18333 nodes, 15 classes",
        "MAG / KDD Cup 2016 via Shchur et al. 2018; GraphGallery re-save (EdisonLeeeee/GraphData)",
    ),
}
YANDEX = {
    "chameleon": "Wikipedia chameleon page graph (heterophilous), 2277 nodes, 5 classes",
    "squirrel": "Wikipedia squirrel page graph (heterophilous), 5201 nodes, 5 classes",
    "actor": "Actor co-occurrence graph (Geom-GCN 'film'), 7600 nodes, 5 classes",
    "texas": "WebKB Texas web-page graph, 183 nodes, 5 classes",
    "wisconsin": "WebKB Wisconsin web-page graph, 251 nodes, 5 classes",
    "cornell": "WebKB Cornell web-page graph (Yandex copy), 183 nodes, 5 classes",
}


# What a GraphGallery file's pickled entries may build: numpy arrays and scipy sparse matrices, nothing else.
_SAFE_GLOBALS = {
    ("numpy", "dtype"),
    ("numpy", "ndarray"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    *{(m, c) for m in ("scipy.sparse", "scipy.sparse.csr", "scipy.sparse._csr", "scipy.sparse.csc", "scipy.sparse._csc",
                        "scipy.sparse.coo", "scipy.sparse._coo")
      for c in ("csr_matrix", "csc_matrix", "coo_matrix")},
}  # fmt: skip


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, fh, source: str):
        super().__init__(fh)
        self.source = source

    def find_class(self, module: str, name: str):
        if (module, name) not in _SAFE_GLOBALS:
            raise pickle.UnpicklingError(
                f"{self.source}: refusing to unpickle {module}.{name}; only numpy arrays and scipy sparse matrices "
                "are allowed in a graph .npz"
            )
        return super().find_class(module, name)


def read_npz_restricted(path: str | Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The arrays ``keys`` of the ``.npz`` at ``path``; object (pickled) entries are unpickled with an allow-list
    (numpy arrays, scipy CSR/CSC/COO matrices) instead of ``np.load(allow_pickle=True)``, which runs any code a
    crafted file holds.

    Raises:
        ValueError: a missing key or an unreadable file; ``pickle.UnpicklingError`` (naming the file and the class) for
            anything outside the allow-list.
    """
    out: dict[str, np.ndarray] = {}
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise ValueError(f"{path} is not a readable .npz file: {e}") from None
    with zf:
        names = set(zf.namelist())
        for key in keys:
            if f"{key}.npy" not in names:
                raise ValueError(f"{path} has no {key!r} array (keys: {sorted(n[:-4] for n in names)})")
            with zf.open(f"{key}.npy") as fh:
                version = np.lib.format.read_magic(fh)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
                else:
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
                if dtype.hasobject:
                    out[key] = _RestrictedUnpickler(fh, f"{path} [{key}]").load()
                else:
                    data = np.frombuffer(fh.read(), dtype=dtype, count=int(np.prod(shape)))
                    out[key] = data.reshape(shape, order="F" if fortran else "C").copy()
    return out


def load_graphgallery_npz(path: str | Path, *, seed: int = 0, train: float = 0.6, val: float = 0.2) -> Data:
    """Load a GraphGallery ``.npz`` (``adj_matrix``/``node_attr`` scipy CSR, ``node_label``, ``metadata``).

    The adjacency is symmetrised and its self-loops removed (Amazon Photo has one). There is no standard split, so
    a seeded stratified ``train``/``val``/rest split is drawn with :func:`graphlearn.data.splits.stratified_split`.

    The sparse matrices are stored as pickled scipy objects; they are read with :func:`read_npz_restricted`, whose
    unpickler only builds numpy arrays and scipy sparse matrices, so a crafted file cannot run code.

    Args:
        path: the ``.npz`` file.
        seed: seed of the random split.
        train, val: split fractions (default 60/20/20).

    Returns:
        Contract ``Data`` with ``x`` ``[N, F]``: dense, or CSR for a bag of words of at least
        ``graphlearn.sparse.STORE_SPARSE_MIN_ELEMENTS`` entries (Coauthor-CS), as user graphs.
    """
    z = read_npz_restricted(path, ("adj_matrix", "node_attr", "node_label"))
    adj = z["adj_matrix"].item().tocoo()
    x = feature_tensor(z["node_attr"].item())  # a large bag of words (Coauthor-CS) stays CSR: no dense copy
    y = z["node_label"]
    edge_index = np.stack([adj.row, adj.col]).astype(np.int64)
    data = build_graph(x, edge_index, y)
    return stratified_split(data, train=train, val=val, seed=seed)


def load_yandex_npz(path: str | Path, *, split: int = 0) -> Data:
    """Load a heterophilous-graphs ``.npz`` from Platonov et al. (ICLR 2023) with one of its 10 stored splits.

    Keys: ``node_features`` float32 ``[N, F]``, ``node_labels`` int64 ``[N]``, ``edges`` int64 ``[E, 2]`` (each
    undirected edge stored once, symmetrised here), ``train_masks``/``val_masks``/``test_masks`` bool ``[10, N]``.

    The Yandex ``cornell.npz`` is used rather than Geom-GCN's Cornell: in the Geom-GCN repository Cornell's
    ``out1_node_feature_label.txt`` is byte-identical to Texas's, so "Cornell" from those files has Texas's features
    and labels on Cornell's edges.

    Args:
        path: the ``.npz`` file.
        split: which of the stored splits, ``0 <= split < 10``.
    """
    with np.load(path) as z:
        num_splits = z["train_masks"].shape[0]
        if not 0 <= split < num_splits:
            raise ValueError(f"split={split} is out of range for {path}: it stores {num_splits} splits")
        return build_graph(
            z["node_features"],
            z["edges"].T,
            z["node_labels"],
            train_mask=z["train_masks"][split],
            val_mask=z["val_masks"][split],
            test_mask=z["test_masks"][split],
        )


def _graphgallery_loader(root: Path, *, split: int, seed: int, rel: str) -> Data:
    return load_graphgallery_npz(Path(root) / rel, seed=seed)  # no standard split: split is 0 (registry check)


def _yandex_loader(root: Path, *, split: int, seed: int, rel: str) -> Data:
    return load_yandex_npz(Path(root) / rel, split=split)


def _register() -> None:
    for name, (stem, description, source) in GRAPHGALLERY.items():
        rel = f"amazon_coauthor_graphgallery/{stem}.npz"
        register_dataset(
            name,
            partial(_graphgallery_loader, rel=rel),
            description=description + ", random stratified 60/20/20 split",
            source=source,
            files=(rel,),
            num_splits=None,
            how_to_get=f"copy datasets/{stem}.npz from github.com/EdisonLeeeee/GraphData into <root>/{rel}",
        )
    for name, description in YANDEX.items():
        rel = f"heterophilous_yandex/{name}.npz"
        register_dataset(
            name,
            partial(_yandex_loader, rel=rel),
            description=description + ", 10 standard 48/32/20 splits",
            source="Platonov et al. 2023, github.com/yandex-research/heterophilous-graphs (data/)",
            files=(rel,),
            num_splits=10,
            how_to_get=f"copy data/{name}.npz from github.com/yandex-research/heterophilous-graphs into <root>/{rel}",
        )


_register()
