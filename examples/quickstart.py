"""graphlearn in one screen: load a graph, train Cold Brew on the cold-start protocol, embed and predict brand-new
nodes from their features alone, save and reload the student, read the results JSON.

    python examples/quickstart.py                                  # Cora from $GRAPHLEARN_DATA (else ./data)
    python examples/quickstart.py --dataset synthetic:2000 --seeds 2 --epochs 50
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
from pathlib import Path

import torch
from torch_geometric.transforms import NormalizeFeatures

from graphlearn.data import load_dataset
from graphlearn.data.protocols import apply_protocol
from graphlearn.evaluation import format_table, make_results, summarize
from graphlearn.methods.coldbrew import ColdBrewConfig, load, run_coldbrew, save


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="cora", help="a registry name, synthetic:<n> or user:<edges>:<nodes>")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=500)
    args = p.parse_args(argv)
    torch.set_num_threads(1)  # one thread: the same numbers on every machine

    # 1. A graph through the real loaders (PyG / OGB / your own files), as a PyG Data object.
    graph = load_dataset(args.dataset)
    if args.dataset in ("cora", "citeseer"):  # bag-of-words counts, row-normalised as in the GCN paper
        graph = NormalizeFeatures()(copy.copy(graph))

    # 2. Cold Brew against its baselines, one cold-start split per seed (isolated test nodes lose their edges).
    per_model: dict[str, dict[str, list[float]]] = {}
    for seed in range(args.seeds):
        split = apply_protocol(graph, "coldstart", seed=seed)
        out = run_coldbrew(split, ColdBrewConfig(epochs=args.epochs), seed=seed)
        for model, m in out["models"].items():
            for group, acc in m["acc"].items():
                per_model.setdefault(model, {}).setdefault(group, []).append(acc)

    # 3. The results JSON every graphlearn command prints with --json (mean ± sample std over seeds).
    summaries = {m: {g: summarize(v) for g, v in groups.items()} for m, groups in per_model.items()}
    results = make_results(args.dataset, "coldstart", None, summaries)
    print(format_table(results))
    isolated = results["results"]["ColdBrew"]["isolated"]
    print(f"Cold Brew on isolated nodes: {isolated['mean']:.2f} ± {isolated['std']:.2f} over {args.seeds} seeds")

    # 4. Brand-new nodes: features only, no edges, no retraining.
    student = out["trained"]["ColdBrew"]
    new_nodes = split.x[split.isolated_mask][:5]
    print("classes of 5 new nodes:", student.predict(new_nodes).tolist())
    print("their embeddings (teacher space):", tuple(student.embed(new_nodes).shape))

    # 5. A versioned model file (loaded with weights_only=True) that predicts the same.
    with tempfile.TemporaryDirectory() as tmp:
        path = save(student, Path(tmp) / "student.pt", config=ColdBrewConfig(epochs=args.epochs).to_dict())
        again = load(path)
        assert torch.equal(again.predict(new_nodes), student.predict(new_nodes))
    print("results JSON keys:", sorted(json.loads(json.dumps(results))))
    return results


if __name__ == "__main__":
    main()
