"""``graphlearn datasets``: the registry, with statistics and whether each dataset's files are present."""

from __future__ import annotations

import json

from graphlearn.data import list_datasets, resolve_root


def add_arguments(parser) -> None:
    parser.add_argument("--data-root", default=None, help="data root (default: $GRAPHLEARN_DATA, else ./data)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def format_datasets(infos) -> str:
    header = f"{'name':<18}{'present':<9}{'nodes':>10}{'edges':>12}{'features':>10}{'classes':>9}  source"
    lines = [header, "-" * len(header)]
    for info in infos:
        s = info.stats or {}
        cell = lambda k: f"{s[k]:,}" if isinstance(s.get(k), int) else "-"  # noqa: E731
        lines.append(
            f"{info.name:<18}{'yes' if info.present else 'no':<9}{cell('nodes'):>10}{cell('edges'):>12}"
            f"{cell('features'):>10}{cell('classes'):>9}  {info.source}"
        )
    return "\n".join(lines)


def run(args) -> list[dict]:
    root = resolve_root(args.data_root)
    infos = list_datasets(root)
    rows = [
        {"name": i.name, "present": i.present, "stats": i.stats, "source": i.source, "description": i.description}
        for i in infos
    ]
    if args.json:
        print(json.dumps({"root": str(root), "datasets": rows}, indent=2))
    else:
        print(f"data root: {root}")
        print(format_datasets(infos))
    return rows
