"""graphlearn's GCN and GraphSAGE against the same models written directly with PyG, side by side (issue 13).

    python benchmarks/pyg_side_by_side.py                       # cora, citeseer, amazon-photo, coauthor-cs
    python benchmarks/pyg_side_by_side.py --datasets cora --seeds 2 --epochs 50

For every dataset and model, in one process on one torch thread, alternating the two sides:

* **PyG** is the model as PyG's examples write it (``examples/gcn.py``: ``GCNConv(cached=True)``, dropout on the
  input and hidden layer; GraphSAGE: two mean-aggregation ``SAGEConv``), on a dense ``x``, with graphlearn's default
  sizes (GCN 16 hidden, SAGE 64), dropout 0.5 and Adam (lr 0.01, weight decay 5e-4);
* **graphlearn** is ``graphlearn.models.build_model`` with the same defaults, on the input ``run_protocol`` gives it
  (``graphlearn.sparse.model_input``: CSR for bag-of-words features).

``epoch ms`` is the median time of one training step (forward, loss on the training nodes, backward, Adam step) over
``--epochs`` steps after 5 warm-up steps; ``ratio`` = graphlearn / PyG (below 1: graphlearn is faster). Accuracy is
the test accuracy at the best validation epoch of a 200-epoch full-batch run (evaluation every epoch), mean ± std over
``--seeds`` seeds, for both sides: the two must agree within noise. Features are row-normalised for Cora and CiteSeer
as ``graphlearn train`` does by default. Results: ``benchmarks/results/pyg_side_by_side.{md,json}``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import hardware, now, write_results  # noqa: E402

DATASETS = ("cora", "citeseer", "amazon-photo", "coauthor-cs")
ROW_NORMALISED = ("cora", "citeseer")  # pipelines/_common.py's --feature-norm auto


def pyg_model(name: str, in_channels: int, hidden: int, out: int, dropout: float):
    """The model as PyG's examples write it."""
    import torch
    import torch.nn.functional as F
    from torch_geometric.nn import GCNConv, SAGEConv

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            if name == "gcn":
                self.conv1, self.conv2 = GCNConv(in_channels, hidden, cached=True), GCNConv(hidden, out, cached=True)
            else:
                self.conv1, self.conv2 = SAGEConv(in_channels, hidden), SAGEConv(hidden, out)

        def forward(self, x, edge_index):
            x = F.dropout(x, p=dropout, training=self.training)
            x = self.conv1(x, edge_index).relu()
            x = F.dropout(x, p=dropout, training=self.training)
            return self.conv2(x, edge_index)

    return Net()


def graphlearn_model(name: str, in_channels: int, out: int):
    from graphlearn.models import build_model, default_hparams, split_hparams

    kwargs, _ = split_hparams(default_hparams(name))
    return build_model(name, in_channels, out_channels=out, **kwargs)


def _step_fn(model, x, data):
    import torch
    import torch.nn.functional as F

    opt = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
    y, train = data.y, data.train_mask

    def step():
        model.train()
        opt.zero_grad()
        loss = F.cross_entropy(model(x, data.edge_index)[train], y[train])
        loss.backward()
        opt.step()

    return step


def time_epochs(model, x, data, epochs: int, warmup: int = 5) -> float:
    """Median seconds of one training step."""
    step = _step_fn(model, x, data)
    for _ in range(warmup):
        step()
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def accuracy_run(model, x, data, epochs: int = 200) -> float:
    """Test accuracy (%) at the best validation epoch of a full-batch run."""
    import torch

    step = _step_fn(model, x, data)
    best_val, test_at_best = -1.0, 0.0
    for _ in range(epochs):
        step()
        model.eval()
        with torch.no_grad():
            pred = model(x, data.edge_index).argmax(-1)
        val = float((pred[data.val_mask] == data.y[data.val_mask]).float().mean())
        if val > best_val:
            best_val = val
            test_at_best = float((pred[data.test_mask] == data.y[data.test_mask]).float().mean())
    return 100 * test_at_best


def measure(dataset: str, name: str, seeds: int, epochs: int, seed_start: int = 0) -> dict:
    from graphlearn import sparse
    from graphlearn.data import load_dataset
    from graphlearn.training import seed_everything

    data = load_dataset(dataset)
    if dataset in ROW_NORMALISED:
        data.x = sparse.row_sum_normalize(data.x)
    dense = data.x.to_dense() if sparse.is_sparse(data.x) else data.x
    gl_input = sparse.model_input(data.x)
    hidden = 16 if name == "gcn" else 64
    make = {
        "pyg": lambda: pyg_model(name, data.num_features, hidden, data.num_classes, 0.5),
        "graphlearn": lambda: graphlearn_model(name, data.num_features, data.num_classes),
    }
    inputs = {"pyg": dense, "graphlearn": gl_input}
    row = {"dataset": dataset, "model": name, "nodes": data.num_nodes, "features": data.num_features}
    times: dict[str, list[float]] = {"pyg": [], "graphlearn": []}
    for rep in range(2):  # alternate the sides twice: a load change hits both
        for side in ("pyg", "graphlearn") if rep == 0 else ("graphlearn", "pyg"):
            seed_everything(rep)
            times[side].append(time_epochs(make[side](), inputs[side], data, epochs))
    for side in ("pyg", "graphlearn"):
        accs = []
        for s in range(seed_start, seed_start + seeds):
            seed_everything(s)
            accs.append(accuracy_run(make[side](), inputs[side], data))
        row[f"{side}_ms"] = 1000 * min(times[side])
        row[f"{side}_acc"] = accs
    row["ratio"] = row["graphlearn_ms"] / row["pyg_ms"]
    row["acc_diff"] = statistics.mean(row["graphlearn_acc"]) - statistics.mean(row["pyg_acc"]) if seeds else None
    return row


def _cell(values: list[float]) -> str:
    if not values:
        return "not run"
    mean = statistics.mean(values)
    std = statistics.pstdev(values) if len(values) > 1 else 0.0
    return f"{mean:.2f} ± {std:.2f}"


def to_markdown(rows: list[dict], meta: dict) -> str:
    lines = [
        "# graphlearn vs PyG as in its examples: GCN and GraphSAGE, full batch",
        "",
        f"- command: `{meta['command']}`",
        f"- hardware: {meta['hardware']}, {meta['threads']} torch thread(s)",
        f"- date: {meta['date']}",
        f"- git: {meta['git']}",
        "- epoch ms: the faster of two alternating measurements, each the median of one training step (forward, "
        f"loss, backward, Adam) over {meta['epochs']} steps; ratio = graphlearn / PyG (below 1: graphlearn faster)",
        (
            f"- accuracy: test at the best validation epoch of 200 epochs, mean ± std over {meta['seeds']} seeds"
            + (
                f" (seeds {meta['seed_start']}..{meta['seed_start'] + meta['seeds'] - 1})"
                if meta.get("seed_start")
                else ""
            )
            if meta["seeds"]
            else "- accuracy: not run (`--seeds 0`: timing only)"
        ),
        "",
        "| dataset | model | PyG ms | graphlearn ms | ratio | PyG acc | graphlearn acc | diff |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['model']} | {r['pyg_ms']:.2f} | {r['graphlearn_ms']:.2f} | {r['ratio']:.2f} | "
            f"{_cell(r['pyg_acc'])} | {_cell(r['graphlearn_acc'])} | "
            + ("– |" if r["acc_diff"] is None else f"{r['acc_diff']:+.2f} |")
        )
    worst = max(r["ratio"] for r in rows) if rows else float("nan")
    lines += [
        "",
        f"Target (issue 13): every ratio at most 1.0. Worst ratio: {worst:.2f} ({'met' if worst <= 1 else 'not met'}).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    import subprocess

    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--models", default="gcn,sage")
    parser.add_argument("--seeds", type=int, default=3, help="accuracy runs per side (0: timing only)")
    parser.add_argument("--epochs", type=int, default=50, help="timed training steps per measurement")
    parser.add_argument(
        "--seed-start",
        type=int,
        default=0,
        help="first accuracy seed (seeds SEED_START .. SEED_START+SEEDS-1): two processes can share a long row's seeds",
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(HERE / "results" / "pyg_side_by_side"))
    args = parser.parse_args(argv)
    if args.seeds < 0 or args.epochs < 1 or args.seed_start < 0:
        parser.error(
            f"--seeds and --seed-start must be >= 0 and --epochs >= 1 "
            f"(got {args.seeds}, {args.seed_start} and {args.epochs})"
        )
    torch.set_num_threads(args.threads)
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE).stdout
    meta = {
        "command": "python benchmarks/pyg_side_by_side.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "hardware": hardware(),
        "threads": args.threads,
        "date": now(),
        "git": git.strip(),
        "epochs": args.epochs,
        "seeds": args.seeds,
        "seed_start": args.seed_start,
    }
    rows = []
    for dataset in [d.strip() for d in args.datasets.split(",") if d.strip()]:
        for name in [m.strip() for m in args.models.split(",") if m.strip()]:
            rows.append(measure(dataset, name, args.seeds, args.epochs, args.seed_start))
            r = rows[-1]
            print(
                f"{dataset:13s} {name:5s} pyg {r['pyg_ms']:8.2f} ms  graphlearn {r['graphlearn_ms']:8.2f} ms  "
                f"ratio {r['ratio']:.2f}  acc {_cell(r['pyg_acc'])} vs {_cell(r['graphlearn_acc'])}",
                flush=True,
            )
            write_results(args.out, to_markdown(rows, meta), {"meta": meta, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
