"""Dataset registry: a name resolves to a :class:`DatasetSpec`, and :func:`load_dataset` returns a contract ``Data``.

Built-in datasets register themselves from :mod:`graphlearn.data.planetoid`, :mod:`graphlearn.data.npz` and
:mod:`graphlearn.data.ogb` (imported by ``graphlearn.data``); later modules add theirs with
:func:`register_dataset`. Where the files are looked for: see :func:`resolve_root`.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import warnings
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch_geometric.data import Data

from ..io import atomic_write_text
from ._utils import resolve_cache
from .synthetic import dc_sbm
from .user import load_user_graph

__all__ = [
    "DatasetInfo",
    "DatasetNotFoundError",
    "DatasetSpec",
    "UnknownDatasetError",
    "dataset_names",
    "get_dataset_spec",
    "list_datasets",
    "load_dataset",
    "register_dataset",
    "resolve_root",
]

Loader = Callable[..., Data]  # loader(root: Path, *, split: int, seed: int) -> Data


class UnknownDatasetError(ValueError):
    """A dataset name that is not registered; the message lists the valid names.

    Args:
        name: the name asked for.
        valid: the names that would have been accepted (listed in the message, and a close match suggested).
        what: what kind of name it is, as in "unknown GRDA dataset" (default ``"dataset"``).
        alternatives: other accepted forms, appended to the list: ``"or user:<edges file>:<nodes file>"``.
    """

    def __init__(self, name: str, valid: Sequence[str], *, what: str = "dataset", alternatives: str = ""):
        self.name, self.valid = name, list(valid)
        close = difflib.get_close_matches(name.lower(), [v.lower() for v in valid], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        also = f"; {alternatives}" if alternatives else ""
        super().__init__(f"unknown {what} {name!r}{hint}; valid names: {', '.join(valid)}{also}")


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are not where they were looked for; the message names the paths looked at.

    Raise it with a full message, or build one with :meth:`missing`. ``paths`` keeps the paths as strings.
    """

    def __init__(self, message: str, *, paths: Sequence[str | os.PathLike] = (), name: str | None = None):
        super().__init__(message)
        self.name = name
        self.paths = [str(p) for p in paths]  # not OSError.filename, which would replace the message in str()

    @classmethod
    def missing(
        cls, name: str, paths: Sequence[str | os.PathLike], how_to_get: str = "", *, root_hint: bool = True
    ) -> DatasetNotFoundError:
        """The error for dataset ``name`` whose files ``paths`` are absent, with instructions to get them.

        ``root_hint`` adds how the data root is chosen (for paths under the registry's root).
        """
        paths = [str(p) for p in paths]
        shown = paths[:8] + ([f"... ({len(paths) - 8} more)"] if len(paths) > 8 else [])
        msg = f"dataset {name!r}: file(s) not found:\n  " + "\n  ".join(shown)
        if how_to_get:
            msg += f"\nHow to get them: {how_to_get}"
        if root_hint:
            msg += "\n(The data root is the root= argument, else $GRAPHLEARN_DATA, else ./data.)"
        return cls(msg, paths=paths, name=name)


@dataclass(frozen=True)
class DatasetSpec:
    """How to find and load one dataset.

    Args:
        name: registry name, e.g. ``"cora"`` (looked up case-insensitively).
        loader: ``loader(root: Path, *, split: int, seed: int) -> Data``; the registry sets ``data.name``.
        description: one line for ``graphlearn datasets``.
        source: where the files come from (paper, repository, URL).
        files: paths relative to the data root that must all exist for the dataset to count as present.
        num_splits: number of standard splits (``split`` must be in ``range(num_splits)``); ``None`` means no
            standard split: the loader draws a seeded random split from ``seed`` and ``split`` must be 0.
        how_to_get: instructions shown when files are missing.
        downloadable: the loader fetches missing files itself (PyG ``download()``); the registry then lets it try
            and the loader raises :class:`DatasetNotFoundError` if that fails.
    """

    name: str
    loader: Loader
    description: str = ""
    source: str = ""
    files: tuple[str, ...] = ()
    num_splits: int | None = 1
    how_to_get: str = ""
    downloadable: bool = False

    def missing_files(self, root: Path) -> list[Path]:
        """The expected files absent under ``root``."""
        return [Path(root) / f for f in self.files if not (Path(root) / f).exists()]


@dataclass(frozen=True)
class DatasetInfo:
    """One row of :func:`list_datasets`. ``stats``: ``{nodes, edges (undirected), features, classes}`` or None."""

    name: str
    description: str
    source: str
    present: bool
    stats: dict | None = None


_REGISTRY: dict[str, DatasetSpec] = {}


def register_dataset(
    name: str,
    loader: Loader,
    *,
    description: str = "",
    source: str = "",
    files: Sequence[str] = (),
    num_splits: int | None = 1,
    how_to_get: str = "",
    downloadable: bool = False,
    replace: bool = False,
) -> DatasetSpec:
    """Register a dataset under ``name`` (see :class:`DatasetSpec` for the arguments).

    Raises:
        ValueError: ``name`` is already registered and ``replace`` is False.
    """
    key = name.lower()
    if key in _REGISTRY and not replace:
        raise ValueError(f"dataset {name!r} is already registered; pass replace=True to override it")
    if num_splits is not None and num_splits < 1:
        raise ValueError(f"num_splits must be None or >= 1, got {num_splits}")
    spec = DatasetSpec(name, loader, description, source, tuple(files), num_splits, how_to_get, downloadable)
    _REGISTRY[key] = spec
    return spec


def dataset_names() -> list[str]:
    """Registered names, in registration order."""
    return [spec.name for spec in _REGISTRY.values()]


def get_dataset_spec(name: str) -> DatasetSpec:
    """The spec registered under ``name``; raises :class:`UnknownDatasetError` listing the valid names."""
    try:
        return _REGISTRY[str(name).lower()]
    except KeyError:
        raise UnknownDatasetError(str(name), dataset_names()) from None


def resolve_root(root: str | os.PathLike | None = None) -> Path:
    """The data root: ``root`` if given, else ``$GRAPHLEARN_DATA``, else ``./data``."""
    if root is not None:
        path = Path(root).expanduser()
    else:
        env = os.environ.get("GRAPHLEARN_DATA")
        path = Path(env).expanduser() if env else Path("data")
    if path.exists() and not path.is_dir():
        raise ValueError(f"data root {path} is not a folder")
    return path


def _check_split(spec: DatasetSpec, split: int) -> None:
    if spec.num_splits is None:
        if split != 0:
            raise ValueError(
                f"{spec.name} has no standard split; a seeded random split is drawn instead: "
                f"vary seed= rather than split= (got split={split})"
            )
    elif not 0 <= split < spec.num_splits:
        raise ValueError(
            f"split={split} is out of range for {spec.name}: it has {spec.num_splits} standard split(s), "
            f"0..{spec.num_splits - 1}"
        )


SPEC_FORMS = (
    "or user:<edges file>:<nodes file>[:<sparse features .npz>] (CSV/Parquet tables), or the path of a .npz "
    "graph (GraphGallery's adj_matrix / node_attr / node_label, or the heterophilous-graphs layout), or the path "
    "of a folder in OGB's layout (raw/, split/<name>/), or synthetic:<num nodes> (DC-SBM)"
)


def _load_npz_graph(path: str, seed: int, split: int) -> Data:
    """A user's ``.npz`` graph, by its keys: GraphGallery (``adj_matrix``, ``node_attr``, ``node_label``; seeded
    60/20/20 split) or the heterophilous-graphs layout (``node_features``, ``edges``, stored masks; ``split``)."""
    from .npz import load_graphgallery_npz, load_yandex_npz  # noqa: PLC0415

    file = Path(path)
    if not file.is_file():
        raise ValueError(f"the .npz graph {path!r} does not exist (or is not a file)")
    try:
        with np.load(file, allow_pickle=False) as z:  # lists the keys; reads no pickled object
            keys = set(z.files)
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path}: not a readable .npz file ({e})") from None
    if {"adj_matrix", "node_attr", "node_label"} <= keys:
        data = load_graphgallery_npz(file, seed=seed)
    elif {"node_features", "node_labels", "edges"} <= keys:
        data = load_yandex_npz(file, split=split)
    else:
        raise ValueError(
            f"{path}: unknown .npz graph layout (keys {sorted(keys)}); expected GraphGallery's adj_matrix, node_attr, "
            "node_label or the heterophilous-graphs node_features, node_labels, edges and masks"
        )
    data.name = file.stem
    return data


def _load_spec(name: str, seed: int, split: int = 0) -> Data | None:
    """The graph of a ``user:`` or ``synthetic:`` spec or a ``.npz`` path, or ``None`` when ``name`` is none of
    them (a registry name)."""
    kind, _, rest = name.partition(":")
    if name.lower().endswith(".npz") and kind != "user":
        return _load_npz_graph(name, seed, split)
    if kind == "user":
        edges, sep, nodes = rest.partition(":")
        nodes, sep2, features = nodes.partition(":")
        if not sep or not edges or not nodes or (sep2 and not features):
            raise ValueError(
                f"user graphs are given as user:<edges file>:<nodes file>[:<sparse features .npz>], got {name!r}"
            )
        return load_user_graph(edges, nodes, seed=seed, features_path=features or None)
    if kind == "synthetic":
        try:
            n = int(float(rest))
        except (ValueError, OverflowError):  # OverflowError: synthetic:inf
            raise ValueError(f"synthetic graphs are given as synthetic:<num nodes>, got {name!r}") from None
        try:
            return dc_sbm(n, seed=seed)
        except ValueError as e:  # synthetic:1: "num_nodes must be >= num_classes (5); got 1", named by the spec
            raise ValueError(f"{name!r}: {e}") from None
    return None


def is_graph_folder(name: str) -> bool:
    """Whether ``name`` is read as a user's graph in OGB's layout: an existing folder that is not a registry name
    (a registry name wins over a folder of that name)."""
    return name.lower() not in _REGISTRY and Path(name).is_dir()


def load_dataset(name: str, root: str | os.PathLike | None = None, *, split: int = 0, seed: int = 0) -> Data:
    """Load a registered dataset, a user graph or a synthetic graph as a ``Data`` following the graph contract
    (``docs/design.md``).

    Args:
        name: registry name (case-insensitive), see :func:`dataset_names`; or ``user:<edges file>:<nodes file>``
            or ``user:<edges file>:<nodes file>:<features .npz>`` (CSV/Parquet tables and an optional SciPy sparse
            feature matrix, read by :func:`~graphlearn.data.load_user_graph` with its defaults and ``seed``);
            or ``synthetic:<num nodes>`` (:func:`~graphlearn.data.dc_sbm` with its defaults and ``seed``); or the
            path of a ``.npz`` graph (GraphGallery layout with a ``seed``-ed 60/20/20 split, or the
            heterophilous-graphs layout with its stored ``split``; named after the file's stem); or the path of a
            folder in OGB's layout (:func:`~graphlearn.data.load_ogb_folder`, named after the folder). The
            ``user``/``synthetic`` prefixes are lower-case; those two ignore ``root`` and ``split`` and keep the
            ``name`` their loader sets.
        root: data root (default: ``$GRAPHLEARN_DATA``, else ``./data``).
        split: which standard split to use for datasets that ship several (e.g. the 10 heterophilous splits).
        seed: seed of the random split for datasets without a standard one (and of the synthetic graph).

    Returns:
        ``Data`` with ``x`` float32 ``[N, F]``, ``y`` int64 ``[N]``, undirected coalesced ``edge_index`` without
        self-loops, bool ``train_mask``/``val_mask``/``test_mask``, ``name`` and ``num_classes``.

    Raises:
        UnknownDatasetError: ``name`` is not registered (nor a ``user:``/``synthetic:`` spec).
        DatasetNotFoundError: the dataset's files are not under ``root``.
        ValueError: ``split`` is out of range, or a malformed ``user:``/``synthetic:`` spec.
    """
    name = str(name)
    data = _load_spec(name, seed, split)
    if data is not None:
        return data
    try:
        spec = _REGISTRY[name.lower()]
    except KeyError:
        if is_graph_folder(name):
            from .ogb import load_ogb_folder  # noqa: PLC0415

            return load_ogb_folder(name)
        raise UnknownDatasetError(name, dataset_names(), alternatives=SPEC_FORMS) from None
    _check_split(spec, split)
    root = resolve_root(root)
    if not spec.downloadable:
        missing = spec.missing_files(root)
        if missing:
            raise DatasetNotFoundError.missing(spec.name, missing, spec.how_to_get)
    data = spec.loader(root, split=split, seed=seed)
    data.name = spec.name
    return data


# Stats ########################################################################################################


def _fingerprint(spec: DatasetSpec, root: Path) -> str:
    h = hashlib.sha1(str(root.absolute()).encode())
    for f in spec.files:
        st = (root / f).stat()
        h.update(f"{f}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()


def compute_stats(data: Data) -> dict:
    """``{nodes, edges, features, classes}`` of a contract graph; ``edges`` counts undirected edges."""
    return {
        "nodes": int(data.num_nodes),
        "edges": int(data.edge_index.size(1)) // 2,
        "features": int(data.x.size(1)) if data.x is not None else 0,
        "classes": int(data.num_classes),
    }


def _stats(spec: DatasetSpec, root: Path, cache_file: Path) -> dict | None:
    try:
        cached = json.loads(cache_file.read_text()) if cache_file.exists() else {}
    except (OSError, ValueError):
        cached = {}
    key = _fingerprint(spec, root)
    entry = cached.get(f"{spec.name}@{root.absolute()}")
    if entry and entry.get("fingerprint") == key:
        return entry["stats"]
    try:
        stats = compute_stats(load_dataset(spec.name, root))
    except Exception as e:  # listing must not fail because one dataset is broken
        warnings.warn(f"could not compute stats for {spec.name}: {type(e).__name__}: {e}", stacklevel=3)
        return None
    cached[f"{spec.name}@{root.absolute()}"] = {"fingerprint": key, "stats": stats}
    try:
        atomic_write_text(cache_file, json.dumps(cached, indent=1, sort_keys=True))
    except OSError:
        pass  # a read-only cache only costs recomputation
    return stats


def list_datasets(root: str | os.PathLike | None = None, *, stats: bool = True) -> list[DatasetInfo]:
    """All registered datasets, whether their files are under ``root``, and their statistics.

    Args:
        root: data root (see :func:`resolve_root`).
        stats: compute ``{nodes, edges, features, classes}`` for present datasets. The first computation loads the
            dataset; the result is cached in ``<cache>/dataset_stats.json``, keyed by name and root and checked
            against the files' sizes and mtimes.
    """
    root = resolve_root(root)
    cache_file = resolve_cache() / "dataset_stats.json"
    infos = []
    for spec in _REGISTRY.values():
        present = bool(spec.files) and not spec.missing_files(root)
        info_stats = _stats(spec, root, cache_file) if present and stats else None
        infos.append(DatasetInfo(spec.name, spec.description, spec.source, present, info_stats))
    return infos
