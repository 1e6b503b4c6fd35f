"""Scale benchmark of the GIANT-style pretrainer: time and peak memory from 10k to 1M nodes (~10 edges per node).

Each size runs in its own subprocess so that the peak resident set size (``ru_maxrss``) belongs to that size alone
(tracemalloc does not see torch's allocations). Graphs come from ``graphlearn.data.synthetic.dc_sbm`` (power-law
degrees, 20 planted classes, 128 Gaussian features). A linear probe (logistic regression on 5k labelled nodes,
tested on 5k others) checks that the embeddings carry the planted structure, compared with the raw features.
``train s`` includes the beam step after every level (matcher-aware negatives and the recall@k check).

    python benchmarks/giant_scale.py --sizes 10000 100000 1000000 --threads 2 \
        --out benchmarks/results/giant_scale
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

# the pretraining config used at every size; epochs per level = max(1, ceil(MIN_STEPS * batch_size / N)), so a small
# graph still gets MIN_STEPS optimizer steps per level and a graph of >= 205k nodes gets one epoch per level
MIN_STEPS = 200
CONFIG = {
    "batch_size": 1024,
    "hidden_channels": 256,
    "out_channels": 128,
    "num_layers": 2,
    "branching": 16,
    "max_leaf_size": 32,
    "topk": 5,
    "max_candidates": 512,
    "dropout": 0.1,
    "progress": False,
}


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # Linux: KiB


def run_one(num_nodes: int, threads: int, seed: int) -> dict:
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    from sklearn.linear_model import LogisticRegression

    from graphlearn.data.synthetic import dc_sbm
    from graphlearn.methods.giant import pretrain

    t0 = time.perf_counter()
    data = dc_sbm(num_nodes, num_classes=20, avg_degree=10, num_features=128, seed=seed)
    t_gen = time.perf_counter() - t0
    rss_graph = _peak_rss_gb()
    epochs = max(1, math.ceil(MIN_STEPS * CONFIG["batch_size"] / num_nodes))
    t0 = time.perf_counter()
    result = pretrain(data, {**CONFIG, "epochs": epochs}, seed=seed)
    t_pre = time.perf_counter() - t0
    t0 = time.perf_counter()
    z = result.embed(data.x)
    t_embed = time.perf_counter() - t0

    rng = np.random.default_rng(seed)
    idx = rng.permutation(num_nodes)[:10000]
    tr, te = idx[:5000], idx[5000:]
    y = data.y.numpy()
    probe = {}
    for name, feats in (("raw", data.x.numpy()), ("giant", z.numpy())):
        clf = LogisticRegression(max_iter=500).fit(feats[tr], y[tr])
        probe[name] = round(100 * clf.score(feats[te], y[te]), 2)
    return {
        "nodes": num_nodes,
        "edges_undirected": int(data.edge_index.shape[1] // 2),
        "epochs_per_level": epochs,
        "tree": [result.tree.num_clusters(lv) for lv in range(result.tree.num_levels)],
        "seconds": {
            "generate": round(t_gen, 1),
            "tree": round(result.timings["tree"], 1),
            "train": round(result.timings["train"], 1),
            "pretrain_total": round(t_pre, 1),
            "embed": round(t_embed, 1),
        },
        "epoch_seconds": [round(h["seconds"], 1) for h in result.history],
        "pairs_per_node": [round(h["pairs_per_node"], 1) for h in result.history],
        "peak_rss_gb": round(_peak_rss_gb(), 2),
        "rss_after_graph_gb": round(rss_graph, 2),
        "level_recall_at_k": [round(m["recall_at_k"], 3) for m in result.level_metrics],
        "probe_acc": probe,
        "threads": threads,
    }


def _hardware() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        keep = ("Model name", "CPU(s):", "Thread(s) per core", "L3")
        return "; ".join(" ".join(line.split()) for line in out.splitlines() if line.startswith(keep))
    except (OSError, subprocess.CalledProcessError):
        return platform.processor()


def _memory_gib() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3


def _markdown(rows: list[dict], commands: list[str], notes: list[str]) -> str:
    lines = [
        "# GIANT pretrainer: scale benchmark",
        "",
        *[f"* command: `{c}`" for c in commands],
        f"* written: {dt.datetime.now().isoformat(timespec='minutes')}",
        f"* hardware: {_hardware()}; memory {_memory_gib():.0f} GiB",
        f"* config: `{json.dumps(CONFIG)}`, epochs per level `max(1, ceil({MIN_STEPS} * batch_size / N))`",
        "* graph: `dc_sbm(N, num_classes=20, avg_degree=10, num_features=128)`; times in seconds; "
        "peak RSS = `ru_maxrss` of the size's own process (graph generation included); the 1-min load average "
        "before/after a size counts this benchmark's own threads too",
        "",
    ]
    lines += [f"Note: {note}\n" for note in notes]
    lines += [
        "| nodes | undirected edges | tree (clusters/level) | epochs/level | tree s | train s | pretrain s "
        "| embed s | peak RSS GB | recall@k per level | probe acc raw / giant | threads | load avg before/after "
        "| date |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        s = r["seconds"]
        lines.append(
            f"| {r['nodes']:,} | {r['edges_undirected']:,} | {r['tree']} | {r['epochs_per_level']} | "
            f"{s['tree']} | {s['train']} | "
            f"{s['pretrain_total']} | {s['embed']} | {r['peak_rss_gb']} | {r['level_recall_at_k']} | "
            f"{r['probe_acc']['raw']} / {r['probe_acc']['giant']} | {r['threads']} | "
            f"{r['load_avg_1min'][0]} / {r['load_avg_1min'][1]} | {r['date']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    p.add_argument("--threads", type=int, default=1, help="torch threads (1 while others share the machine)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="write OUT.json and OUT.md")
    p.add_argument("--note", default="", help="free text for the report (e.g. CPU contention)")
    p.add_argument("--append", action="store_true", help="keep the other sizes already in OUT.json")
    p.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)  # child process: one size
    args = p.parse_args()
    if args.one is not None:
        print(json.dumps(run_one(args.one, args.threads, args.seed)))
        return
    rows, commands, notes = [], [], []
    if args.append and args.out and args.out.with_suffix(".json").exists():
        old = json.loads(args.out.with_suffix(".json").read_text())
        rows = [r for r in old["rows"] if r["nodes"] not in args.sizes]
        commands, notes = old.get("commands", []), old.get("notes", [])
    for n in args.sizes:
        cmd = [sys.executable, __file__, "--one", str(n), "--threads", str(args.threads), "--seed", str(args.seed)]
        load_before = os.getloadavg()[0]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"size {n} failed:\n{out.stderr[-3000:]}")
        row = json.loads(out.stdout.strip().splitlines()[-1])
        row["load_avg_1min"] = [round(load_before, 1), round(os.getloadavg()[0], 1)]  # before / after
        row["date"] = dt.datetime.now().isoformat(timespec="minutes")
        rows.append(row)
        print(json.dumps(row), flush=True)
    rows.sort(key=lambda r: r["nodes"])
    commands.append("python benchmarks/giant_scale.py " + " ".join(sys.argv[1:]))
    notes += [args.note] if args.note else []
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        report = {"commands": commands, "config": CONFIG, "min_steps": MIN_STEPS, "notes": notes, "rows": rows}
        args.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
        args.out.with_suffix(".md").write_text(_markdown(rows, commands, notes))
    print(_markdown(rows, commands, notes))


if __name__ == "__main__":
    main()
