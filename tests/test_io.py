"""graphlearn.io: the one home of atomic writes (files, figures, folders)."""

from __future__ import annotations

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from graphlearn.io import atomic_dir, atomic_write, atomic_write_text, save_figure


def _figure() -> Figure:
    fig = Figure(figsize=(2, 2))
    FigureCanvasAgg(fig)
    fig.add_subplot().plot([0, 1], [1, 0])
    return fig


def test_atomic_write_keeps_the_old_file_on_error(tmp_path):
    path = atomic_write_text(tmp_path / "sub" / "a.txt", "old")
    assert path.read_text() == "old"

    def half(fh):
        fh.write(b"half-written")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, half)
    assert path.read_text() == "old"
    assert [p.name for p in path.parent.iterdir()] == ["a.txt"]  # no temporary file left


@pytest.mark.parametrize(
    "name, magic", [("f.png", b"\x89PNG"), ("f.PDF", b"%PDF"), ("f.svg", b"<?xml"), ("f", b"\x89PNG")]
)
def test_save_figure_takes_the_format_from_the_suffix(tmp_path, name, magic):
    path = save_figure(_figure(), tmp_path / name, dpi=50)
    assert path == tmp_path / name and path.read_bytes().startswith(magic)
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_save_figure_explicit_format_and_failure(tmp_path):
    path = tmp_path / "plot.out"
    save_figure(_figure(), path, format="svg")
    before = path.read_bytes()
    assert before.startswith(b"<?xml")
    with pytest.raises(ValueError, match="not supported"):
        save_figure(_figure(), tmp_path / "plot.out", format="nope")
    with pytest.raises(ValueError, match="not supported"):
        save_figure(_figure(), tmp_path / "plot.nope")
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["plot.out"]


def test_atomic_dir_creates_replaces_and_cleans_up(tmp_path):
    final = tmp_path / "out"
    with atomic_dir(final) as tmp:
        assert tmp.parent == tmp_path and tmp != final and not final.exists()
        (tmp / "a").write_text("1")
    assert sorted(p.name for p in final.iterdir()) == ["a"]
    with pytest.raises(FileExistsError, match="overwrite=True"):
        with atomic_dir(final):
            pass
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_dir(final, overwrite=True) as tmp:
            (tmp / "b").write_text("2")
            raise RuntimeError("boom")
    assert sorted(p.name for p in final.iterdir()) == ["a"]  # the old folder survives a failed rewrite
    with atomic_dir(final, overwrite=True) as tmp:
        (tmp / "b").write_text("2")
    assert sorted(p.name for p in final.iterdir()) == ["b"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary or old folder left


def test_atomic_write_gives_plain_file_permissions(tmp_path):
    import os
    import stat

    from graphlearn.io import atomic_write_text

    mask = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "r.json", "{}")
    finally:
        os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # not mkstemp's 0600
