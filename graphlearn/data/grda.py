"""Graph-relational domain adaptation data: DG-15, DG-60, TPT-48 and user datasets.

A :class:`DomainDataset` is a table of samples, each tagged with the index of its *domain*; the domains are the
nodes of a *domain graph* (symmetric 0/1 adjacency ``A``). Some domains are sources (labels used in training), the
rest are targets (only their inputs are seen). See ``docs/grda.md`` for the exact protocols.

Files live under ``<root>/grda/`` with ``root`` resolved like every other dataset (flag, ``$GRAPHLEARN_DATA``,
``./data``):

* ``toy_d15_spiral_tight_boundary.pkl`` / ``toy_d60_spiral.pkl`` and ``g_encode_{15,60}.pkl`` (DG-15 / DG-60);
* ``tpt48/month_temp_data.pkl``, ``tpt48/usa_map.txt``, ``tpt48/longitude-latitude-normalize.csv``,
  ``tpt48/USAGraphPos.csv`` (TPT-48).

Those pickles come from a known source (the GRDA and VDI repositories) and are read through an unpickler that
only accepts numpy arrays and builtin containers. User data is read only from formats that cannot execute code:
``.npz`` with ``allow_pickle=False``, CSV or Parquet, and a CSV edge list for the domain graph.
"""

from __future__ import annotations

import os
import pickle
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .registry import DatasetNotFoundError, UnknownDatasetError, resolve_root
from .validation import GraphValidationError

DATASETS = ("dg15", "dg60", "tpt48-ew", "tpt48-ns")

DG_FILES = {
    "dg15": ("toy_d15_spiral_tight_boundary.pkl", "g_encode_15.pkl"),
    "dg60": ("toy_d60_spiral.pkl", "g_encode_60.pkl"),
}
# Source domains of the official configs (Wang-ML-Lab/GRDA configs/config_random_{15,60}_new.py).
DG_SOURCES = {"dg15": (0, 12, 3, 4, 14, 8), "dg60": (2, 14, 41, 23, 59, 33)}

# TPT-48 N->S: the 24 source states of Wang-ML-Lab/VDI TPT-48/configs/config_tpt_48_NS.py (the lab's N(24)->S(24)
# split); they are exactly the 24 states of largest normalised latitude. GRDA's own E(24)->W(24) config is not
# public, so E is derived the same way: the 24 states of largest normalised longitude (a clean gap: WI 0.623 is
# the 24th, IL/MS 0.611 the 25th). Both lists are checked against the csv at load time.
TPT48_SOURCES = {
    "tpt48-ns": (
        "ND",
        "VT",
        "NH",
        "ME",
        "WA",
        "MT",
        "SD",
        "MN",
        "WI",
        "MI",
        "NY",
        "MA",
        "OR",
        "ID",
        "WY",
        "NE",
        "IA",
        "IL",
        "IN",
        "OH",
        "PA",
        "NJ",
        "CT",
        "RI",
    ),
    "tpt48-ew": (
        "ME",
        "MA",
        "RI",
        "NH",
        "VT",
        "CT",
        "NY",
        "NJ",
        "DE",
        "MD",
        "PA",
        "VA",
        "NC",
        "WV",
        "SC",
        "FL",
        "GA",
        "OH",
        "KY",
        "IN",
        "MI",
        "TN",
        "AL",
        "WI",
    ),
}
TPT48_AXIS = {"tpt48-ns": "latitude", "tpt48-ew": "longitude"}
SEQ_LEN = 6  # months in, months out
GROUP_LEN = 12  # evaluation windows start every 12 months (input Jan-Jun -> output Jul-Dec of each year)


class GRDAInputError(GraphValidationError):
    """Bad domain-adaptation input; the message names the offending file, row or value."""


@dataclass
class DomainDataset:
    """Samples from several domains related by a domain graph.

    Args:
        name: registry name or file stem.
        x: float32 ``[N, F]`` inputs.
        y: int64 ``[N]`` class labels or float32 ``[N, K]`` regression targets.
        domain: int64 ``[N]`` domain index in ``0..D-1`` of each sample.
        adjacency: float32 ``[D, D]`` symmetric domain graph, zero diagonal.
        domain_ids: original id (str) of each domain index.
        source: bool ``[D]``: source domains (labels used for training); the rest are targets.
        task: ``"classification"`` or ``"regression"``.
        train_mask: bool ``[N]`` samples drawn in training (targets contribute inputs only).
        eval_mask: bool ``[N]`` samples the per-domain metric is computed on.
        domain_embedding: optional float32 ``[D, k]`` given domain-node embeddings (GRDA's ``g_encode``).
        positions: optional float ``[D, 2]`` plot positions of the domains.
    """

    name: str
    x: np.ndarray
    y: np.ndarray
    domain: np.ndarray
    adjacency: np.ndarray
    domain_ids: list
    source: np.ndarray
    task: str
    train_mask: np.ndarray | None = None
    eval_mask: np.ndarray | None = None
    domain_embedding: np.ndarray | None = None
    positions: np.ndarray | None = None
    notes: dict = field(default_factory=dict)

    def __post_init__(self):
        n = len(self.x)
        if self.train_mask is None:
            self.train_mask = np.ones(n, dtype=bool)
        if self.eval_mask is None:
            self.eval_mask = np.ones(n, dtype=bool)
        validate(self)

    @property
    def num_domains(self) -> int:
        return len(self.domain_ids)

    @property
    def num_classes(self) -> int:
        return int(self.y.max()) + 1 if self.task == "classification" else 0

    @property
    def out_dim(self) -> int:
        return self.num_classes if self.task == "classification" else self.y.shape[1]

    @property
    def metric(self) -> str:
        return "acc" if self.task == "classification" else "mse"

    def __repr__(self) -> str:
        return (
            f"DomainDataset({self.name}, n={len(self.x)}, features={self.x.shape[1]}, "
            f"domains={self.num_domains} ({int(self.source.sum())} source), task={self.task})"
        )


# --------------------------------------------------------------------------------------------------- checks
def check_adjacency(adjacency: np.ndarray, domain_ids: Sequence, *, where: str = "domain graph") -> np.ndarray:
    """Return ``adjacency`` as float32 after checking it is a square, symmetric matrix with values in [0, 1].

    A disconnected graph is accepted with a warning: the discriminator still reconstructs every sampled pair, and
    a component without a source domain only loses the label signal (see ``docs/grda.md``).
    """
    a = np.asarray(adjacency, dtype=np.float64)
    d = len(domain_ids)
    if a.ndim != 2 or a.shape != (d, d):
        raise GRDAInputError(f"{where}: adjacency has shape {a.shape}, expected ({d}, {d}) for {d} domains")
    if not np.isfinite(a).all() or a.min() < 0 or a.max() > 1:
        i, j = np.argwhere(~np.isfinite(a) | (a < 0) | (a > 1))[0]
        raise GRDAInputError(f"{where}: A[{domain_ids[i]!r}, {domain_ids[j]!r}] = {a[i, j]} is not in [0, 1]")
    asym = np.argwhere(a != a.T)
    if len(asym):
        i, j = asym[0]
        raise GRDAInputError(
            f"{where} is not symmetric: A[{domain_ids[i]!r}, {domain_ids[j]!r}] = {a[i, j]:g} but "
            f"A[{domain_ids[j]!r}, {domain_ids[i]!r}] = {a[j, i]:g} ({len(asym) // 2 or 1} such pairs)"
        )
    if np.any(np.diag(a) != 0):
        i = int(np.flatnonzero(np.diag(a))[0])
        raise GRDAInputError(f"{where}: self-loop on domain {domain_ids[i]!r}; the domain graph has no self-loops")
    components = connected_components(a)
    if components.max() > 0:
        groups = [[domain_ids[i] for i in np.flatnonzero(components == c)] for c in range(components.max() + 1)]
        warnings.warn(
            f"{where} is disconnected ({len(groups)} components, smallest: "
            f"{min(groups, key=len)}); GRDA still runs, see docs/grda.md",
            stacklevel=3,
        )
    return a.astype(np.float32)


def connected_components(adjacency: np.ndarray) -> np.ndarray:
    """Component label (0-based, in order of first node) of every domain."""
    from scipy.sparse.csgraph import connected_components as cc

    _, labels = cc(np.asarray(adjacency) > 0, directed=False)
    # relabel by first appearance so the node-0 component is 0
    _, first = np.unique(labels, return_index=True)
    order = np.argsort(np.argsort(first))
    return order[labels]


def validate(ds: DomainDataset) -> None:
    """Check shapes, ids and the graph; raise :class:`GRDAInputError` naming the offending value."""
    ids = list(ds.domain_ids)
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise GRDAInputError(f"{ds.name}: domain id {dup!r} appears twice in the domain graph")
    if ds.task not in ("classification", "regression"):
        raise GRDAInputError(f"{ds.name}: task {ds.task!r} is not one of ('classification', 'regression')")
    x = ds.x
    if x.ndim != 2:
        raise GRDAInputError(f"{ds.name}: features have shape {x.shape}, expected [N, F]")
    n = len(x)
    for key in ("y", "domain", "train_mask", "eval_mask"):
        if len(getattr(ds, key)) != n:
            raise GRDAInputError(f"{ds.name}: {key} has {len(getattr(ds, key))} rows but x has {n}")
    if not np.isfinite(x).all():
        r, c = np.argwhere(~np.isfinite(x))[0]
        raise GRDAInputError(f"{ds.name}: feature {c} of row {r} is {x[r, c]} (not finite)")
    if ds.task == "regression" and (ds.y.ndim != 2 or not np.isfinite(ds.y).all()):
        raise GRDAInputError(f"{ds.name}: regression targets must be a finite [N, K] array, got {ds.y.shape}")
    if ds.task == "classification" and (ds.y.ndim != 1 or ds.y.min(initial=0) < 0):
        raise GRDAInputError(f"{ds.name}: class labels must be a [N] array of ints >= 0")
    d = len(ids)
    if ds.domain.min(initial=0) < 0 or ds.domain.max(initial=0) >= d:
        bad = ds.domain[(ds.domain < 0) | (ds.domain >= d)][0]
        raise GRDAInputError(f"{ds.name}: domain index {bad} is not a node of the {d}-node domain graph")
    ds.adjacency = check_adjacency(ds.adjacency, ids, where=f"{ds.name} domain graph")
    if ds.source.dtype != bool or ds.source.shape != (d,):
        raise GRDAInputError(f"{ds.name}: source must be a bool mask of shape ({d},)")
    if not ds.source.any():
        raise GRDAInputError(f"{ds.name}: no source domain; at least one domain must carry labels")
    if ds.source.all():
        raise GRDAInputError(f"{ds.name}: every domain is a source; at least one target domain is needed")
    counts = np.bincount(ds.domain[ds.train_mask], minlength=d)
    evals = np.bincount(ds.domain[ds.eval_mask], minlength=d)
    for i in range(d):
        kind = "source" if ds.source[i] else "target"
        if counts[i] == 0 or evals[i] == 0:
            raise GRDAInputError(
                f"{ds.name}: {kind} domain {ids[i]!r} has no samples "
                f"(every domain of the graph needs data; drop the node from the graph instead)"
            )
    if ds.domain_embedding is not None:
        emb = np.asarray(ds.domain_embedding)
        if emb.ndim != 2 or len(emb) != d or not np.isfinite(emb).all():
            raise GRDAInputError(f"{ds.name}: domain embedding has shape {emb.shape}, expected finite ({d}, k)")


# ---------------------------------------------------------------------------------------------- pickles
class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler for the known-source GRDA/VDI pickles: numpy arrays and builtin containers only."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("collections", "OrderedDict"),
    }

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            if module == "numpy.core.multiarray":  # pickles written by numpy 1.x; numpy 2 renamed the module
                module = "numpy._core.multiarray"
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only numpy arrays are expected")


def read_array_pickle(path: Path):
    with open(path, "rb") as f:
        try:
            return _ArrayUnpickler(f).load()
        except pickle.UnpicklingError as e:  # a planted payload, or not a pickle at all: name the file
            raise pickle.UnpicklingError(f"{path}: {e}") from None
        except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as e:
            raise GRDAInputError(f"{path}: not a readable GRDA pickle ({type(e).__name__}: {e})") from None


def _embedding_table(table: dict, d: int, path: Path) -> np.ndarray:
    rows = []
    for i in range(d):
        if str(i) not in table:
            raise GRDAInputError(f"{path}: no embedding for domain '{i}'")
        rows.append(np.asarray(table[str(i)], dtype=np.float32).ravel())
    width = len(rows[0])
    for i, r in enumerate(rows):
        if len(r) != width:
            raise GRDAInputError(f"{path}: embedding of domain '{i}' has width {len(r)}, expected {width}")
    return np.stack(rows)


def load_dg(name: str = "dg15", root=None) -> DomainDataset:
    """DG-15 / DG-60: 2-D points, binary labels, 100 samples per domain on a random domain graph.

    Features are normalised with the global mean/std of all samples (as GRDA's loader does; it uses no label).
    Every sample is trained on (source labels only) and evaluated on, as in the official code.
    """
    data_file, enc_file = DG_FILES[name]
    base = resolve_root(root) / "grda"
    path = base / data_file
    if not path.exists():
        raise DatasetNotFoundError(f"{name} data: {path} does not exist")
    raw = read_array_pickle(path)
    x = np.asarray(raw["data"], dtype=np.float64)
    x = ((x - x.mean(0, keepdims=True)) / x.std(0, keepdims=True)).astype(np.float32)
    a = np.asarray(raw["A"])
    d = len(a)
    ids = [str(i) for i in range(d)]
    domain = np.asarray(raw["domain"]).astype(np.int64)
    source = np.zeros(d, dtype=bool)
    source[list(DG_SOURCES[name])] = True
    angle = np.asarray(raw["angle"], dtype=np.float64)
    enc_path = base / enc_file
    emb = _embedding_table(read_array_pickle(enc_path), d, enc_path) if enc_path.exists() else None
    return DomainDataset(
        name=name,
        x=x,
        y=np.asarray(raw["label"]).astype(np.int64),
        domain=domain,
        adjacency=a,
        domain_ids=ids,
        source=source,
        task="classification",
        domain_embedding=emb,
        positions=np.stack([np.cos(angle), np.sin(angle)], 1),
        notes={"angle": angle.tolist(), "g_encode": enc_path.name if emb is not None else None},
    )


# ---------------------------------------------------------------------------------------------- TPT-48
def _read_state_graph(path: Path, states: Sequence[str]) -> np.ndarray:
    index = {s: i for i, s in enumerate(states)}
    a = np.zeros((len(states), len(states)), dtype=np.float32)
    for line_no, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2:
            raise GRDAInputError(f"{path}:{line_no}: expected 'STATE STATE', got {line!r}")
        if parts[0] in index and parts[1] in index:  # DC has no temperature series: its 2 edges are dropped
            a[index[parts[0]], index[parts[1]]] = a[index[parts[1]], index[parts[0]]] = 1
    return a


def load_tpt48(name: str = "tpt48-ew", root=None) -> DomainDataset:
    """TPT-48 monthly temperature of the 48 contiguous states: 6 months in -> next 6 months out.

    Protocol of the lab's loader (Wang-ML-Lab/VDI ``TPT-48/data_loader``), written afresh:

    * values are standardised with one mean/std over the source series (first 138 months) and the target input
      windows (months 0-5 of each year);
    * source training samples: every sliding window (133 per state); target training samples: the 12 yearly
      windows (Jan-Jun inputs only; their outputs are never used);
    * evaluation: the 12 yearly windows (Jan-Jun -> Jul-Dec) of every state.
    """
    base = resolve_root(root) / "grda" / "tpt48"
    files = {
        k: base / f
        for k, f in (
            ("series", "month_temp_data.pkl"),
            ("graph", "usa_map.txt"),
            ("coords", "longitude-latitude-normalize.csv"),
            ("pos", "USAGraphPos.csv"),
        )
    }
    for key, path in files.items():
        if not path.exists():
            raise DatasetNotFoundError(f"{name} {key}: {path} does not exist")
    import pandas as pd

    series = read_array_pickle(files["series"])
    states = sorted(series)
    coords = pd.read_csv(files["coords"]).set_index("state")
    sources = TPT48_SOURCES[name]
    axis = TPT48_AXIS[name]
    expected = set(coords[axis].sort_values(ascending=False).index[: len(sources)])
    if set(sources) != expected:  # the split is defined by the csv; fail loudly if the staged file differs
        raise GRDAInputError(
            f"{files['coords']}: the 24 states of largest {axis} are {sorted(expected)}, "
            f"not the documented {name} sources {sorted(sources)}"
        )
    lengths = {len(series[s]) for s in states}
    if len(lengths) != 1:
        raise GRDAInputError(f"{files['series']}: series lengths differ across states: {sorted(lengths)}")
    t = lengths.pop()
    n_slide = t - GROUP_LEN + 1
    n_group = t // GROUP_LEN
    src_values = np.concatenate([series[s][: n_slide + SEQ_LEN - 1] for s in sources])
    tgt_values = np.concatenate(
        [series[s][g * GROUP_LEN : g * GROUP_LEN + SEQ_LEN] for s in states if s not in sources for g in range(n_group)]
    )
    pooled = np.concatenate([src_values, tgt_values])
    mean, std = float(pooled.mean()), float(pooled.std())

    xs, ys, dom, train, evals = [], [], [], [], []
    for i, s in enumerate(states):
        z = (np.asarray(series[s], dtype=np.float64) - mean) / std
        starts = range(n_slide) if s in sources else range(0, n_group * GROUP_LEN, GROUP_LEN)
        for st in starts:
            xs.append(z[st : st + SEQ_LEN])
            ys.append(z[st + SEQ_LEN : st + 2 * SEQ_LEN])
            dom.append(i)
            train.append(True)
            evals.append(st % GROUP_LEN == 0)
    pos = pd.read_csv(files["pos"], skipinitialspace=True).set_index("state")
    return DomainDataset(
        name=name,
        x=np.asarray(xs, np.float32),
        y=np.asarray(ys, np.float32),
        domain=np.asarray(dom, np.int64),
        adjacency=_read_state_graph(files["graph"], states),
        domain_ids=states,
        source=np.array([s in sources for s in states]),
        task="regression",
        train_mask=np.asarray(train),
        eval_mask=np.asarray(evals),
        positions=pos.loc[states, ["pos_x", "pos_y"]].to_numpy(np.float64),
        notes={"mean": mean, "std": std, "split_axis": axis},
    )


# ---------------------------------------------------------------------------------------------- user data
def read_edge_list(path: str | os.PathLike) -> tuple[list[str], np.ndarray]:
    """Read an undirected domain graph from a CSV edge list.

    Columns: ``source,target`` (header optional; any two first columns are used) and an optional ``weight`` in
    [0, 1]. Both directions may be listed; if they are, their weights must agree (else the graph is not
    symmetric). Node ids are strings; nodes are ordered naturally (numerically when all ids are integers).
    """
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise DatasetNotFoundError(f"domain graph edge list: {path} does not exist")
    if path.is_dir():
        raise GRDAInputError(f"domain graph edge list: {path} is a folder; expected a CSV file source,target[,weight]")
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    if df.shape[1] < 2:
        raise GRDAInputError(f"{path}: an edge list needs two columns (source,target), found {list(df.columns)}")
    if not {"source", "target"} <= set(df.columns):  # headerless file: the first row is an edge
        df = pd.read_csv(path, dtype=str, header=None, keep_default_na=False)
        df.columns = ["source", "target", "weight"][: df.shape[1]] + list(df.columns[3:])
    src, dst = df["source"].str.strip(), df["target"].str.strip()
    weights = np.ones(len(df))
    if "weight" in df.columns:
        try:
            weights = df["weight"].astype(float).to_numpy()
        except ValueError as err:
            raise GRDAInputError(f"{path}: weight column is not numeric ({err})") from None
    ids = _natural_order(set(src) | set(dst))
    index = {n: i for i, n in enumerate(ids)}
    a = np.zeros((len(ids), len(ids)))
    seen = np.zeros_like(a, dtype=bool)
    for row, (u, v, w) in enumerate(zip(src, dst, weights), start=2):
        if u == "" or v == "":
            raise GRDAInputError(f"{path}: row {row} has an empty node id")
        if u == v:
            raise GRDAInputError(f"{path}: row {row} is a self-loop on domain {u!r}")
        i, j = index[u], index[v]
        if seen[i, j] and a[i, j] != w:
            raise GRDAInputError(f"{path}: row {row} repeats edge ({u!r}, {v!r}) with weight {w}, was {a[i, j]}")
        a[i, j], seen[i, j] = w, True
        if not seen[j, i]:
            a[j, i] = w
    return ids, a


def _natural_order(ids: Iterable[str]) -> list[str]:
    ids = list(ids)
    try:
        return sorted(ids, key=lambda s: (int(s), s))
    except ValueError:
        return sorted(ids)


def _read_table(path: Path):
    """Return ``(x, y, domain_ids_per_row)`` from an npz, CSV or Parquet file."""
    suffix = path.suffix.lower()
    if suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                missing = {"x", "y", "domain"} - set(z.files)
                if missing:
                    raise GRDAInputError(f"{path}: missing arrays {sorted(missing)} (found {z.files})")
                x, y, dom = z["x"], z["y"], z["domain"]
        except ValueError as err:
            if "allow_pickle" in str(err) or "Object arrays" in str(err):
                raise GRDAInputError(
                    f"{path}: contains a pickled object array; user data must be plain numeric "
                    f"or string arrays (np.load allow_pickle=False)"
                ) from None
            raise
        if x.ndim != 2:
            raise GRDAInputError(f"{path}: x has shape {x.shape}, expected [N, F]")
        if len(y) != len(x) or len(dom) != len(x):
            raise GRDAInputError(f"{path}: x has {len(x)} rows but y has {len(y)} and domain has {len(dom)}")
        if x.dtype.kind not in "biuf":
            raise GRDAInputError(f"{path}: x has dtype {x.dtype}, expected numbers")
        return x.astype(np.float32), y, [str(d) for d in dom.tolist()]
    import pandas as pd

    if suffix in (".csv", ".tsv"):
        df = pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
    elif suffix in (".parquet", ".pq"):
        df = pd.read_parquet(path)
    else:
        raise GRDAInputError(f"{path}: unsupported extension {suffix!r}; use .npz, .csv or .parquet")
    if "domain" not in df.columns:
        raise GRDAInputError(f"{path}: no 'domain' column (columns: {list(df.columns)})")
    label_cols = ["label"] if "label" in df.columns else sorted(c for c in df.columns if str(c).startswith("label_"))
    if not label_cols:
        raise GRDAInputError(f"{path}: no 'label' (or 'label_<k>') column (columns: {list(df.columns)})")
    feat_cols = [c for c in df.columns if c != "domain" and c not in label_cols]
    if not feat_cols:
        raise GRDAInputError(f"{path}: no feature columns besides 'domain' and the label")
    feats = df[feat_cols]
    non_numeric = [c for c in feat_cols if not pd.api.types.is_numeric_dtype(feats[c])]
    if non_numeric:
        raise GRDAInputError(f"{path}: feature column {non_numeric[0]!r} is not numeric")
    empty = feats.isna().to_numpy()
    if empty.any():
        r, c = np.argwhere(empty)[0]
        raise GRDAInputError(
            f"{path}: row {r} has {len(feat_cols) - int(empty[r].sum())} features, expected "
            f"{len(feat_cols)} (column {feat_cols[c]!r} is empty)"
        )
    y = df[label_cols].to_numpy()
    y = y[:, 0] if len(label_cols) == 1 else y
    return feats.to_numpy(np.float32), y, df["domain"].astype(str).str.strip().tolist()


def load_user_domains(
    path: str | os.PathLike,
    graph: str | os.PathLike,
    source_domains: Sequence,
    target_domains: Sequence | None = None,
    *,
    task: str = "auto",
    normalize: bool = True,
) -> DomainDataset:
    """Load a user dataset: a sample table (npz / CSV / Parquet) plus a CSV domain-graph edge list.

    Args:
        path: ``.npz`` with arrays ``x [N,F]``, ``y [N]`` or ``[N,K]``, ``domain [N]`` (no object arrays), or a
            CSV / Parquet table with a ``domain`` column, a ``label`` (or ``label_0..``) column and numeric
            feature columns (all the others).
        graph: CSV edge list, see :func:`read_edge_list`. Every domain of the table must be a node of the graph
            and every node must have samples.
        source_domains: ids of the labelled domains.
        target_domains: ids of the target domains (default: every other node of the graph).
        task: ``"classification"`` (integer labels), ``"regression"`` or ``"auto"`` (integers -> classification).
        normalize: standardise features with the mean/std of all samples (no labels are used).
    """
    path = Path(path)
    if not path.exists():
        raise DatasetNotFoundError(f"user domain data: {path} does not exist")
    if path.is_dir():
        raise GRDAInputError(f"user domain data: {path} is a folder; expected a .npz, .csv or .parquet table")
    x, y, row_ids = _read_table(path)
    ids, a = read_edge_list(graph)
    index = {n: i for i, n in enumerate(ids)}
    for row, d in enumerate(row_ids):
        if d not in index:
            raise GRDAInputError(
                f"{path}: row {row} has domain id {d!r}, which is not a node of the domain graph "
                f"{graph} (nodes: {ids[:10]}{' ...' if len(ids) > 10 else ''})"
            )
    sources = [str(s) for s in source_domains]
    targets = [str(s) for s in target_domains] if target_domains is not None else [n for n in ids if n not in sources]
    for d in sources + targets:
        if d not in index:
            raise GRDAInputError(f"domain id {d!r} given as source/target is not a node of the domain graph {graph}")
    overlap = set(sources) & set(targets)
    if overlap:
        raise GRDAInputError(f"domain {sorted(overlap)[0]!r} is listed both as source and as target")
    unused = [n for n in ids if n not in sources and n not in targets]
    if unused:
        raise GRDAInputError(f"domain {unused[0]!r} of the graph is neither source nor target")
    labels = np.asarray(y)
    if labels.dtype.kind == "f" and np.isnan(labels).any():  # "auto" would otherwise turn the task into regression
        r = int(np.argwhere(np.isnan(labels.reshape(len(labels), -1)))[0][0])
        raise GRDAInputError(f"{path}: row {r} has no label (NaN); every sample of the table needs one")
    if labels.dtype.kind in "biuf" and not np.isfinite(labels).all():
        r = int(np.argwhere(~np.isfinite(labels.reshape(len(labels), -1)))[0][0])
        raise GRDAInputError(f"{path}: row {r} has label {labels.reshape(len(labels), -1)[r].tolist()} (not finite)")
    if not np.isfinite(x).all():  # before standardisation, which would turn one inf into a column of NaN
        r, c = np.argwhere(~np.isfinite(x))[0]
        raise GRDAInputError(f"{path}: row {r}, feature column {c} is {x[r, c]} (features must be finite)")
    if task == "auto":
        task = "classification" if labels.dtype.kind in "biu" else "regression"
    if task == "classification":
        y = np.asarray(y)
        if y.ndim != 1 or y.dtype.kind not in "biuf" or not np.all(np.mod(y, 1) == 0):
            raise GRDAInputError(f"{path}: classification labels must be one integer per row")
        y = y.astype(np.int64)
    elif task == "regression":
        y = np.asarray(y, dtype=np.float32)
        y = y[:, None] if y.ndim == 1 else y
    else:
        raise GRDAInputError(f"task {task!r} is not one of ('auto', 'classification', 'regression')")
    if normalize:
        std = x.std(0, keepdims=True)
        x = (x - x.mean(0, keepdims=True)) / np.where(std > 0, std, 1)
    source = np.array([n in sources for n in ids])
    return DomainDataset(
        name=path.stem,
        x=x.astype(np.float32),
        y=y,
        domain=np.array([index[d] for d in row_ids], dtype=np.int64),
        adjacency=a,
        domain_ids=ids,
        source=source,
        task=task,
    )


def load_grda(name: str, root=None, **user_kwargs) -> DomainDataset:
    """Registry entry point: ``dg15``, ``dg60``, ``tpt48-ew``, ``tpt48-ns``, or a path to a user table."""
    if name in DG_FILES:
        return load_dg(name, root)
    if name in TPT48_SOURCES:
        return load_tpt48(name, root)
    if Path(name).suffix.lower() in (".npz", ".csv", ".tsv", ".parquet", ".pq"):
        return load_user_domains(name, **user_kwargs)
    raise UnknownDatasetError(
        name, DATASETS, what="GRDA dataset", alternatives="or a path to a user table (.npz, .csv, .tsv, .parquet, .pq)"
    )


def with_sources(ds: DomainDataset, source_ids: Sequence) -> DomainDataset:
    """Copy of ``ds`` with a different set of source domains (ids as in ``ds.domain_ids``)."""
    ids = list(ds.domain_ids)
    for s in source_ids:
        if str(s) not in ids:
            raise GRDAInputError(f"{ds.name}: source domain {s!r} is not a node of the domain graph")
    return replace(ds, source=np.array([d in {str(s) for s in source_ids} for d in ids]))
