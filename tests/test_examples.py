"""Every quick-start under examples/ runs (on a small graph) and says what it promises."""

import runpy
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_quickstart_runs_end_to_end(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["quickstart.py", "--dataset", "synthetic:400", "--seeds", "2", "--epochs", "20"])
    runpy.run_path(str(EXAMPLES / "quickstart.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "Cold Brew on isolated nodes:" in out and "over 2 seeds" in out
    assert "classes of 5 new nodes: [" in out and "their embeddings (teacher space): (5," in out
    assert "ColdBrew" in out and "GLNN" in out  # the table
