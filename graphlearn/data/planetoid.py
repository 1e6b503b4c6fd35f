"""Cora and CiteSeer through PyG's own :class:`torch_geometric.datasets.Planetoid`, public split.

Files: ``<root>/planetoid/<Name>/raw/ind.<name>.{x,tx,allx,y,ty,ally,graph,test.index}`` (the layout PyG reads).
PyG writes ``processed/`` next to ``raw/``. When that folder is writable, Planetoid runs on it unchanged (and downloads
missing raw files, given internet). When it is read-only, the raw files are mirrored as symlinks into the writable
cache (``$GRAPHLEARN_CACHE``, else ``./.cache/graphlearn``) and Planetoid runs there, so the root is never written.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import torch
from torch_geometric.data import Data
from torch_geometric.datasets import Planetoid

from ._utils import build_graph, is_writable, mirror_dir, remove_created_on_error
from .registry import DatasetNotFoundError, register_dataset
from .trust import check_processed, seal_processed, verify_known_files

__all__ = ["load_planetoid"]

PLANETOID_NAMES = {"cora": "Cora", "citeseer": "CiteSeer"}
_RAW = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")


def raw_files(name: str) -> tuple[str, ...]:
    """Raw files of a Planetoid dataset, relative to the data root."""
    pyg_name = PLANETOID_NAMES[name]
    return tuple(f"planetoid/{pyg_name}/raw/ind.{name}.{suffix}" for suffix in _RAW)


def load_planetoid(root: Path, name: str) -> Data:
    """Load ``cora`` or ``citeseer`` with the public Planetoid split (20 labelled nodes per class / 500 / 1000).

    CiteSeer has 15 test-range nodes missing from the raw test index; PyG pads them with zero features and label 0.
    They are in no mask; here their label is ``-1`` (unlabelled), as the graph contract asks.

    Args:
        root: data root; files are read from ``<root>/planetoid/<Name>/raw/``.
        name: ``"cora"`` or ``"citeseer"``.

    Raises:
        DatasetNotFoundError: raw files are missing and PyG could not download them.
    """
    pyg_name = PLANETOID_NAMES[name]
    src = Path(root) / "planetoid"
    wanted = [Path(root) / f for f in raw_files(name)]
    had_files = all(p.exists() for p in wanted)
    # The raw files are pickles: they must be the published ones before PyG unpickles them (graphlearn.data.trust).
    verify_known_files(root, raw_files(name))
    # Planetoid writes <pyg_root>/<Name>/processed (and raw/ when downloading).
    ours = not is_writable(src / pyg_name)
    pyg_root = mirror_dir(src / pyg_name).parent if ours else src
    processed = pyg_root / pyg_name / "processed"
    check_processed(processed, ours=ours)
    try:
        with remove_created_on_error(Path(root), pyg_root, pyg_root / pyg_name, processed):
            fresh = not processed.is_dir()
            dataset = Planetoid(str(pyg_root), pyg_name, split="public")
            if fresh:
                verify_known_files(root, raw_files(name))  # files a download just brought
                seal_processed(processed)
    except Exception as e:
        if had_files:
            raise
        raise DatasetNotFoundError.missing(
            name,
            [p for p in wanted if not p.exists()],
            f"PyG's Planetoid could not download them ({type(e).__name__}: {e}). With internet access and a "
            f"writable data root, loading downloads them; otherwise copy the 8 files from "
            f"https://github.com/kimiyoung/planetoid/tree/master/data into {src / pyg_name / 'raw'}.",
        ) from e
    data = dataset[0]
    y = data.y.clone()
    if name == "citeseer":
        test_index = torch.tensor(
            [int(line) for line in Path(dataset.raw_dir, f"ind.{name}.test.index").read_text().split()]
        )
        padded = torch.ones(int(test_index.max() - test_index.min()) + 1, dtype=torch.bool)
        padded[test_index - test_index.min()] = False
        y[padded.nonzero().view(-1) + test_index.min()] = -1
    return build_graph(
        data.x,
        data.edge_index,
        y,
        train_mask=data.train_mask,
        val_mask=data.val_mask,
        test_mask=data.test_mask,
        num_classes=dataset.num_classes,
    )


def _loader(root: Path, *, split: int, seed: int, name: str) -> Data:
    return load_planetoid(root, name)  # one public split: split is checked by the registry, seed unused


def _register() -> None:
    descriptions = {
        "cora": "Cora citation graph (Planetoid), 2708 nodes, 7 classes, public split",
        "citeseer": "CiteSeer citation graph (Planetoid), 3327 nodes, 6 classes, public split",
    }
    for name in PLANETOID_NAMES:
        register_dataset(
            name,
            partial(_loader, name=name),
            description=descriptions[name],
            source="Yang et al. 2016 (Planetoid), github.com/kimiyoung/planetoid; "
            "read by torch_geometric.datasets.Planetoid",
            files=raw_files(name),
            how_to_get=f"copy kimiyoung/planetoid data/ind.{name}.* into "
            f"<root>/planetoid/{PLANETOID_NAMES[name]}/raw/, "
            "or load once with internet access and a writable root (PyG downloads them)",
            downloadable=True,
        )


_register()
