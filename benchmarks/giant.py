"""Raw vs GIANT-pretrained features, same job: MLP and GraphSAGE (OGB protocol) and Cold Brew on isolated nodes.

    python benchmarks/giant.py                                # cora,citeseer,amazon-photo,coauthor-cs
    python benchmarks/giant.py --datasets cora --runs 10 --coldbrew-datasets cora

Per dataset, every step is a CLI invocation logged to MLflow:
1. `graphlearn pretrain --dataset <d>` with the Cora-tuned config below (one pretraining, seed 0). The cold-start
   isolated nodes' edges are held out of pretraining (the CLI default), so no neighbourhood the Cold Brew protocol
   hides is learnt; the standard-protocol rows therefore use features pretrained on ~90% of the graph's nodes' edges.
2. `graphlearn train --model mlp,sage --protocol standard --runs N` on raw features and on
   `--features pretrained:<run>` (the dataset's standard split; test nodes' labels never seen).
3. For `--coldbrew-datasets`: `graphlearn coldbrew --protocols coldstart --runs N` on raw and pretrained features
   (teacher, GLNN and student); both use the cold-start split held out of pretraining (`--split-seed 0`) in
   every run, so raw and pretrained see the same isolated nodes.
Writes benchmarks/results/giant.{md,json} after every step.
"""

from __future__ import annotations

import argparse
import json
import sys

from _common import HERE, hardware, now, run_cli, write_results
from giant_cora import CONFIG as GIANT_CORA_CONFIG

# The Cora-chosen pretraining settings (docs/giant.md), without the progress switch the CLI sets itself.
CONFIG = {k: v for k, v in GIANT_CORA_CONFIG.items() if k != "progress"}
COLDBREW_MODELS = ["GNN", "GNN+SE", "MLP", "GLNN", "ColdBrew"]


def cell(results: dict, model: str, group: str = "overall") -> str:
    c = results["results"].get(model, {}).get(group)
    return f"{c['mean']:.2f} ± {c['std']:.2f}" if c else "—"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="cora,citeseer,amazon-photo,coauthor-cs")
    p.add_argument("--coldbrew-datasets", default="cora,citeseer")
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--output", default=str(HERE / "results" / "giant"))
    args = p.parse_args(argv)
    common = ["--runs", str(args.runs), "--threads", str(args.threads), "--json", "--no-progress"]
    records: dict = {}
    rows: list[str] = []
    cb_rows: list[str] = []

    def write() -> None:
        md = [
            "# GIANT pretraining: raw vs pretrained features\n",
            f"- command: `python benchmarks/giant.py {' '.join(sys.argv[1:] if argv is None else argv)}`",
            f"- hardware: {hardware()}, {args.threads} torch thread(s)",
            f"- date: {now()}",
            f"- pretraining config (tuned on Cora only): `{json.dumps(CONFIG)}`; one pretraining per dataset "
            f"(seed 0), cold-start isolated nodes' edges held out",
            f"- {args.runs} seeds per model, OGB protocol (best validation epoch), mean ± std\n",
            "## MLP and GraphSAGE, standard split\n",
            "| dataset | MLP raw | MLP pretrained | GraphSAGE raw | GraphSAGE pretrained | gap closed | pretrain s |",
            "|---|---:|---:|---:|---:|---:|---:|",
            *rows,
            "",
        ]
        if cb_rows:
            md += [
                "## Cold Brew protocol, isolated nodes\n",
                "| dataset | features | GCN | GCN+SE | MLP | GLNN | ColdBrew | ColdBrew overall |",
                "|---|---|---:|---:|---:|---:|---:|---:|",
                *cb_rows,
                "",
            ]
        md += [
            "Gap closed = (MLP pretrained − MLP raw) / (GraphSAGE raw − MLP raw). MLflow run ids and the full "
            "results JSON of every step are in giant.json."
        ]
        write_results(
            args.output,
            "\n".join(md) + "\n",
            {"date": now(), "hardware": hardware(), "config": CONFIG, "datasets": records},
        )

    for dataset in args.datasets.split(","):
        rec = records[dataset] = {}
        summary, secs = run_cli(
            ["pretrain", "--dataset", dataset, "--json", "--no-progress", "--threads", str(args.threads)]
            + [a for k, v in CONFIG.items() for a in ("--set", f"{k}={json.dumps(v)}")]
        )
        rec["pretrain"] = {
            "run_id": summary["run_id"],
            "seconds": round(secs, 1),
            "tree": summary["tree"],
            "timings": summary["timings"],
        }
        feats = summary["features"]
        for name, extra in (("raw", []), ("pretrained", ["--features", feats])):
            res, secs = run_cli(
                ["train", "--dataset", dataset, "--model", "mlp,sage", "--protocol", "standard", *common, *extra]
            )
            rec[f"train_{name}"] = {"seconds": round(secs, 1), "results": res}
        raw, pre = rec["train_raw"]["results"], rec["train_pretrained"]["results"]
        m_raw, m_pre = (r["results"]["mlp"]["overall"]["mean"] for r in (raw, pre))
        s_raw = raw["results"]["sage"]["overall"]["mean"]
        closed = f"{100 * (m_pre - m_raw) / (s_raw - m_raw):.0f} %" if s_raw > m_raw else "n/a"
        rows.append(
            f"| {dataset} | {cell(raw, 'mlp')} | {cell(pre, 'mlp')} | {cell(raw, 'sage')} | "
            f"{cell(pre, 'sage')} | {closed} | {rec['pretrain']['seconds']:.0f} |"
        )
        write()
        if dataset in args.coldbrew_datasets.split(","):
            for name, extra in (("raw", []), ("pretrained", ["--features", feats])):
                res, secs = run_cli(
                    [
                        "coldbrew",
                        "--dataset",
                        dataset,
                        "--protocols",
                        "coldstart",
                        "--no-sage",
                        "--split-seed",
                        "0",
                        "--set",
                        f"models={json.dumps(COLDBREW_MODELS)}",
                        *common,
                        *extra,
                    ]
                )
                rec[f"coldbrew_{name}"] = {"seconds": round(secs, 1), "results": res}
                cb_rows.append(
                    f"| {dataset} | {name} | "
                    + " | ".join(cell(res, m, "isolated") for m in ("GCN", "GCN+SE", "MLP", "GLNN", "ColdBrew"))
                    + f" | {cell(res, 'ColdBrew')} |"
                )
                write()
        print(f"{dataset}: done", flush=True)
    print(f"wrote {args.output}.md")


if __name__ == "__main__":
    main()
