"""Baselines under the OGB protocol on the staged datasets; writes benchmarks/results/baselines.{md,json}.

    python benchmarks/baselines.py                                  # all datasets, all models, 10 runs
    python benchmarks/baselines.py --datasets cora --models gcn --runs 10 --protocols standard

Each (dataset, protocol) is one `graphlearn train` invocation (one MLflow parent run); the results file records the
command, hardware, date and the table, and compares GCN on Cora's public split with the published 81.5%.
"""

from __future__ import annotations

import argparse
import sys

from _common import HERE, hardware, now, run_cli, write_results

from graphlearn.evaluation import to_markdown

PUBLISHED = {("cora", "gcn"): (81.5, "Kipf & Welling, ICLR 2017, Table 2")}


def run_one(dataset: str, models: str, runs: int, protocol: str, threads: int) -> tuple[dict, float, list[str]]:
    argv = [
        "train",
        "--dataset",
        dataset,
        "--model",
        models,
        "--runs",
        str(runs),
        "--protocol",
        protocol,
        "--json",
        "--no-progress",
        "--threads",
        str(threads),
    ]
    results, seconds = run_cli(argv)
    return results, seconds, argv


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="cora,chameleon,citeseer,amazon-photo")
    p.add_argument("--models", default="mlp,gcn,sage,gat,sign")
    p.add_argument("--protocols", default="standard,coldstart")
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--output", default=str(HERE / "results" / "baselines"))
    args = p.parse_args()

    def write():
        """Rewrite the results files after every (dataset, protocol): a long job keeps what it finished."""
        header = (
            f"# Baselines under the OGB protocol\n\n"
            f"- command: `python benchmarks/baselines.py {' '.join(sys.argv[1:])}`\n- hardware: {hardware()}\n"
            f"- date: {now()}\n- protocol: {args.runs} seeds per model, full-batch, test read at the best-validation "
            f"epoch, mean ± sample std; `standard` = the dataset's graph and split, `coldstart` = Cold Brew's "
            f"head/tail/isolated split (docs/protocols.md)\n\n"
        )
        return write_results(
            args.output, header + "\n".join(sections), {"date": now(), "hardware": hardware(), "runs": records}
        )

    sections, records = [], []
    for dataset in args.datasets.split(","):
        for protocol in args.protocols.split(","):
            results, seconds, argv = run_one(dataset, args.models, args.runs, protocol, args.threads)
            records.append(
                {"command": "graphlearn " + " ".join(argv), "seconds": round(seconds, 1), "results": results}
            )
            sections.append(
                f"### {dataset} ({protocol})\n\n`graphlearn {' '.join(argv)}` — {seconds:.0f} s, "
                f"MLflow run `{results['run_id']}`\n\n{to_markdown(results)}\n"
            )
            for (d, m), (value, source) in PUBLISHED.items():
                if d == dataset and protocol == "standard" and m in results["results"]:
                    cell = results["results"][m]["overall"]
                    within = abs(cell["mean"] - value) <= cell["std"]
                    sections.append(
                        f"Published {m.upper()} on {d}: {value} ({source}); ours "
                        f"{cell['mean']:.2f} ± {cell['std']:.2f} -> "
                        f"{'within' if within else 'NOT within'} one std.\n"
                    )
            print(sections[-1], flush=True)
            out = write()

    print(f"wrote {out}.md")


if __name__ == "__main__":
    main()
