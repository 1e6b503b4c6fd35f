"""Cold Brew against its baselines on every listed dataset; writes benchmarks/results/coldbrew.{md,json}.

    python benchmarks/coldbrew.py                                   # cora,citeseer,chameleon,amazon-photo,coauthor-cs
    python benchmarks/coldbrew.py --datasets cora --runs 10 --threads 2

Each dataset is one `graphlearn coldbrew --dataset <d> --runs <n>` invocation (one MLflow parent run, a nested run
per seed): MLP, GCN, GraphSAGE, GCN+SE, GLNN, label propagation and the Cold Brew student, under the Cold Brew
protocol (overall / head / tail / isolated) and GLNN's inductive protocol (tran / ind). The results file is rewritten
after every dataset, and records for each the command, wall time, the table, the paper's isolated-node number and
whether the student beat the best baseline on isolated nodes in the same job.
"""

from __future__ import annotations

import argparse
import sys

from _common import HERE, hardware, now, run_cli, write_results

from graphlearn.evaluation import to_markdown

# Cold Brew, ICLR 2022, Table 3: the student's accuracy on isolated nodes.
PAPER_ISOLATED = {"cora": 69.62, "citeseer": 53.17, "chameleon": 62.28}
STUDENT = "ColdBrew"


def verdict(dataset: str, results: dict) -> str:
    res = results["results"]
    iso = {m: g["isolated"]["mean"] for m, g in res.items() if "isolated" in g}
    student = iso.get(STUDENT)
    if student is None:
        return "no isolated test nodes"
    best, best_value = max(((m, v) for m, v in iso.items() if m != STUDENT), key=lambda mv: mv[1])
    cell = res[STUDENT]["isolated"]
    line = (
        f"Isolated nodes: {STUDENT} {cell['mean']:.2f} ± {cell['std']:.2f}; best baseline {best} "
        f"{best_value:.2f} ± {res[best]['isolated']['std']:.2f} -> student "
        f"{'ABOVE' if student > best_value else 'NOT above'} the best baseline"
    )
    if dataset in PAPER_ISOLATED:
        paper = PAPER_ISOLATED[dataset]
        line += f"; paper (Table 3) {paper} -> {'at or above' if student >= paper else 'BELOW'} the paper"
    fcr = (results.get("extra") or {}).get("fcr")
    if fcr:
        line += f". FCR {fcr['mean']:.1f} ± {fcr['std']:.1f} %"
    return line + "."


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="cora,citeseer,chameleon,amazon-photo,coauthor-cs")
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--protocols", default="coldstart,inductive", help="passed to graphlearn coldbrew")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="ColdBrewConfig override")
    p.add_argument("--output", default=str(HERE / "results" / "coldbrew"))
    args = p.parse_args(argv)

    sections, records = [], []
    for dataset in args.datasets.split(","):
        cli = [
            "coldbrew",
            "--dataset",
            dataset,
            "--runs",
            str(args.runs),
            "--threads",
            str(args.threads),
            "--protocols",
            args.protocols,
            "--json",
            "--no-progress",
        ] + [a for kv in args.set for a in ("--set", kv)]
        results, seconds = run_cli(cli)
        line = verdict(dataset, results)
        records.append(
            {
                "dataset": dataset,
                "command": "graphlearn " + " ".join(cli),
                "seconds": round(seconds, 1),
                "verdict": line,
                "results": results,
            }
        )
        sections.append(
            f"## {dataset}\n\n`graphlearn {' '.join(cli)}` — {seconds:.0f} s, MLflow run "
            f"`{results['run_id']}`\n\n{to_markdown(results)}\n\n{line}\n"
        )
        print(sections[-1], flush=True)
        header = (
            f"# Cold Brew benchmark\n\n- command: `python benchmarks/coldbrew.py {' '.join(sys.argv[1:])}`\n"
            f"- hardware: {hardware()}, {args.threads} torch thread(s)\n- date: {now()}\n"
            f"- protocol: {args.runs} seeds; each seed draws its own Cold Brew split (docs/protocols.md) and "
            f"its own GLNN inductive split; every epoch choice on validation only; columns tran/ind are the "
            f"inductive protocol, the others the Cold Brew protocol\n\n"
        )
        out = write_results(
            args.output, header + "\n".join(sections), {"date": now(), "hardware": hardware(), "runs": records}
        )
    print(f"wrote {out}.md")


if __name__ == "__main__":
    main()
