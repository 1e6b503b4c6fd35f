"""Write a CSV of "brand-new" nodes for ``graphlearn neighbors``: the raw features of a few nodes of a dataset
(read with its loader, as a user's new products would arrive), with ids the graph does not have.

    .venv/bin/python examples/new_nodes.py --dataset cora --nodes 3 --out new_nodes.csv
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from graphlearn.data import load_dataset


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="cora")
    parser.add_argument("--data-root", default=None, help="default: $GRAPHLEARN_DATA, else ./data")
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="new_nodes.csv")
    args = parser.parse_args(argv)
    data = load_dataset(args.dataset, root=args.data_root)
    rows = np.random.default_rng(args.seed).choice(data.num_nodes, args.nodes, replace=False)
    x = data.x[rows].numpy()
    table = pd.DataFrame(x.astype(np.int64) if np.all(x == np.round(x)) else x)
    table.insert(0, "id", data.num_nodes + 1000 + np.arange(args.nodes))
    table.to_csv(args.out, index=False)
    print(f"wrote {args.nodes} new nodes (features of rows {rows.tolist()} of {args.dataset}) to {args.out}")


if __name__ == "__main__":
    main()
