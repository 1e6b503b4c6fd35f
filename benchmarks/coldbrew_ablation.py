"""What each Cold Brew student component contributes on isolated nodes, against GLNN, on the cold-start protocol.

    python benchmarks/coldbrew_ablation.py --dataset cora --runs 10
    python benchmarks/coldbrew_ablation.py --dataset citeseer --runs 10 --threads 1

Per seed: one ``ColdStartSplit(seed)``, the teachers (GCN, GCN+SE), the MLP and GLNN trained once, then the
configured student and each variant of ``VARIANTS`` on the same teachers (``run_coldbrew(..., candidates=...)``, the
code path of ``graphlearn coldbrew --tune``). For each: test accuracy on isolated / tail / overall nodes, the mean
accuracy on the cold-start validation set (what ``--tune`` ranks by), and the paired per-seed difference with GLNN
on isolated test nodes. Writes ``benchmarks/results/coldbrew_ablation_<dataset>.{md,json}``.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import subprocess
import sys
import time

from _common import HERE, hardware, now, write_results

#: Student variants: ColdBrewConfig overrides of the configured student (each one change).
VARIANTS = {
    "feature head w=1 (MLP3 alone: GLNN's loss on the features)": {"feature_head": 1.0},
    "feature head w=0.5 (blend)": {"feature_head": 0.5},
    "cross-fitted MLP1 inputs (mlp1_folds=5)": {"mlp1_folds": 5},
    "SE teacher (student_teacher=GNN+SE)": {"student_teacher": "GNN+SE"},
    "KD weight 1": {"kd_weight": 1.0},
    "embedding query (the paper's)": {"query": "embedding"},
    "k=10": {"k": 10},
    "temperature 0.03": {"temperature": 0.03},
}
ROW_NORMALISED = ("cora", "citeseer")


def _stats(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.2f} ± {sd:.2f}"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="cora")
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--output", default=None)
    args = p.parse_args(argv)

    import torch  # noqa: PLC0415
    from torch_geometric.transforms import NormalizeFeatures  # noqa: PLC0415

    from graphlearn.data import load_dataset  # noqa: PLC0415
    from graphlearn.data.splits import ColdStartSplit  # noqa: PLC0415
    from graphlearn.methods.coldbrew import ColdBrewConfig, run_coldbrew  # noqa: PLC0415
    from graphlearn.methods.coldbrew.tune import candidate_name  # noqa: PLC0415

    torch.set_num_threads(args.threads)
    data = load_dataset(args.dataset)
    if args.dataset in ROW_NORMALISED:
        data = NormalizeFeatures()(copy.copy(data))
    names = ["configured student", *VARIANTS]
    settings = [{}, *VARIANTS.values()]
    config = ColdBrewConfig(models=("GNN", "GNN+SE", "MLP", "GLNN", "ColdBrew"))
    rows: dict[str, dict[str, list[float]]] = {n: {} for n in ["GLNN", "MLP", *names]}
    t0 = time.perf_counter()
    for seed in range(args.runs):
        split = ColdStartSplit(seed=seed)(data)
        out = run_coldbrew(split, config, seed=seed, candidates=settings)["models"]
        keys = {"GLNN": "GLNN", "MLP": "MLP", **{n: candidate_name(i) for i, n in enumerate(names)}}
        for row, key in keys.items():
            m = out[key]
            for group in ("isolated", "tail", "overall"):
                rows[row].setdefault(group, []).append(m["acc"][group])
            rows[row].setdefault("val_isolated", []).append(m["val_groups"]["isolated"])
        print(f"seed {seed}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - t0

    glnn = rows["GLNN"]["isolated"]
    kept = max(names, key=lambda n: statistics.fmean(rows[n]["val_isolated"]))
    lines = [
        "| student | isolated | tail | overall | cold-start val (mean) | isolated − GLNN, paired | ahead / behind |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    record = {}
    for row in ["GLNN", "MLP", *names]:
        r = rows[row]
        diff = [a - b for a, b in zip(r["isolated"], glnn)]
        record[row] = {**r, "paired_isolated_vs_glnn": diff}
        paired = "-" if row == "GLNN" else _stats(diff)
        ahead = "-" if row == "GLNN" else f"{sum(d > 0 for d in diff)} / {sum(d < 0 for d in diff)}"
        mark = " (kept by the cold-start validation set)" if row == kept else ""
        lines.append(
            f"| {row}{mark} | {_stats(r['isolated'])} | {_stats(r['tail'])} | {_stats(r['overall'])} | "
            f"{statistics.fmean(r['val_isolated']):.2f} | {paired} | {ahead} |"
        )
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    cmd = f"python benchmarks/coldbrew_ablation.py {' '.join(sys.argv[1:])}".strip()
    md = (
        f"# Cold Brew student ablation: {args.dataset}\n\n- command: `{cmd}`\n- commit: {commit}\n"
        f"- hardware: {hardware()}, {args.threads} torch thread(s)\n- date: {now()}\n- wall time: {seconds:.0f} s\n"
        f"- protocol: {args.runs} seeds of `ColdStartSplit(seed)`, the Cold Brew protocol; accuracy (%) mean ± sample "
        "std over seeds; every variant is the configured student with one change, trained on the same teachers; "
        "'cold-start val' is the mean accuracy on the cold-start validation set (validation nodes made isolated "
        "like the isolated test nodes), what `graphlearn coldbrew --tune` ranks candidates by; it never sees test "
        "labels\n\n" + "\n".join(lines) + "\n"
    )
    out = write_results(
        args.output or HERE / "results" / f"coldbrew_ablation_{args.dataset}",
        md,
        {"command": cmd, "commit": commit, "hardware": hardware(), "date": now(), "seconds": seconds, "rows": record},
    )
    print(md)
    print(f"wrote {out}.md", file=sys.stderr)


if __name__ == "__main__":
    main()
