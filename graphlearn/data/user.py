"""Load a user-supplied graph: an edge table and a node table (CSV or Parquet).

The node table has one row per node: an id column, an optional label column
and feature columns. The edge table has one row per edge: two columns of node
ids. Ids may be strings or integers; they are mapped to contiguous indices in
node-table order by :class:`IdMapping`. Every bad input raises
:class:`~graphlearn.data.validation.GraphValidationError` naming the file, the
row (0-based data row, header excluded: CSV line = row + 2) and the value; see
``docs/bad_inputs.md``.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from torch import Tensor
from torch_geometric.data import Data

from ..io import atomic_write_text
from ._utils import feature_tensor
from .splits import stratified_split
from .validation import GraphValidationError, check_policy, first_duplicate, first_self_loop, validate_graph

log = logging.getLogger(__name__)

PathLike = str | os.PathLike
SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".parquet", ".pq")
_SEPARATORS = re.compile(r"[,;\s]+")
_INTEGER = r"-?(0|[1-9][0-9]*)"


def _native(value):
    """A numpy scalar as the Python value (so messages say 7, not np.int64(7))."""
    return value.item() if isinstance(value, np.generic) else value


# ----------------------------------------------------------------- ids
class IdMapping:
    """Original node ids (strings or integers) <-> contiguous indices.

    ``ids[i]`` is the original id of node ``i`` (node-table order).

    Args:
        ids (Sequence): the original ids, unique.
        source (str): what to call them in errors. (default: ``"<ids>"``)
    """

    def __init__(self, ids: Sequence, source: str = "<ids>"):
        ids = ids.tolist() if hasattr(ids, "tolist") else ids
        self.ids: list[Any] = [_native(i) for i in ids]
        self._index = pd.Index(self.ids)
        if not self._index.is_unique:
            dup = self._index.duplicated()
            j = int(np.flatnonzero(dup)[0])
            i = self.ids.index(self.ids[j])
            raise GraphValidationError(
                f"{source}: duplicate node id {self.ids[j]!r} at rows {i} and {j}; node ids must be unique",
                source=source,
                row=j,
                value=self.ids[j],
            )

    def __len__(self) -> int:
        return len(self.ids)

    def __eq__(self, other) -> bool:
        return isinstance(other, IdMapping) and self.ids == other.ids

    def __repr__(self) -> str:
        head = ", ".join(repr(i) for i in self.ids[:3])
        more = ", ..." if len(self.ids) > 3 else ""
        return f"{self.__class__.__name__}([{head}{more}], n={len(self.ids)})"

    def index_of(self, ids: Sequence, *, source: str = "<ids>", column: str | None = None) -> Tensor:
        """Indices (int64) of the original ``ids``.

        Raises:
            GraphValidationError: for the first id not in the mapping, naming it
                and its position in ``ids`` (the edge-file row when ``ids`` is
                an edge column).
        """
        values = ids.to_numpy() if isinstance(ids, pd.Series) else ids
        idx = self._index.get_indexer(values)
        bad = np.flatnonzero(idx < 0)
        if bad.size:
            j = int(bad[0])
            value = _native(values[j])
            col = f", column {column!r}" if column else ""
            raise GraphValidationError(
                f"{source}: row {j}{col}: unknown node id {value!r} (not in the node "
                f"table; {bad.size} unknown id(s) in total)",
                source=source,
                row=j,
                value=value,
            )
        return torch.from_numpy(idx.astype(np.int64))

    def to_json(self) -> str:
        return json.dumps({"ids": self.ids})

    @classmethod
    def from_json(cls, text: str, source: str = "<json>") -> IdMapping:
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            raise GraphValidationError(f"{source}: not valid JSON ({e})", source=source) from e
        if not isinstance(obj, dict) or not isinstance(obj.get("ids"), list):
            raise GraphValidationError(
                f'{source}: not an IdMapping JSON; expected {{"ids": [...]}}, got {text[:60]!r}', source=source
            )
        return cls(obj["ids"], source=source)

    def save(self, path: PathLike) -> Path:
        """Write the mapping as JSON, atomically (temporary file + rename)."""
        path = atomic_write_text(path, self.to_json())
        return path

    @classmethod
    def load(cls, path: PathLike) -> IdMapping:
        path = Path(path)
        return cls.from_json(path.read_text(encoding="utf-8"), source=str(path))


# ------------------------------------------------------------- reading
def _kind(path: Path) -> str:
    if path.is_dir():
        raise GraphValidationError(
            f"{path}: is a folder; expected a table file ({', '.join(SUFFIXES)})", source=str(path)
        )
    name = path.name.lower()
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    raise GraphValidationError(
        f"{path}: unsupported file type {path.suffix or '(none)'!r}; expected one of {', '.join(SUFFIXES)}",
        source=str(path),
        value=path.suffix,
    )


def read_table(path: PathLike, id_columns: Sequence[str] = ()) -> pd.DataFrame:
    """Read a CSV / TSV / Parquet table (chosen by suffix).

    CSV ``id_columns`` are read as text (see :func:`_id_column` for integer
    ids), and only an empty cell is missing there (a node may be called
    ``"NA"``); elsewhere pandas' usual missing markers apply. A file with no
    bytes at all reads as an empty table.
    """
    path = Path(path)
    kind = _kind(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if kind in (".parquet", ".pq"):
        import pyarrow  # pandas reads Parquet through pyarrow

        try:
            return pd.read_parquet(path)
        except (pyarrow.ArrowException, OSError, ValueError) as e:
            raise GraphValidationError(f"{path}: cannot read Parquet file: {e}", source=str(path)) from e
    sep = "\t" if kind.startswith(".tsv") else ","
    try:
        df = pd.read_csv(path, sep=sep, dtype={c: str for c in id_columns})
        ids = [c for c in id_columns if c in df.columns and df[c].isna().any()]
        if ids:  # re-read those columns keeping 'NA' / 'null' / ... as ids
            raw = pd.read_csv(path, sep=sep, usecols=ids, dtype=str, keep_default_na=False, na_values=[""])
            for c in ids:
                df[c] = raw[c]
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except pd.errors.ParserError as e:
        raise GraphValidationError(f"{path}: malformed CSV: {str(e).strip()}", source=str(path)) from e
    except UnicodeDecodeError as e:
        raise GraphValidationError(f"{path}: not UTF-8 text ({e})", source=str(path)) from e
    return df


def _require_columns(df: pd.DataFrame, path: Path, **columns: str) -> None:
    for arg, col in columns.items():
        if col not in df.columns:
            raise GraphValidationError(
                f"{path}: no column {col!r}; the columns are {list(map(str, df.columns))} "
                f"(pass {arg}=... to name another)",
                source=str(path),
                value=col,
            )


def _id_column(s: pd.Series, path: Path) -> pd.Series:
    missing = np.flatnonzero(s.isna().to_numpy())
    if missing.size:
        raise GraphValidationError(
            f"{path}: row {int(missing[0])}: missing node id in column {s.name!r}",
            source=str(path),
            row=int(missing[0]),
        )
    if s.dtype == object:  # Parquet binary columns: bytes never equal the text ids of the other file
        raw = next((i for i, v in enumerate(s.to_numpy()) if isinstance(v, (bytes, bytearray))), None)
        if raw is not None:
            raise GraphValidationError(
                f"{path}: row {raw}: node id {s.iloc[raw]!r} in column {s.name!r} is bytes; node ids must be "
                "text or integers (store the column as a string column)",
                source=str(path),
                row=raw,
                value=s.iloc[raw],
            )
    if pd.api.types.is_float_dtype(s) and bool((s == np.floor(s)).all()):
        return s.astype(np.int64)
    if pd.api.types.is_string_dtype(s) and bool(s.str.fullmatch(_INTEGER).all()):
        try:  # every id is an integer written plainly ("7", not "007"): integer ids
            return s.astype(np.int64)
        except (OverflowError, ValueError):
            pass
    return s


def _match_ids(edges: pd.Series, nodes: pd.Series) -> pd.Series:
    """Edge-file ids converted to the node-table id type where they differ
    (``7`` in one file and ``"7"`` in the other name the same node)."""
    if pd.api.types.is_integer_dtype(nodes) and not pd.api.types.is_integer_dtype(edges):
        num = pd.to_numeric(edges, errors="coerce")
        ok = (num.notna() & (num == np.floor(num))).to_numpy()
        out = np.array(edges.astype(object), dtype=object)
        out[ok] = num[ok].astype(np.int64).to_numpy()
        return pd.Series(out, name=edges.name, dtype=object)
    if not pd.api.types.is_numeric_dtype(nodes) and pd.api.types.is_numeric_dtype(edges):
        return edges.astype(str)
    return edges


# ------------------------------------------------------------ features
def _vector_column(s: pd.Series, path: Path) -> np.ndarray:
    """One column whose cells each hold a vector: a list / array (Parquet) or
    a string such as ``"0.1 0.2"``, ``"0.1,0.2"`` or ``"[0.1, 0.2]"``."""
    rows, width = [], None
    for i, v in enumerate(s.tolist()):
        if isinstance(v, str):
            toks = [t for t in _SEPARATORS.split(v.strip().strip("[]()")) if t]
            try:
                vec = np.array(toks, dtype=np.float64)
            except ValueError as e:
                raise GraphValidationError(
                    f"{path}: row {i}, column {s.name!r}: cannot read {v!r} as numbers ({e})",
                    source=str(path),
                    row=i,
                    value=v,
                ) from e
        elif isinstance(v, (list, tuple, np.ndarray)):
            try:
                vec = np.asarray(v, dtype=np.float64).reshape(-1)
            except (TypeError, ValueError) as e:
                raise GraphValidationError(
                    f"{path}: row {i}, column {s.name!r}: cannot read {v!r} as numbers ({e})",
                    source=str(path),
                    row=i,
                    value=v,
                ) from e
        elif v is None or (isinstance(v, float) and np.isnan(v)):
            raise GraphValidationError(
                f"{path}: row {i}, column {s.name!r}: missing feature value", source=str(path), row=i
            )
        else:
            try:
                vec = np.array([float(v)])
            except (TypeError, ValueError) as e:
                raise GraphValidationError(
                    f"{path}: row {i}, column {s.name!r}: cannot read {v!r} as a number",
                    source=str(path),
                    row=i,
                    value=v,
                ) from e
        if width is None:
            width = vec.size
        elif vec.size != width:
            raise GraphValidationError(
                f"{path}: row {i}, column {s.name!r}: feature vector has {vec.size} "
                f"value(s); expected {width} (the width of row 0)",
                source=str(path),
                row=i,
                value=vec.size,
            )
        rows.append(vec)
    return np.stack(rows)


def _is_sparse_column(s: pd.Series) -> bool:
    """A column of ``index:value`` cells (libsvm / SVMlight style, e.g. ``"3:1 17:0.5"``): a bag of words written
    sparse, one cell per node. Decided by its first non-empty cell."""
    for v in s.tolist():
        if isinstance(v, str) and v.strip():
            return ":" in v
        if v is not None and not (isinstance(v, float) and np.isnan(v)):
            return False
    return False


def _sparse_column(s: pd.Series, path: Path) -> np.ndarray:
    """``index:value`` cells (0-based feature indices; an empty cell is a node without features) as a float64
    matrix ``[n, max index + 1]``, read without a dense intermediate per token."""
    rows, cols, vals = [], [], []
    for i, v in enumerate(s.tolist()):
        if v is None or (isinstance(v, float) and np.isnan(v)) or (isinstance(v, str) and not v.strip()):
            continue
        if not isinstance(v, str):
            raise GraphValidationError(
                f"{path}: row {i}, column {s.name!r}: {v!r} is not an 'index:value' list",
                source=str(path),
                row=i,
                value=v,
            )
        for tok in _SEPARATORS.split(v.strip()):
            if not tok:
                continue
            k, sep, val = tok.partition(":")
            try:
                k, val = int(k), float(val)
            except ValueError:
                k = -1
            if not sep or k < 0:
                raise GraphValidationError(
                    f"{path}: row {i}, column {s.name!r}: {tok!r} is not 'index:value' with a feature index >= 0",
                    source=str(path),
                    row=i,
                    value=tok,
                )
            rows.append(i)
            cols.append(k)
            vals.append(val)
    width = max(cols) + 1 if cols else 0
    if width == 0:
        raise GraphValidationError(f"{path}: column {s.name!r} holds no 'index:value' entry", source=str(path))
    # kept sparse (CSR); a repeated index adds up
    return sp.csr_matrix((np.asarray(vals, dtype=np.float64), (rows, cols)), shape=(len(s), width))


def read_sparse_features(path: PathLike, num_nodes: int) -> sp.csr_matrix:
    """A SciPy sparse matrix file (``scipy.sparse.save_npz``) of ``num_nodes`` rows, in node-table order: node
    features written sparse (a bag of words too wide for table columns). Read without pickle."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file" if not path.exists() else f"{path}: is a folder, not a file")
    try:
        m = sp.load_npz(path)  # np.load with allow_pickle=False inside
    except Exception as e:  # not an npz, or an npz that is not a sparse matrix (e.g. np.savez of arrays)
        raise GraphValidationError(
            f"{path}: not a SciPy sparse matrix file (write it with scipy.sparse.save_npz): {type(e).__name__}: {e}",
            source=str(path),
        ) from None
    m = sp.csr_matrix(m)
    if m.shape[0] != num_nodes:
        raise GraphValidationError(
            f"{path}: the feature matrix has {m.shape[0]} rows but the node table has {num_nodes} nodes; "
            "row i must be the features of the node table's row i",
            source=str(path),
            value=m.shape[0],
        )
    if m.shape[1] == 0:
        raise GraphValidationError(f"{path}: the feature matrix has no columns", source=str(path))
    if not np.issubdtype(m.dtype, np.number) or np.issubdtype(m.dtype, np.complexfloating):
        raise GraphValidationError(f"{path}: feature values have dtype {m.dtype}; expected numbers", source=str(path))
    m.sum_duplicates()
    return m.astype(np.float64)


def _features(
    df: pd.DataFrame, columns: list[str], path: Path, extra: sp.csr_matrix | None = None, extra_path: Path | None = None
) -> np.ndarray | sp.csr_matrix:
    """The feature columns (and the ``extra`` matrix of a features file) side by side, float32: a NumPy array, or a
    CSR matrix when a block is sparse (``index:value`` cells, a features file)."""
    blocks, names = [], []
    for c in columns:
        s = df[c]
        if not (pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s)) and _is_sparse_column(s):
            block = _sparse_column(s, path)
            names += [f"{c!r}[{k}]" for k in range(block.shape[1])]
        elif pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            block = s.to_numpy(dtype=np.float64, na_value=np.nan).reshape(-1, 1)
            names.append(repr(c))
        else:
            block = _vector_column(s, path)
            names += [f"{c!r}[{k}]" for k in range(block.shape[1])] if block.shape[1] > 1 else [repr(c)]
        blocks.append(block)
    if extra is not None:
        blocks.append(extra)
        names += [f"{extra_path.name}[{k}]" for k in range(extra.shape[1])]
    if any(sp.issparse(b) for b in blocks):
        x64 = sp.hstack([sp.csr_matrix(b) for b in blocks], format="csr")
        with np.errstate(over="ignore"):
            values = x64.data.astype(np.float32)
        bad_at = np.flatnonzero(~np.isfinite(values))
        if bad_at.size:
            coo = x64.tocoo()  # hstack's CSR keeps the entries in row order: position j of data is coo's j
            r, c, value = int(coo.row[bad_at[0]]), int(coo.col[bad_at[0]]), float(x64.data[bad_at[0]])
            why = "missing or NaN" if np.isnan(value) else ("infinite" if np.isinf(value) else "too large for float32")
            source = extra_path if extra is not None and c >= x64.shape[1] - extra.shape[1] else path
            raise GraphValidationError(
                f"{source}: row {r}, feature column {names[c]}: value {value} is {why}; "
                f"features must be finite ({bad_at.size} bad value(s) in total)",
                source=str(source),
                row=r,
                value=value,
            )
        return sp.csr_matrix((values, x64.indices, x64.indptr), shape=x64.shape)
    x64 = np.concatenate(blocks, axis=1)
    with np.errstate(over="ignore"):  # too large for float32: reported below
        x = x64.astype(np.float32)
    bad = ~np.isfinite(x)
    if bad.any():
        r, c = (int(v) for v in np.argwhere(bad)[0])
        value = x64[r, c]
        why = "missing or NaN" if np.isnan(value) else ("infinite" if np.isinf(value) else "too large for float32")
        raise GraphValidationError(
            f"{path}: row {r}, feature column {names[c]}: value {value} is {why}; "
            f"features must be finite ({int(bad.sum())} bad value(s) in total)",
            source=str(path),
            row=r,
            value=float(value),
        )
    return x


# -------------------------------------------------------------- labels
def _labels(s: pd.Series, path: Path) -> tuple[np.ndarray, list]:
    """Class indices (``-1`` where the cell is empty) and the class names."""
    missing = s.isna().to_numpy()
    y = np.full(len(s), -1, dtype=np.int64)
    if missing.all():
        log.warning("%s: every value of label column %r is missing; the graph is unlabelled", path, s.name)
        return y, []
    present = np.flatnonzero(~missing)
    if pd.api.types.is_numeric_dtype(s):
        vals = s.to_numpy(dtype=np.float64, na_value=np.nan)[present]
        bad = np.flatnonzero((vals != np.floor(vals)) | (vals < -1))
        if bad.size:
            i, v = int(present[bad[0]]), vals[bad[0]]
            raise GraphValidationError(
                f"{path}: row {i}: label {v:g} in column {s.name!r} is not a class "
                f"index; numeric labels must be integers >= 0 (-1 or an empty cell "
                f"= unlabelled)",
                source=str(path),
                row=i,
                value=float(v),
            )
        y[present] = vals.astype(np.int64)
        return y, list(range(int(y.max()) + 1))
    vals = np.array([str(v) for v in s.to_numpy()[present]], dtype=object)
    names, codes = np.unique(vals, return_inverse=True)
    y[present] = codes
    return y, names.tolist()


# ---------------------------------------------------------------- loader
def _name(edges_path: Path, nodes_path: Path) -> str:
    a, b = (p.name[: -len(_kind(p))] for p in (edges_path, nodes_path))
    prefix = os.path.commonprefix([a, b]).rstrip("_-. ")
    return prefix or a


def load_user_graph(
    edges_path: PathLike,
    nodes_path: PathLike,
    *,
    src_col: str = "src",
    dst_col: str = "dst",
    id_col: str = "id",
    label_col: str | None = "label",
    feature_cols: None | str | Sequence[str] = None,
    directed: bool = False,
    self_loops: str = "remove",
    duplicate_edges: str = "remove",
    split: Sequence[float] = (0.6, 0.2, 0.2),
    seed: int = 0,
    features_path: PathLike | None = None,
) -> Data:
    """Read an edge table and a node table into a contract-abiding ``Data``.

    Files are CSV (``.csv``, ``.csv.gz``), TSV (``.tsv``, ``.tsv.gz``) or
    Parquet (``.parquet``, ``.pq``), chosen by suffix. Extra edge columns are
    ignored.

    Args:
        edges_path: edge table; one row per edge. May have no rows (or no
            bytes): every node is then isolated (a warning is logged).
        nodes_path: node table; one row per node, at least one.
        src_col, dst_col (str): edge endpoint columns. (default: ``"src"``,
            ``"dst"``)
        id_col (str): node id column. (default: ``"id"``)
        label_col (str, optional): label column. Integer labels are kept as
            class indices; any other labels (strings) are sorted and numbered,
            ``data.label_names[k]`` is the name of class ``k``. An empty cell
            (or ``-1``) gives ``y = -1`` (unlabelled, in no split mask). A
            table without the default ``"label"`` column, ``None``, or a
            column with every value missing gives an unlabelled graph (all
            masks empty); another name that is absent is an error.
        feature_cols (str or list, optional): feature columns, concatenated.
            Each is numeric, or holds one vector per cell (a Parquet list /
            array, or a string of numbers separated by spaces, commas or
            semicolons), or a sparse bag of words as ``index:value`` pairs per
            cell (libsvm style, ``"3:1 17:2"``; 0-based indices, width = the
            largest index + 1; an empty cell is a node without features).
            (default: every column but id and label)
        directed (bool): keep edge directions. The default stores both
            directions (the undirected contract of ``docs/design.md``);
            ``True`` departs from that contract. (default: ``False``)
        self_loops, duplicate_edges (str): ``"remove"`` (logged) or
            ``"error"``. A duplicate is a repeated ``(src, dst)`` row; ``a,b``
            and ``b,a`` are the same undirected edge, not duplicates.
        split (tuple): train / val / test fractions of the labelled nodes,
            stratified by class (:func:`graphlearn.data.splits.stratified_split`).
            (default: ``(0.6, 0.2, 0.2)``)
        seed (int): split seed. (default: ``0``)
        features_path (path, optional): a SciPy sparse matrix file (``scipy.sparse.save_npz``), one row per node
            in node-table order, appended after the feature columns (with it, the node table may have none): a
            wide bag of words written sparse. Read without pickle. (default: ``None``)

    Sparse features (``index:value`` cells or ``features_path``) stay sparse: ``x`` is a CSR tensor when the
    matrix has at least :data:`graphlearn.sparse.STORE_SPARSE_MIN_ELEMENTS` entries counting zeros, and dense
    below (as every small graph is).

    Returns:
        Data with ``x, y, edge_index, train_mask, val_mask, test_mask``,
        ``name`` (common prefix of the file names, else the edge file's stem),
        ``num_classes``, ``label_names``, ``node_ids`` (index -> original id)
        and ``id_mapping`` (:class:`IdMapping`).

    Raises:
        GraphValidationError: a bad file, naming file, row and value.
        FileNotFoundError: a file that does not exist.
    """
    check_policy("self_loops", self_loops)
    check_policy("duplicate_edges", duplicate_edges)
    split = tuple(float(f) for f in split)
    if len(split) != 3 or min(split) < 0 or abs(sum(split) - 1) > 1e-6:
        raise ValueError(f"split must be three fractions (train, val, test) >= 0 that sum to 1; got {split}")
    edges_path, nodes_path = Path(edges_path), Path(nodes_path)

    # Nodes: ids, labels, features.
    nodes = read_table(nodes_path, id_columns=[id_col])
    if len(nodes) == 0:
        raise GraphValidationError(
            f"{nodes_path}: the node table is empty; expected at least one node", source=str(nodes_path)
        )
    _require_columns(nodes, nodes_path, id_col=id_col)
    node_ids = _id_column(nodes[id_col], nodes_path)
    mapping = IdMapping(node_ids, source=str(nodes_path))
    if label_col is not None and label_col not in nodes.columns:
        if label_col != "label":
            _require_columns(nodes, nodes_path, label_col=label_col)
        log.info("%s: no label column %r; the graph is unlabelled", nodes_path, label_col)
        label_col = None
    if label_col is None:
        y, label_names = np.full(len(nodes), -1, dtype=np.int64), []
    else:
        y, label_names = _labels(nodes[label_col], nodes_path)
        unlabelled = int((y < 0).sum())
        if 0 < unlabelled < len(y):
            log.info(
                "%s: %d node(s) have no label in column %r (y = -1, in no split mask)",
                nodes_path,
                unlabelled,
                label_col,
            )
    if feature_cols is None:
        feature_cols = [c for c in nodes.columns if c not in (id_col, label_col)]
    elif isinstance(feature_cols, str):
        feature_cols = [feature_cols]
    feature_cols = list(feature_cols)
    for c in feature_cols:
        _require_columns(nodes, nodes_path, feature_cols=c)
    extra = read_sparse_features(features_path, len(nodes)) if features_path is not None else None
    if not feature_cols and extra is None:
        raise GraphValidationError(
            f"{nodes_path}: no feature columns (the columns are "
            f"{list(map(str, nodes.columns))}); node features are "
            f"required",
            source=str(nodes_path),
        )
    x = _features(nodes, feature_cols, nodes_path, extra, Path(features_path) if features_path else None)

    # Edges: original ids -> indices, policies reported by file row.
    edges = read_table(edges_path, id_columns=[src_col, dst_col])
    if len(edges.columns) == 0:  # a file with no bytes at all
        edges = pd.DataFrame({src_col: node_ids[:0], dst_col: node_ids[:0]})
    _require_columns(edges, edges_path, src_col=src_col, dst_col=dst_col)
    src_ids = _match_ids(_id_column(edges[src_col], edges_path), node_ids)
    dst_ids = _match_ids(_id_column(edges[dst_col], edges_path), node_ids)
    src = mapping.index_of(src_ids, source=str(edges_path), column=src_col)
    dst = mapping.index_of(dst_ids, source=str(edges_path), column=dst_col)
    edge_index = torch.stack([src, dst])
    if edge_index.size(1) == 0:
        log.warning("%s: no edges; all %d nodes are isolated", edges_path, len(nodes))
    j = first_self_loop(edge_index) if self_loops == "error" else None
    if j is not None:
        a = _native(src_ids.iloc[j])
        raise GraphValidationError(
            f"{edges_path}: row {j}: self-loop {a!r} -> {a!r} (self_loops='error'; pass "
            f"self_loops='remove' to drop self-loops)",
            source=str(edges_path),
            row=j,
            value=a,
        )
    dup = first_duplicate(edge_index, len(nodes)) if duplicate_edges == "error" else None
    if dup is not None:
        j, i = dup
        a, b = _native(src_ids.iloc[j]), _native(dst_ids.iloc[j])
        raise GraphValidationError(
            f"{edges_path}: row {j}: duplicate edge {a!r} -> {b!r}, first seen at row {i} "
            f"(duplicate_edges='error'; pass duplicate_edges='remove' to drop duplicates)",
            source=str(edges_path),
            row=j,
            value=(a, b),
        )

    data = Data(x=feature_tensor(x), y=torch.from_numpy(y), edge_index=edge_index)
    data.name = _name(edges_path, nodes_path)
    data.num_classes = len(label_names)
    data.label_names = label_names
    data.node_ids = mapping.ids
    data.id_mapping = mapping
    if not (y >= 0).any():
        log.warning("%s: no labelled node; train/val/test masks are empty", nodes_path)
    data = stratified_split(data, train=split[0], val=split[1], seed=seed)
    return validate_graph(
        data, source=str(edges_path), self_loops=self_loops, duplicate_edges=duplicate_edges, undirected=not directed
    )
