"""Exploratory sweep of the Cold Brew retrieval head's training settings on one graph (one trained student, one seed).

Trains the Cold Brew models once (``run_coldbrew`` seed 0, Cold Brew protocol, ``retrieval_dim=256``; cached in
``--cache``), then re-fits only the retrieval head (``fit_retrieval``) with each width in ``dims`` and the given
keyword overrides, and prints the validation choice and the test retrieval of the isolated nodes (recall@10 of
their removed edges, same-class precision@10, as ``export_retrieval.py``), beside raw features:

    python benchmarks/retrieval_head_sweep.py coauthor-cs 256,1024 '{"tau": 0.05}'

One line per width is printed (and appended to ``--log``); it is a tool for choosing what to try, not a result
with seeds (``export_retrieval.py`` is).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from graphlearn.data.protocols import apply_protocol  # noqa: E402
from graphlearn.evaluation.retrieval import retrieval_scores, true_neighbors  # noqa: E402
from graphlearn.export.spaces import as_numpy, normalize, student_vectors  # noqa: E402
from graphlearn.methods.coldbrew import ColdBrewConfig, run_coldbrew  # noqa: E402
from graphlearn.methods.coldbrew.retrieval import RetrievalHead  # noqa: E402
from pipelines import _common  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dataset")
    p.add_argument("dims", help="comma-separated retrieval widths, e.g. 256,1024")
    p.add_argument("overrides", nargs="?", default="{}", help="JSON keyword arguments of fit_retrieval")
    p.add_argument("--cache", default="/tmp/graphlearn-retrieval-sweep")
    p.add_argument("--log", default=None, help="append the lines to this file")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    ns = argparse.Namespace(
        dataset=args.dataset, data_root=None, split=0, seed=0, feature_norm="auto", features=None, threads=1
    )
    data = _common.load_data(ns)
    split = apply_protocol(data, "coldstart", 0, 0)
    iso = split.isolated_mask.nonzero().view(-1).numpy()
    truth, y = true_neighbors(data.edge_index.numpy(), iso), data.y.numpy()
    path = Path(args.cache) / f"{args.dataset}.pt"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        out = run_coldbrew(split, ColdBrewConfig(models=("GNN", "GNN+SE", "ColdBrew"), retrieval_dim=256), seed=0)
        torch.save(out["trained"]["ColdBrew"], path)
    student = torch.load(path, weights_only=False)  # our own cache file, written just above
    x = split.x
    raw = as_numpy(normalize(x))
    s = retrieval_scores(raw[iso], raw, truth, y[iso], y, k=10, exclude=iso)
    lines = [f"{args.dataset} raw: test recall {s.recall:.2f} precision {s.precision:.2f}"]
    print(lines[-1], flush=True)
    for dim in (int(d) for d in args.dims.split(",")):
        st = copy.deepcopy(student)
        st.retrieval, st.retrieval_dim = RetrievalHead(st.in_channels, dim - st.out_channels), dim
        kw = dict(tau=0.1, knn=5, batch_size=2048, max_steps=1000, seed=123) | json.loads(args.overrides)
        t0 = time.time()
        fit = st.fit_retrieval(x, split.y, split.edge_index, train_mask=split.train_mask, val_mask=split.val_mask, **kw)
        v = as_numpy(student_vectors(st, x, "retrieval"))
        s = retrieval_scores(v[iso], v, truth, y[iso], y, k=10, exclude=iso)
        h0 = fit["history"][0]
        lines.append(
            f"{args.dataset} dim={dim} {kw}: step-0 val {h0['val_recall']:.2f}/{h0['val_precision']:.2f}; best step "
            f"{fit['best_step']}, mix {fit['mix']}, val {fit['val_recall']:.2f}/{fit['val_precision']:.2f}; "
            f"test recall {s.recall:.2f} precision {s.precision:.2f} ({time.time() - t0:.0f} s)"
        )
        print(lines[-1], flush=True)
    if args.log:
        with open(args.log, "a") as fh:
            fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
