"""Backward-compatible Cold Brew updates (BCT influence loss + PCT focal distillation); writes
benchmarks/results/update.{md,json}.

    python benchmarks/update.py                                     # cora,citeseer, 5 seeds
    python benchmarks/update.py --datasets cora --seeds 2 --set epochs=200

Per dataset and seed ``s``: the cold-start split of seed ``s`` (row-normalised features, as ``pipelines/_common.
load_data``); the OLD student is :func:`run_coldbrew` with seed ``s`` and its index ``student_vectors(old, x)``; the
NEW student is trained with seed ``s + 100`` on the same split, once ``independent`` and once ``compatible``
(:func:`graphlearn.methods.coldbrew.train_update`; its defaults: weights chosen on Cora validation, the focal
filter's confidence term on Cora and CiteSeer validation, MLP2 on its full epoch budget as PCT's fixed schedule).
Reported:
retrieval old/old, new/new and new-query/old-index (queries: isolated test nodes, index: every node, truth: the
removed edges; recall@10 and same-class precision@10), accuracy (overall, isolated) and the negative flip rate
(test nodes), as mean ± std over seeds and the paired per-seed difference compatible - independent.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time

import numpy as np
import torch
from _common import HERE, now, write_results

from graphlearn.config import parse_overrides
from graphlearn.data import load_dataset
from graphlearn.data.protocols import apply_protocol
from graphlearn.data.splits import group_masks
from graphlearn.evaluation.compat import classification_compatibility, retrieval_compatibility
from graphlearn.export.spaces import query_vectors, student_vectors
from graphlearn.methods.coldbrew import ColdBrewConfig, run_coldbrew, train_update
from graphlearn.methods.coldbrew.update import COMPAT_WEIGHT, FLIP_WEIGHT

MODES = ("independent", "compatible")
# (column, getter of a seed's record for one mode)
METRICS = {
    "old/old R@10": lambda r: r["retrieval"]["old/old"]["recall"],
    "new/new R@10": lambda r: r["retrieval"]["new/new"]["recall"],
    "new/old R@10": lambda r: r["retrieval"]["new/old"]["recall"],
    "old/old P@10": lambda r: r["retrieval"]["old/old"]["precision"],
    "new/new P@10": lambda r: r["retrieval"]["new/new"]["precision"],
    "new/old P@10": lambda r: r["retrieval"]["new/old"]["precision"],
    "old acc": lambda r: r["classification"]["overall"]["old_acc"],
    "new acc": lambda r: r["classification"]["overall"]["new_acc"],
    "old acc iso": lambda r: r["classification"]["isolated"]["old_acc"],
    "new acc iso": lambda r: r["classification"]["isolated"]["new_acc"],
    "NFR": lambda r: r["classification"]["overall"]["nfr"],
    "NFR iso": lambda r: r["classification"]["isolated"]["nfr"],
}


def load(name: str, root: str | None):
    from torch_geometric.transforms import NormalizeFeatures  # noqa: PLC0415

    return NormalizeFeatures()(copy.copy(load_dataset(name, root=root)))


def one_seed(raw, config: ColdBrewConfig, seed: int) -> dict:
    data = apply_protocol(raw, "coldstart", seed)
    x, y = data.x, data.y
    old = run_coldbrew(data, config, seed=seed)["trained"]["ColdBrew"]
    old_index = student_vectors(old, x)
    iso = (data.isolated_mask & data.test_mask).nonzero().view(-1)
    groups = group_masks(data)
    out = {"seed": seed, "new_seed": seed + 100, "queries": int(iso.numel())}
    for mode in MODES:
        t0 = time.perf_counter()
        res = train_update(data, old, old_index, config, seed + 100, mode=mode)
        new_index = student_vectors(res.student, x, space=res.index_space)
        out[mode] = {
            "index_space": res.index_space,
            "retrieval": retrieval_compatibility(
                query_vectors(old, x[iso]),
                old_index,
                query_vectors(res.student, x[iso]),
                new_index,
                edge_index=raw.edge_index,
                y=y,
                query_nodes=iso,
            ),
            "classification": classification_compatibility(res.old_pred, res.pred, y, groups),
            "seconds": round(time.perf_counter() - t0, 1),
        }
    return out


def summarise(records: list[dict]) -> dict:
    table = {}
    for col, get in METRICS.items():
        vals = {m: np.array([get(r[m]) for r in records]) for m in MODES}
        diff = vals["compatible"] - vals["independent"]
        table[col] = {
            **{m: {"mean": float(v.mean()), "std": float(v.std()), "values": v.tolist()} for m, v in vals.items()},
            "diff": {"mean": float(diff.mean()), "std": float(diff.std()), "values": diff.tolist()},
        }
    return table


def markdown(dataset: str, table: dict, seconds: float) -> str:
    lines = [
        f"## {dataset}\n",
        f"{seconds:.0f} s. Mean ± std over seeds (percent); diff = compatible − independent, paired per seed "
        "(per-seed values in brackets).\n",
        "| metric | independent | compatible | diff (per seed) |",
        "|---|---|---|---|",
    ]
    for col, cell in table.items():
        i, c, d = cell["independent"], cell["compatible"], cell["diff"]
        per = ", ".join(f"{v:+.1f}" for v in d["values"])
        lines.append(
            f"| {col} | {i['mean']:.2f} ± {i['std']:.2f} | {c['mean']:.2f} ± {c['std']:.2f} | "
            f"{d['mean']:+.2f} ± {d['std']:.2f} ({per}) |"
        )
    comp = table
    checks = [
        (
            "compatible new/old R@10 ≥ old/old R@10",
            comp["new/old R@10"]["compatible"]["mean"] >= comp["old/old R@10"]["compatible"]["mean"],
        ),
        (
            "compatible new/old P@10 ≥ old/old P@10",
            comp["new/old P@10"]["compatible"]["mean"] >= comp["old/old P@10"]["compatible"]["mean"],
        ),
        ("compatible NFR < independent NFR", comp["NFR"]["compatible"]["mean"] < comp["NFR"]["independent"]["mean"]),
    ]
    lines.append("")
    lines += [f"- {name}: **{'met' if ok else 'NOT met'}**" for name, ok in checks]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="cora,citeseer")
    p.add_argument("--seeds", type=int, default=5, help="old seeds 0..n-1; new seeds +100")
    p.add_argument("--data-root", default=None, help="default: $GRAPHLEARN_DATA")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="ColdBrewConfig override")
    p.add_argument("--output", default=str(HERE / "results" / "update"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    config = ColdBrewConfig.from_dict({"models": ["GNN", "GNN+SE", "ColdBrew"], **parse_overrides(args.set)})
    command = "python benchmarks/update.py " + " ".join(sys.argv[1:] if argv is None else argv)
    header = (
        "# Backward-compatible Cold Brew updates (BCT + PCT)\n\n"
        f"- command: `{command.strip()}`\n- machine: 2-core CPU, {args.threads} torch thread(s)\n- date: {now()}\n"
        f"- protocol: per seed s, the cold-start split of seed s; OLD = `run_coldbrew` seed s (its index: "
        f"`student_vectors(old, x)`, the coldbrew space); NEW = `train_update` seed s+100 on the same split, "
        f"`independent` (index: its coldbrew space) and `compatible` (compat_weight={COMPAT_WEIGHT:g}, "
        f"flip_weight={FLIP_WEIGHT:g}, the library defaults: weights chosen on Cora validation, the focal filter's "
        f"confidence term on Cora + CiteSeer validation, MLP2's full epoch budget as PCT's fixed schedule; "
        f"index: its mlp1 "
        f"space). Retrieval: queries = isolated test nodes (query_vectors), index = every node, truth = the "
        f"removed edges, exact cosine top-10; X/Y = X's queries against Y's index. Accuracy and NFR (old right, "
        f"new wrong, share of the group) on test nodes, overall and isolated. In the independent rows old/old is the "
        f"same number as in the compatible rows (the same old model).\n"
        f"- config: ColdBrewConfig defaults{' with ' + ', '.join(args.set) if args.set else ''} (both modes)\n\n"
    )
    sections, results = [], {}
    for dataset in args.datasets.split(","):
        raw = load(dataset, args.data_root)
        t0 = time.perf_counter()
        records = []
        for seed in range(args.seeds):
            records.append(one_seed(raw, config, seed))
            r = records[-1]
            print(
                dataset,
                seed,
                {m: (r[m]["retrieval"]["new/old"]["recall"], r[m]["classification"]["overall"]["nfr"]) for m in MODES},
                "old/old",
                r["independent"]["retrieval"]["old/old"]["recall"],
                flush=True,
            )
        table = summarise(records)
        seconds = time.perf_counter() - t0
        results[dataset] = {"seconds": round(seconds, 1), "table": table, "per_seed": records}
        sections.append(markdown(dataset, table, seconds))
        obj = {
            "command": command.strip(),
            "machine": "2-core CPU",
            "date": now(),
            "config": config.to_dict(),
            "compat_weight": COMPAT_WEIGHT,
            "flip_weight": FLIP_WEIGHT,
            "results": results,
        }
        out = write_results(args.output, header + "\n".join(sections), obj)
        print(sections[-1], flush=True)
    print(f"wrote {out}.md")


if __name__ == "__main__":
    main()
