"""Datasets for graphlearn: the registry, real-data loaders, splits and validation.

>>> from graphlearn.data import load_dataset, list_datasets
>>> data = load_dataset("cora")            # root: $GRAPHLEARN_DATA, else ./data
>>> [info.name for info in list_datasets() if info.present]

Every loader returns a ``torch_geometric.data.Data`` that follows the graph contract in ``docs/design.md``.
"""

# Importing the loader modules registers the built-in datasets.
from . import npz, ogb, planetoid  # noqa: E402,F401  (registration side effect)
from ._utils import resolve_cache
from .ogb import load_ogb_folder, load_ogb_layout, write_ogb_layout
from .registry import (
    DatasetInfo,
    DatasetNotFoundError,
    DatasetSpec,
    UnknownDatasetError,
    dataset_names,
    get_dataset_spec,
    list_datasets,
    load_dataset,
    register_dataset,
    resolve_root,
)
from .synthetic import dc_sbm
from .user import IdMapping, load_user_graph
from .validation import GraphValidationError, validate_graph

__all__ = [
    "DatasetInfo",
    "DatasetNotFoundError",
    "DatasetSpec",
    "GraphValidationError",
    "IdMapping",
    "UnknownDatasetError",
    "dataset_names",
    "dc_sbm",
    "get_dataset_spec",
    "list_datasets",
    "load_dataset",
    "load_ogb_folder",
    "load_ogb_layout",
    "load_user_graph",
    "register_dataset",
    "resolve_cache",
    "resolve_root",
    "validate_graph",
    "write_ogb_layout",
]
