"""GraphSAGE trained on sampled neighbourhoods (PyG's ``NeighborLoader``) against full batch: time, memory, accuracy.

For every dataset and mode one fresh process trains graphlearn's GraphSAGE (its defaults: 64 hidden, 2 layers,
dropout 0.5 on the input and hidden layer) with ``run_protocol``, one seed, early stopping on validation:

* ``full batch``: one step per epoch on the whole graph (graphlearn's default);
* ``sampled``: ``run_protocol(num_neighbors=..., batch_size=...)``, each step on the subgraph ``NeighborLoader``
  samples around ``--batch-size`` training seeds (``--num-neighbors`` per hop), a pass over the training nodes per
  epoch; patience counts optimiser steps as for every mini-batch model (at least 10 passes).

Both evaluate with one full-graph forward per epoch. Recorded per run: seconds, epochs (passes) run, seconds per
epoch, the test accuracy at the best validation epoch, and the process's peak resident set (``VmHWM``). Needs the
sampling backend (``make sampling``). Writes ``OUTPUT.md`` / ``OUTPUT.json``.

    python benchmarks/sampled_sage.py --datasets synthetic:100000,coauthor-cs
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import hardware, now, status_kb, write_results  # noqa: E402

MODES = ("full batch", "sampled")


def one(dataset: str, mode: str, args) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    from graphlearn.data import load_dataset
    from graphlearn.evaluation import run_protocol
    from graphlearn.models import build_model, default_hparams, split_hparams

    data = load_dataset(dataset, root=args.root)
    hp = default_hparams("sage")
    model_kw, _ = split_hparams(hp)
    model = build_model("sage", data.num_features, out_channels=data.num_classes, **model_kw)
    kw = {"num_neighbors": args.num_neighbors, "batch_size": args.batch_size} if mode == "sampled" else {}
    t0 = time.perf_counter()
    res = run_protocol(
        model, data, runs=1, epochs=args.epochs, patience=args.patience, lr=hp["lr"],
        weight_decay=hp["weight_decay"], seed=args.seed, progress=False, **kw,
    )  # fmt: skip
    seconds = time.perf_counter() - t0
    epochs = len(res.curves[0])
    return {
        "dataset": dataset,
        "mode": mode,
        "nodes": data.num_nodes,
        "edges": int(data.edge_index.size(1)),
        "train_nodes": int(data.train_mask.sum()),
        "seconds": seconds,
        "epochs": epochs,
        "seconds_per_epoch": seconds / epochs,
        "best_epoch": res.best_epochs[0],
        "best_val": res.best_val[0],
        "test": res.per_run[0].get("overall"),
        "peak_mb": status_kb("VmHWM") / 1024,
        **kw,
    }


def _markdown(record: dict) -> str:
    a = record["args"]
    lines = [
        "# GraphSAGE: sampled neighbourhoods (NeighborLoader) against full batch\n",
        f"- command: `{record['command']}`",
        f"- hardware: {record['hardware']}, {a['threads']} torch thread(s); date: {record['date']}",
        f"- sampled: `num_neighbors={a['num_neighbors']}`, `batch_size={a['batch_size']}` seeds per step; both: "
        f"graphlearn's SAGE defaults, at most {a['epochs']} epochs, patience {a['patience']}, seed {a['seed']}; one "
        "fresh process per row (peak = its VmHWM)\n",
        "| dataset | nodes | edges | mode | epochs run | s / epoch | total s | best epoch | test acc | peak MB |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in record["runs"]:
        if "failed" in r:
            lines.append(f"| {r['dataset']} | | | {r['mode']} | failed: {r['failed']} | | | | | |")
            continue
        lines.append(
            f"| {r['dataset']} | {r['nodes']:,} | {r['edges']:,} | {r['mode']} | {r['epochs']} | "
            f"{r['seconds_per_epoch']:.2f} | {r['seconds']:.0f} | {r['best_epoch']} | {r['test']:.2f} | "
            f"{r['peak_mb']:.0f} |"
        )
    by = {(r["dataset"], r["mode"]): r for r in record["runs"] if "failed" not in r}
    pairs = [
        (d, by[(d, "full batch")], by[(d, "sampled")]) for d, m in by if m == "sampled" and (d, "full batch") in by
    ]
    if pairs:
        lines += ["", "Sampled against full batch, per dataset (one seed each, so accuracy differences within a "
                  "point are noise):", ""]  # fmt: skip
        for d, full, samp in pairs:
            lines.append(
                f"- {d}: a sampled pass costs {samp['seconds_per_epoch'] / full['seconds_per_epoch']:.1f}x a "
                f"full-batch epoch, the run {samp['seconds'] / full['seconds']:.2f}x the time "
                f"({samp['epochs']} passes against {full['epochs']} epochs, best at {samp['best_epoch']} against "
                f"{full['best_epoch']}), test accuracy {samp['test'] - full['test']:+.2f} points, peak memory "
                f"{samp['peak_mb'] - full['peak_mb']:+.0f} MB."
            )
    if record.get("note"):
        lines += ["", record["note"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="synthetic:100000,coauthor-cs")
    p.add_argument("--root", default=os.environ.get("GRAPHLEARN_DATA") or str(HERE.parent.parent / "shared" / "data"))
    p.add_argument("--num-neighbors", default="10,10", help="neighbours sampled per hop, comma-separated")
    p.add_argument("--batch-size", type=int, default=1024, help="training seeds per sampled step")
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--patience", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--output", default=str(HERE / "results" / "sampled_sage"))
    p.add_argument("--note", default="")
    p.add_argument("--one", nargs=2, metavar=("DATASET", "MODE"), help=argparse.SUPPRESS)  # child process
    args = p.parse_args(argv)
    args.num_neighbors = [int(v) for v in str(args.num_neighbors).split(",") if v.strip()]
    if args.one:
        print("RESULT " + json.dumps(one(args.one[0], args.one[1], args)), flush=True)
        return 0
    command = "python benchmarks/sampled_sage.py " + " ".join(argv if argv is not None else sys.argv[1:])
    record = {"command": command.strip(), "hardware": hardware(), "date": now(), "note": args.note, "runs": []}
    record["args"] = {k: v for k, v in vars(args).items() if k not in ("one", "root")}
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    for dataset in [d for d in args.datasets.split(",") if d.strip()]:
        for mode in MODES:
            child = [sys.executable, __file__, "--one", dataset, mode, "--root", args.root, "--num-neighbors",
                     ",".join(map(str, args.num_neighbors)), "--batch-size", str(args.batch_size), "--epochs",
                     str(args.epochs), "--patience", str(args.patience), "--seed", str(args.seed), "--threads",
                     str(args.threads)]  # fmt: skip
            print(f"{dataset}: {mode}", flush=True)
            proc = subprocess.run(child, env=env, capture_output=True, text=True)
            lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
            if proc.returncode or not lines:
                tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                record["runs"].append({"dataset": dataset, "mode": mode, "failed": tail})
                print(proc.stderr[-2000:], file=sys.stderr)
            else:
                record["runs"].append(json.loads(lines[-1][len("RESULT ") :]))
            write_results(args.output, _markdown(record), record)
    print(_markdown(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
