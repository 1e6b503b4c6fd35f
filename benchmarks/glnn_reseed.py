"""How far apart two draws of the same GLNN are on isolated nodes: the noise floor under issue 14's target.

    python benchmarks/glnn_reseed.py --datasets cora --runs 10 --draws 4

Per seed, the Cold Brew split (``apply_protocol(..., "coldstart", seed)``) and ``run_coldbrew``'s GCN teacher and
GLNN, exactly as ``graphlearn coldbrew`` trains them (features row-normalised for Cora and CiteSeer, as the job's
``--feature-norm auto``); then ``--draws`` more GLNNs with the same setting, the same teacher and the same nodes,
each from other initial weights and dropout draws (stage seeds ``GLNN/draw<j>``). Each draw is compared with the
job's GLNN as the target compares the student with the best baseline: paired per seed on isolated test nodes, mean ±
std, seeds ahead / behind. A model equal to GLNN in everything but its random draws scores those differences; a
student "ahead by one point on 7 of 10 seeds" has to clear them. Results: ``benchmarks/results/glnn_reseed.{md,json}``.
"""

from __future__ import annotations

import argparse
import statistics as st
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import hardware, now, write_results  # noqa: E402

ROW_NORMALISED = ("cora", "citeseer")  # pipelines/_common.py's --feature-norm auto


def one_seed(base, seed: int, draws: int) -> dict[str, float]:
    """Isolated-node test accuracy (%) of the job's GLNN and of each further draw, for one seed."""
    import torch

    from graphlearn.data.protocols import apply_protocol
    from graphlearn.data.splits import group_masks, node_degree
    from graphlearn.methods.coldbrew.glnn import train_glnn
    from graphlearn.methods.coldbrew.run import ColdBrewConfig, run_coldbrew
    from graphlearn.training import seed_everything, stage_seed

    config = ColdBrewConfig(models=("GNN", "GLNN"))
    d = apply_protocol(base, "coldstart", seed=seed)
    r = run_coldbrew(d, config, seed=seed)
    isolated = group_masks(d)["isolated"]
    fit = (node_degree(d.edge_index, d.num_nodes) > 0) & ~d.val_mask  # run_coldbrew's distilled nodes

    def accuracy(pred) -> float:  # one expression for every model: equal counts give equal numbers (ties stay ties)
        return 100.0 * float((pred[isolated] == d.y[isolated]).float().mean())

    out = {"GLNN": accuracy(r["models"]["GLNN"]["pred"])}
    for j in range(1, draws + 1):
        seed_everything(stage_seed(seed, f"GLNN/draw{j}"))
        model, _ = train_glnn(
            d.x,
            d.y,
            r["models"]["GNN"]["logits"],
            train_mask=d.train_mask,
            val_mask=d.val_mask,
            kd_mask=fit,
            num_classes=int(d.y.max()) + 1,
            hidden_channels=config.student_hidden,
            num_layers=config.student_layers,
            dropout=config.student_dropout,
            epochs=config.epochs,
            lr=config.student_lr,
            weight_decay=config.student_weight_decay,
            patience=config.patience,
            lam=config.glnn_lambda,
            temperature=config.glnn_temperature,
            batch_size=config.batch_size,
            full_batch_rows=config.full_batch_rows,
        )
        with torch.no_grad():
            pred = model(d.x).argmax(-1)
        out[f"draw{j}"] = accuracy(pred)
    return out


def to_markdown(record: dict) -> str:
    lines = [
        "# Two draws of the same GLNN on isolated nodes (the noise floor under issue 14's target)",
        "",
        f"- command: `{record['command']}`",
        f"- hardware: {record['hardware']}; date: {record['date']}; git: {record['git']}",
        "- per seed: the Cold Brew split, `run_coldbrew`'s GCN teacher and GLNN, then further GLNNs with the same "
        "setting, teacher and nodes from other random draws; paired = draw − the job's GLNN, isolated test nodes",
        "",
        "| dataset | seeds | the job's GLNN | draw | paired − GLNN | ahead / behind |",
        "|---|---:|---:|---|---:|---:|",
    ]
    for name, seeds in record["datasets"].items():
        base = [s["GLNN"] for s in seeds]
        for key in [k for k in seeds[0] if k != "GLNN"] if seeds else []:
            diffs = [s[key] - s["GLNN"] for s in seeds]
            sd = f" ± {st.stdev(diffs):.2f}" if len(diffs) > 1 else ""
            lines.append(
                f"| {name} | {len(seeds)} | {st.mean(base):.2f} | {key} | {st.mean(diffs):+.2f}{sd} | "
                f"{sum(x > 0 for x in diffs)} / {sum(x < 0 for x in diffs)} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="cora")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--draws", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", default=str(HERE / "results" / "glnn_reseed"))
    args = parser.parse_args(argv)
    if args.runs < 1 or args.draws < 1 or args.threads < 1:
        parser.error(f"--runs, --draws and --threads must be >= 1 (got {args.runs}, {args.draws}, {args.threads})")
    import torch

    from graphlearn import sparse
    from graphlearn.data import load_dataset

    torch.set_num_threads(args.threads)
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE).stdout
    record = {
        "command": "python benchmarks/glnn_reseed.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "hardware": f"{hardware()}, {args.threads} torch thread(s)",
        "date": now(),
        "git": git.strip(),
        "datasets": {},
    }
    t0 = time.perf_counter()
    for name in [s.strip() for s in args.datasets.split(",") if s.strip()]:
        base = load_dataset(name)
        if name in ROW_NORMALISED:
            base.x = sparse.row_sum_normalize(base.x)
        base.x = sparse.compact(base.x)
        record["datasets"][name] = []
        for seed in range(args.runs):
            record["datasets"][name].append(one_seed(base, seed, args.draws))
            print(name, seed, record["datasets"][name][-1], flush=True)
            record["wall_s"] = round(time.perf_counter() - t0, 1)
            write_results(args.output, to_markdown(record), record)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
