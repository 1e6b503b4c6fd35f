"""``graphlearn neighbors``: which exported nodes are brand-new nodes like? The endpoint's answer from the command
line: predicted class and the ``k`` nearest exported nodes (original ids, cosine scores).

    graphlearn neighbors --model models:/graphlearn-cora-student@champion --features new_nodes.csv --k 10
    graphlearn neighbors --model exports/<run id>/student --features new_nodes.csv --json

``--features`` is a CSV with one row per new node: an id column (``--id-column``, default ``id``, else ``node_id``,
else the first column; integers, unique) and the raw features in the order of training (the model applies its own
normalisation). ``--model`` is a registered model (``models:/...``), a logged one (``runs:/...``) or an export
folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from graphlearn import tracking
from pipelines import _common


def add_arguments(parser) -> None:
    parser.add_argument("--model", required=True, help="models:/<name>@<alias>, runs:/<id>/<path> or an export folder")
    parser.add_argument("--features", required=True, help="CSV: an id column, then the raw feature columns")
    parser.add_argument("--k", type=_common.positive_int, default=10, help="neighbours per node (default 10)")
    parser.add_argument("--id-column", default=None, help="name of the id column (default: id, node_id or the first)")
    parser.add_argument("--json", action="store_true", help="print JSON records (with embeddings) instead of a table")
    _common.add_serving_arguments(parser, threads_help="torch / FAISS threads")


def read_features_csv(path: str, id_column: str | None = None) -> tuple[list[int], np.ndarray]:
    """``(ids, features)`` from a CSV of new nodes; a ``ValueError`` names any bad id or value."""
    import pandas as pd  # noqa: PLC0415

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"features file not found: {path}")
    try:
        table = pd.read_csv(p)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not a readable CSV ({str(e).strip().splitlines()[0]})") from None
    if table.shape[1] < 2:
        raise ValueError(f"{path}: needs an id column and at least one feature column (found {list(table.columns)})")
    if table.shape[0] == 0:
        raise ValueError(f"{path}: no rows: nothing to query")
    if id_column is None:
        id_column = next((c for c in ("id", "node_id") if c in table.columns), table.columns[0])
    elif id_column not in table.columns:
        raise ValueError(f"{path}: no id column {id_column!r} (columns: {list(table.columns)[:8]}...)")
    raw_ids = table[id_column]
    ids = pd.to_numeric(raw_ids, errors="coerce")
    bad = ids.isna() | (ids != ids.round())
    if bad.any():
        j = int(np.flatnonzero(bad.to_numpy())[0])
        raw = raw_ids.iloc[j]
        raw = raw.item() if isinstance(raw, np.generic) else raw
        raise ValueError(f"{path}: row {j}: node id {raw!r} in column {id_column!r} is not an integer")
    dup = ids.duplicated()
    if dup.any():
        j = int(np.flatnonzero(dup.to_numpy())[0])
        raise ValueError(f"{path}: row {j}: duplicate node id {int(ids.iloc[j])} in column {id_column!r}")
    feats = table.drop(columns=[id_column])
    for col in feats.columns:
        values = pd.to_numeric(feats[col], errors="coerce")
        wrong = values.isna() & feats[col].notna()
        if wrong.any():
            j = int(np.flatnonzero(wrong.to_numpy())[0])
            raise ValueError(f"{path}: row {j}, column {col!r}: {feats[col].iloc[j]!r} is not a number")
        feats[col] = values
    x = feats.to_numpy(dtype=np.float64)
    bad = ~np.isfinite(x)
    if bad.any():
        j, c = (int(v) for v in np.argwhere(bad)[0])
        what = "empty (NaN)" if np.isnan(x[j, c]) else f"{x[j, c]} (not finite)"
        raise ValueError(
            f"{path}: row {j} (node id {int(ids.iloc[j])}), column {feats.columns[c]!r} is {what}; features must be "
            f"finite ({int(bad.sum())} bad value(s) in total)"
        )
    return [int(i) for i in ids], x


def answer(model: str, features: np.ndarray, k: int, tracking_uri: str | None = None) -> list[dict]:
    """The endpoint's records for ``features`` from a model URI or an export folder."""
    if Path(model).is_dir():
        from graphlearn.export import ColdStartEndpoint  # noqa: PLC0415

        return ColdStartEndpoint.load(model).query(features, k=k).records()
    tracking.configure(tracking_uri)
    from mlflow.exceptions import MlflowException  # noqa: PLC0415

    pyfunc = tracking.load_pyfunc(model)
    try:
        frame = pyfunc.predict(features, params={"k": k})
    except MlflowException as e:
        raise ValueError(e.message) from None
    return frame.to_dict("records")


def run(args) -> list[dict]:
    _common.setup_threads(args)
    from graphlearn.export.index import set_threads  # noqa: PLC0415

    set_threads(_common.job_threads(args))
    ids, features = read_features_csv(args.features, args.id_column)
    records = answer(args.model, features, args.k, args.tracking_uri)
    out = [{"id": i, **{key: _plain(v) for key, v in r.items()}} for i, r in zip(ids, records)]
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"{'id':>8}  {'class':<24} nearest exported nodes (id: cosine)")
        for r in out:
            near = ", ".join(f"{n}: {s:.3f}" for n, s in zip(r["neighbor_ids"], r["scores"]))
            print(f"{r['id']:>8}  {str(r['class_name']):<24} {near}")
    return out


def _plain(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


if __name__ == "__main__":
    _common.script_main("neighbors")
