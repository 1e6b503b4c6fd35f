"""The bad-input battery (benchmarks/bad_inputs.py) cannot rot: its classifier on made-up outcomes, and a handful of
its own cases run through its runner (forked processes, a few seconds in all; no fixture needed)."""

from __future__ import annotations

import pytest

from benchmarks import bad_inputs as battery


def case(**kw):
    return battery.Case(**{"id": "x", "cmd": "train", "argv": [], "names": ["--runs", "0"], **kw})


@pytest.mark.parametrize(
    "kw, rc, stderr, outcome",
    [
        ({}, 2, "usage: ...\ngraphlearn train: error: argument --runs: must be >= 1, got 0\n", "clear"),
        ({}, 2, "graphlearn train: error: bad value\n", "vague"),
        ({}, 2, "graphlearn: error: argument --runs: must be >= 1, got 0\n", "vague"),  # not named by the command
        ({}, 2, "graphlearn train: error: --runs 0 is\nbad\n", "vague"),  # not one line
        ({}, 1, "Traceback (most recent call last):\n  ...\nIndexError: list index out of range\n", "traceback"),
        ({}, 0, "", "silent"),
        ({"expect": "handled", "names": ["WARNING"]}, 0, "WARNING x: no edges\n", "handled"),
        ({"expect": "handled", "names": ["WARNING"]}, 0, "", "silent"),
        ({}, None, "", "other"),
        ({}, -9, "", "other"),
    ],
)
def test_classify(kw, rc, stderr, outcome):
    assert battery.classify(case(**kw), rc, stderr)[0] == outcome


def test_battery_covers_every_command_and_ids_are_unique():
    from pipelines.cli import COMMANDS

    cases = battery.cases()
    assert len(cases) >= 120 and len({c.id for c in cases}) == len(cases)
    assert set(COMMANDS) <= {c.cmd for c in cases}


@pytest.mark.parametrize("spawn", [False])
def test_battery_cases_run_clear(tmp_path, spawn):
    wanted = [
        "train--runs=0",
        "train-features-all-nan",
        "train-dataset-unknown",
        "coldbrew-set-epochs-string",
        "neighbors-k-zero",
        "adapt-user-nan-label",
    ]
    from pipelines.cli import build_parser

    build_parser()  # the pipelines imported once, as the battery does before forking
    by_id = {c.id: c for c in battery.cases()}
    battery._fixture.update(width=4, uri="models:/m@champion", export=str(tmp_path / "none"))
    try:
        rows = [battery.run_case(by_id[i], tmp_path, spawn) for i in wanted]
    finally:
        battery._fixture.clear()
    assert [r["outcome"] for r in rows] == ["clear"] * len(wanted), rows
    assert rows[0]["message"] == "graphlearn train: error: argument --runs: must be >= 1, got 0"
