"""The library never imports MLflow: only pipelines/ open runs (STYLE.md, issue 2)."""

import ast
from pathlib import Path

import graphlearn

PKG = Path(graphlearn.__file__).parent


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_only_tracking_imports_mlflow():
    offenders = [
        str(p.relative_to(PKG))
        for p in PKG.rglob("*.py")
        if "mlflow" in _imports(p) and p.relative_to(PKG).parts[0] != "tracking"
    ]
    assert offenders == [], f"library modules import mlflow: {offenders}"


def test_library_does_not_import_pipelines():
    offenders = [str(p.relative_to(PKG)) for p in PKG.rglob("*.py") if "pipelines" in _imports(p)]
    assert offenders == [], f"library modules import pipelines: {offenders}"


def test_checker_detects_an_mlflow_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nfrom mlflow import log_metric\n")
    assert "mlflow" in _imports(bad)
