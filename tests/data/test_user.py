"""load_user_graph and IdMapping: user files in, contract graph or a precise error out."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest
import torch

from graphlearn.data.user import IdMapping, load_user_graph
from graphlearn.data.validation import GraphValidationError

NODES = "id,label,f0,f1\nalice,cat,0.0,1.0\nbob,dog,1.0,0.0\ncarol,cat,0.5,0.5\ndave,dog,2.0,1.0\neve,,1.0,2.0\n"
EDGES = "src,dst\nalice,bob\nbob,carol\ncarol,alice\ndave,alice\n"


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture
def files(tmp_path):
    return write(tmp_path, "toy_edges.csv", EDGES), write(tmp_path, "toy_nodes.csv", NODES)


def id_pairs(data):
    ids = data.node_ids
    return {(ids[s], ids[d]) for s, d in data.edge_index.t().tolist()}


def test_csv_with_string_ids(files, assert_contract):
    data = load_user_graph(*files)
    assert_contract(data)
    assert data.name == "toy"
    assert data.node_ids == ["alice", "bob", "carol", "dave", "eve"]
    assert data.id_mapping.ids == data.node_ids
    assert data.label_names == ["cat", "dog"] and data.num_classes == 2
    assert data.y.tolist() == [0, 1, 0, 1, -1]
    assert data.x.tolist()[3] == [2.0, 1.0]
    assert id_pairs(data) == {
        ("alice", "bob"),
        ("bob", "alice"),
        ("bob", "carol"),
        ("carol", "bob"),
        ("carol", "alice"),
        ("alice", "carol"),
        ("dave", "alice"),
        ("alice", "dave"),
    }
    # eve is unlabelled: in no mask; every labelled node is in one
    masks = data.train_mask.long() + data.val_mask.long() + data.test_mask.long()
    assert masks.tolist() == [1, 1, 1, 1, 0]


def test_parquet_and_csv_give_the_same_graph(tmp_path, files):
    e_pq, n_pq = tmp_path / "toy_edges.parquet", tmp_path / "toy_nodes.pq"
    pd.read_csv(files[0]).to_parquet(e_pq)
    pd.read_csv(files[1]).to_parquet(n_pq)
    a, b = load_user_graph(*files), load_user_graph(e_pq, n_pq)
    for key in ("x", "y", "edge_index", "train_mask", "val_mask", "test_mask"):
        assert torch.equal(a[key], b[key]), key
    assert (a.node_ids, a.label_names, a.name) == (b.node_ids, b.label_names, b.name)


def test_tsv_and_gzip(tmp_path, files):
    pd.read_csv(files[0]).to_csv(tmp_path / "e.tsv", sep="\t", index=False)
    pd.read_csv(files[1]).to_csv(tmp_path / "n.csv.gz", index=False)
    b = load_user_graph(tmp_path / "e.tsv", tmp_path / "n.csv.gz")
    assert torch.equal(load_user_graph(*files).edge_index, b.edge_index)
    assert b.name == "e"


def test_integer_ids_keep_table_order_and_labels(tmp_path, assert_contract):
    nodes = write(tmp_path, "n.csv", "id,label,f\n100,2,1\n7,0,2\n42,2,3\n")
    edges = write(tmp_path, "e.csv", "src,dst\n7,100\n42,7\n")
    data = load_user_graph(edges, nodes)
    assert_contract(data)
    assert data.node_ids == [100, 7, 42] and isinstance(data.node_ids[0], int)
    assert data.y.tolist() == [2, 0, 2] and data.num_classes == 3
    assert id_pairs(data) == {(7, 100), (100, 7), (42, 7), (7, 42)}


def test_string_id_na_is_an_id_not_missing(tmp_path):
    nodes = write(tmp_path, "n.csv", "id,f\nNA,1\nnull,2\n")
    edges = write(tmp_path, "e.csv", "src,dst\nNA,null\n")
    data = load_user_graph(edges, nodes)
    assert data.node_ids == ["NA", "null"] and data.edge_index.size(1) == 2


def test_edge_ids_matched_across_types(tmp_path):
    # nodes have integer ids; the edge file has a non-numeric token, so pandas
    # reads its columns as strings: "1" must still find node 1.
    nodes = write(tmp_path, "n.csv", "id,f\n1,0\n2,0\n3,0\n")
    ok = write(tmp_path, "ok.csv", "src,dst\n1,2\n2,3\n")
    assert load_user_graph(ok, nodes).edge_index.size(1) == 4
    bad = write(tmp_path, "bad.csv", "src,dst\n1,2\n2,3\n3,x\n")
    with pytest.raises(GraphValidationError, match=r"bad\.csv: row 2, column 'dst': unknown node id 'x'"):
        load_user_graph(bad, nodes)


def test_ids_written_with_leading_zeros_stay_text(tmp_path):
    nodes = write(tmp_path, "n.csv", "id,f\n007,0\n7,0\n")
    data = load_user_graph(write(tmp_path, "e.csv", "src,dst\n007,7\n"), nodes)
    assert data.node_ids == ["007", "7"] and data.edge_index.tolist() == [[0, 1], [1, 0]]


def test_unknown_node_id_in_edge_file(tmp_path, files):
    edges = write(tmp_path, "e.csv", EDGES + "bob,zed\nzed,yan\n")
    with pytest.raises(GraphValidationError) as e:
        load_user_graph(edges, files[1])
    assert str(e.value) == (
        f"{edges}: row 5, column 'src': unknown node id 'zed' (not in the node table; 1 unknown id(s) in total)"
    )
    assert (e.value.row, e.value.value, e.value.source) == (5, "zed", str(edges))


def test_duplicate_node_ids(tmp_path, files):
    nodes = write(tmp_path, "n.csv", NODES + "bob,cat,0,0\n")
    with pytest.raises(
        GraphValidationError, match=r"n\.csv: duplicate node id 'bob' at rows 1 and 5; node ids must be unique"
    ):
        load_user_graph(files[0], nodes)


def test_missing_node_id(tmp_path, files):
    nodes = write(tmp_path, "n.csv", "id,f\na,1\n,2\n")
    with pytest.raises(GraphValidationError, match=r"n\.csv: row 1: missing node id in column 'id'"):
        load_user_graph(files[0], nodes)
    edges = write(tmp_path, "e.csv", "src,dst\nalice,bob\nbob,\n")
    with pytest.raises(GraphValidationError, match=r"e\.csv: row 1: missing node id in column 'dst'"):
        load_user_graph(edges, files[1])


def test_malformed_csv(tmp_path, files):
    edges = write(tmp_path, "e.csv", "src,dst\nalice,bob\nbob,carol,extra\n")
    with pytest.raises(GraphValidationError, match=r"e\.csv: malformed CSV: .*Expected 2 fields in line 3, saw 3"):
        load_user_graph(edges, files[1])


def test_not_utf8(tmp_path, files):
    bad = tmp_path / "n.csv"
    bad.write_bytes("id,f\nzoë,1\n".encode("latin-1"))
    with pytest.raises(GraphValidationError, match=r"n\.csv: not UTF-8 text"):
        load_user_graph(files[0], bad)


def test_unreadable_parquet(tmp_path, files):
    bad = write(tmp_path, "n.parquet", "this is not parquet")
    with pytest.raises(GraphValidationError, match=r"n\.parquet: cannot read Parquet file"):
        load_user_graph(files[0], bad)


def test_unknown_suffix(tmp_path, files):
    bad = write(tmp_path, "nodes.xlsx", "")
    with pytest.raises(
        GraphValidationError,
        match=r"nodes\.xlsx: unsupported file type '\.xlsx'; expected one of "
        r"\.csv, \.csv\.gz, \.tsv, \.tsv\.gz, \.parquet, \.pq",
    ):
        load_user_graph(files[0], bad)
    with pytest.raises(GraphValidationError, match=r"edges: unsupported file type '\(none\)'"):
        load_user_graph(tmp_path / "edges", files[1])


def test_missing_file(tmp_path, files):
    with pytest.raises(FileNotFoundError, match=r"nope\.csv: no such file"):
        load_user_graph(tmp_path / "nope.csv", files[1])


def test_missing_columns(tmp_path, files):
    with pytest.raises(
        GraphValidationError, match=r"no column 'source'; the columns are \['src', 'dst'\] \(pass src_col="
    ):
        load_user_graph(*files, src_col="source")
    with pytest.raises(GraphValidationError, match=r"no column 'node'.*\(pass id_col="):
        load_user_graph(*files, id_col="node")
    with pytest.raises(GraphValidationError, match=r"no column 'class'.*\(pass label_col="):
        load_user_graph(*files, label_col="class")
    with pytest.raises(GraphValidationError, match=r"no column 'f9'.*\(pass feature_cols="):
        load_user_graph(*files, feature_cols=["f0", "f9"])


def test_ragged_feature_rows(tmp_path, files):
    nodes = write(tmp_path, "n.csv", 'id,feat\nalice,"1 2 3"\nbob,"4 5"\n')
    with pytest.raises(
        GraphValidationError,
        match=r"n\.csv: row 1, column 'feat': feature vector has 2 value\(s\); "
        r"expected 3 \(the width of row 0\)",
    ):
        load_user_graph(files[0], nodes)
    pq = tmp_path / "n.parquet"
    pd.DataFrame({"id": ["alice", "bob", "carol"], "feat": [[1.0, 2.0], [3.0, 4.0], [5.0]]}).to_parquet(pq)
    with pytest.raises(GraphValidationError, match=r"row 2, column 'feat': feature vector has 1"):
        load_user_graph(files[0], pq)


def test_vector_feature_columns(tmp_path, files):
    text = 'id,label,feat\nalice,0,"[0.5, 1]"\nbob,1,2 3\ncarol,0,4;5\ndave,1,"6,7"\neve,0,8 9\n'
    csv = load_user_graph(files[0], write(tmp_path, "n.csv", text))
    assert csv.x.tolist() == [[0.5, 1], [2, 3], [4, 5], [6, 7], [8, 9]]
    pq = tmp_path / "n.parquet"
    pd.DataFrame(
        {
            "id": csv.node_ids,
            "label": [0, 1, 0, 1, 0],
            "feat": [np.array(r, dtype=np.float32) for r in csv.x.tolist()],
            "extra": [1, 2, 3, 4, 5],
        }
    ).to_parquet(pq)
    both = load_user_graph(files[0], pq)
    assert torch.equal(both.x[:, :2], csv.x) and both.x[:, 2].tolist() == [1, 2, 3, 4, 5]
    only = load_user_graph(files[0], pq, feature_cols="feat")
    assert torch.equal(only.x, csv.x)


def test_non_numeric_feature(tmp_path, files):
    nodes = write(tmp_path, "n.csv", 'id,feat\nalice,"1 2"\nbob,"3 abc"\n')
    with pytest.raises(GraphValidationError, match=r"n\.csv: row 1, column 'feat': cannot read '3 abc' as numbers"):
        load_user_graph(files[0], nodes)
    nodes = write(tmp_path, "m.csv", "id,f0,f1\nalice,1,2\nbob,3,abc\n")
    with pytest.raises(GraphValidationError, match=r"m\.csv: row 1, column 'f1': cannot read 'abc'"):
        load_user_graph(files[0], nodes)


@pytest.mark.parametrize(
    "cell, text",
    [
        ("", "value nan is missing or NaN"),
        ("inf", "value inf is infinite"),
        ("1e60", "value 1e\\+60 is too large for float32"),
    ],
)
def test_non_finite_feature(tmp_path, files, cell, text):
    nodes = write(tmp_path, "n.csv", f"id,f0,f1\nalice,1,2\nbob,3,{cell}\n")
    with pytest.raises(
        GraphValidationError, match=rf"n\.csv: row 1, feature column 'f1': {text}; features must be finite"
    ):
        load_user_graph(files[0], nodes)


def test_no_feature_columns(tmp_path, files):
    nodes = write(tmp_path, "n.csv", "id,label\nalice,0\n")
    with pytest.raises(GraphValidationError, match=r"no feature columns \(the columns are \['id', 'label'\]\)"):
        load_user_graph(files[0], nodes)


def test_empty_node_table(tmp_path, files):
    for name, text in (("header.csv", "id,f\n"), ("zero.csv", "")):
        with pytest.raises(GraphValidationError, match=rf"{name}: the node table is empty"):
            load_user_graph(files[0], write(tmp_path, name, text))


@pytest.mark.parametrize("text", ["src,dst\n", ""])
def test_empty_edge_file_gives_isolated_nodes(tmp_path, files, caplog, assert_contract, text):
    edges = write(tmp_path, "e.csv", text)
    with caplog.at_level(logging.WARNING, logger="graphlearn.data.user"):
        data = load_user_graph(edges, files[1])
    assert_contract(data)
    assert data.edge_index.shape == (2, 0) and data.num_nodes == 5
    assert "no edges; all 5 nodes are isolated" in caplog.text


def test_labels(tmp_path, files):
    ints = write(tmp_path, "n.csv", "id,label,f\nalice,1,0\nbob,,0\ncarol,-1,0\ndave,3,0\neve,1,0\n")
    data = load_user_graph(files[0], ints)
    assert data.y.tolist() == [1, -1, -1, 3, 1] and data.num_classes == 4
    frac = write(tmp_path, "m.csv", "id,label,f\nalice,1,0\nbob,1.5,0\n")
    with pytest.raises(GraphValidationError, match=r"m\.csv: row 1: label 1\.5 in column 'label' is not a class index"):
        load_user_graph(files[0], frac)
    neg = write(tmp_path, "k.csv", "id,label,f\nalice,1,0\nbob,-2,0\n")
    with pytest.raises(GraphValidationError, match=r"k\.csv: row 1: label -2 in column 'label'"):
        load_user_graph(files[0], neg)


@pytest.mark.parametrize(
    "text, label_col",
    [
        ("id,label,f\nalice,,0\nbob,,1\n", "label"),  # every label missing
        ("id,f\nalice,0\nbob,1\n", "label"),  # the default column absent
        ("id,label,f\nalice,0,0\nbob,1,1\n", None),
    ],
)
def test_unlabelled_graph(tmp_path, assert_contract, text, label_col):
    edges = write(tmp_path, "e.csv", "src,dst\nalice,bob\n")
    data = load_user_graph(edges, write(tmp_path, "n.csv", text), label_col=label_col)
    assert_contract(data)
    assert data.y.tolist() == [-1, -1] and data.num_classes == 0 and data.label_names == []
    assert not bool(data.train_mask.any() | data.val_mask.any() | data.test_mask.any())
    assert data.x.size(1) == (2 if label_col is None else 1)


def test_self_loop_policies(tmp_path, files, caplog, assert_contract):
    edges = write(tmp_path, "e.csv", EDGES + "eve,eve\n")
    with pytest.raises(GraphValidationError, match=r"e\.csv: row 4: self-loop 'eve' -> 'eve' \(self_loops='error'"):
        load_user_graph(edges, files[1], self_loops="error")
    with caplog.at_level(logging.INFO, logger="graphlearn.data.validation"):
        data = load_user_graph(edges, files[1])
    assert_contract(data)
    assert f"{edges}: removed 1 self-loop(s)" in caplog.text
    assert data.edge_index.size(1) == 8


def test_duplicate_edge_policies(tmp_path, files, caplog, assert_contract):
    edges = write(tmp_path, "e.csv", EDGES + "bob,alice\ncarol,alice\n")
    with pytest.raises(
        GraphValidationError,
        match=r"e\.csv: row 5: duplicate edge 'carol' -> 'alice', first seen at "
        r"row 2 \(duplicate_edges='error'",
    ) as e:
        load_user_graph(edges, files[1], duplicate_edges="error")
    assert e.value.row == 5
    with caplog.at_level(logging.INFO, logger="graphlearn.data.validation"):
        data = load_user_graph(edges, files[1])
    assert_contract(data)
    assert "removed 1 duplicate edge(s)" in caplog.text
    assert torch.equal(data.edge_index, load_user_graph(*files).edge_index)


def test_integer_ids_in_policy_messages(tmp_path):
    nodes = write(tmp_path, "n.csv", "id,f\n1,0\n2,0\n")
    loops = write(tmp_path, "e.csv", "src,dst\n1,2\n2,2\n")
    with pytest.raises(GraphValidationError, match=r"row 1: self-loop 2 -> 2 \("):
        load_user_graph(loops, nodes, self_loops="error")
    dups = write(tmp_path, "d.csv", "src,dst\n1,2\n1,2\n")
    with pytest.raises(GraphValidationError, match=r"row 1: duplicate edge 1 -> 2, first seen at row 0"):
        load_user_graph(dups, nodes, duplicate_edges="error")


def test_directed(files):
    data = load_user_graph(*files, directed=True)
    assert id_pairs(data) == {("alice", "bob"), ("bob", "carol"), ("carol", "alice"), ("dave", "alice")}


def test_split_is_seeded_and_stratified(tmp_path):
    n = 200
    rows = "\n".join(f"n{i},{'ab'[i % 2]},{i}" for i in range(n))
    nodes = write(tmp_path, "n.csv", "id,label,f\n" + rows + "\n")
    edges = write(tmp_path, "e.csv", "src,dst\nn0,n1\n")
    a = load_user_graph(edges, nodes, seed=1)
    assert torch.equal(a.train_mask, load_user_graph(edges, nodes, seed=1).train_mask)
    assert not torch.equal(a.train_mask, load_user_graph(edges, nodes, seed=2).train_mask)
    for c in (0, 1):
        assert int((a.train_mask & (a.y == c)).sum()) == 60
        assert int((a.val_mask & (a.y == c)).sum()) == 20
    b = load_user_graph(edges, nodes, split=(0.5, 0.25, 0.25))
    assert int(b.train_mask.sum()) == 100 and int(b.test_mask.sum()) == 50
    with pytest.raises(ValueError, match=r"split must be three fractions .* got \(0\.5, 0\.2, 0\.2\)"):
        load_user_graph(edges, nodes, split=(0.5, 0.2, 0.2))


def test_bad_policy_argument(files):
    with pytest.raises(ValueError, match="duplicate_edges must be one of"):
        load_user_graph(*files, duplicate_edges="keep")


# ---------------------------------------------------------------- IdMapping
def test_id_mapping_round_trip(tmp_path):
    mapping = IdMapping(["a", "b", "7", 7, "é"])
    path = mapping.save(tmp_path / "sub" / "ids.json")
    assert [p.name for p in path.parent.iterdir()] == ["ids.json"]  # no temporary left
    loaded = IdMapping.load(path)
    assert loaded == mapping and loaded.ids == ["a", "b", "7", 7, "é"]
    assert loaded.index_of(["7", 7, "a"]).tolist() == [2, 3, 0]
    assert IdMapping.from_json(mapping.to_json()) == mapping
    assert json.loads(path.read_text()) == {"ids": ["a", "b", "7", 7, "é"]}


def test_load_user_graph_mapping_round_trip(tmp_path, files):
    data = load_user_graph(*files)
    loaded = IdMapping.load(data.id_mapping.save(tmp_path / "ids.json"))
    assert loaded.ids == data.node_ids
    assert loaded.index_of(["eve", "alice"]).tolist() == [4, 0]


def test_id_mapping_errors(tmp_path):
    mapping = IdMapping([10, 20])
    with pytest.raises(GraphValidationError, match=r"f\.csv: row 1, column 'dst': unknown node id 30"):
        mapping.index_of(np.array([20, 30]), source="f.csv", column="dst")
    with pytest.raises(GraphValidationError, match="duplicate node id 'x' at rows 0 and 2"):
        IdMapping(["x", "y", "x"])
    bad = write(tmp_path, "ids.json", '{"names": []}')
    with pytest.raises(
        GraphValidationError,
        match=r"ids\.json: not an IdMapping JSON; expected \{\"ids\": \[\.\.\.\]\}, "
        r"got '\{\"names\": \[\]\}'",
    ):
        IdMapping.load(bad)
    with pytest.raises(GraphValidationError, match=r"ids\.json: not valid JSON"):
        IdMapping.load(write(tmp_path, "ids.json", "{"))


@pytest.mark.parametrize("stored", ["dense", "csr"])
def test_sparse_bag_of_words_column(tmp_path, monkeypatch, stored):
    # a wide bag of words written sparse (index:value per cell) instead of thousands of dense columns; above the
    # storage threshold it is a CSR tensor holding only the stored entries, never a dense matrix
    from graphlearn import sparse

    if stored == "csr":
        monkeypatch.setattr(sparse, "STORE_SPARSE_MIN_ELEMENTS", 16)
    nodes = write(
        tmp_path,
        "bow_nodes.csv",
        'id,label,words\nalice,0,"0:1 7:2"\nbob,1,"3:1"\ncarol,0,""\ndave,1,"7:1 7:1 2:0.5"\n',
    )
    edges = write(tmp_path, "bow_edges.csv", "src,dst\nalice,bob\nbob,carol\ncarol,dave\n")
    data = load_user_graph(edges, nodes, seed=0)
    assert data.x.shape == (4, 8) and data.x.dtype == torch.float32
    assert data.x.layout == (torch.sparse_csr if stored == "csr" else torch.strided)
    if stored == "csr":
        assert data.x.values().numel() == 5  # only the stored entries
    expected = torch.zeros(4, 8)
    expected[0, 0], expected[0, 7], expected[1, 3], expected[3, 7], expected[3, 2] = 1, 2, 1, 2, 0.5
    assert torch.equal(data.x.to_dense(), expected)  # an empty cell: no features; a repeated index adds up
    bad = write(
        tmp_path, "bad_nodes.csv", 'id,label,words\nalice,0,"0:1 x:2"\nbob,1,"3:1"\ncarol,0,"1:1"\ndave,1,"2:1"\n'
    )
    with pytest.raises(GraphValidationError, match=r"row 0, column 'words': 'x:2' is not 'index:value'"):
        load_user_graph(edges, bad)
    bad = write(tmp_path, "neg_nodes.csv", 'id,label,words\nalice,0,"0:1"\nbob,1,"-3:1"\ncarol,0,"1:1"\ndave,1,"2:1"\n')
    with pytest.raises(GraphValidationError, match=r"row 1, column 'words': '-3:1'"):
        load_user_graph(edges, bad)


def test_sparse_features_file(tmp_path, monkeypatch):
    import scipy.sparse as sp

    from graphlearn import sparse
    from graphlearn.data import load_dataset

    edges = write(tmp_path, "g_edges.csv", "src,dst\na,b\nb,c\nc,d\n")
    nodes = write(tmp_path, "g_nodes.csv", "id,label,age\na,0,1.5\nb,1,2\nc,0,3\nd,1,4\n")
    only_ids = write(tmp_path, "ids_nodes.csv", "id,label\na,0\nb,1\nc,0\nd,1\n")
    m = sp.random(4, 30, density=0.2, format="csr", random_state=0, dtype=np.float64)
    sp.save_npz(tmp_path / "words.npz", m)
    # the file alone: a node table with ids and labels only
    data = load_dataset(f"user:{edges}:{only_ids}:{tmp_path / 'words.npz'}")
    assert torch.equal(data.x, torch.from_numpy(m.toarray()).float())  # small: dense, as every small graph
    # after the table's columns
    data = load_user_graph(edges, nodes, features_path=tmp_path / "words.npz")
    assert data.x.shape == (4, 31) and torch.equal(data.x[:, 0], torch.tensor([1.5, 2, 3, 4]))
    monkeypatch.setattr(sparse, "STORE_SPARSE_MIN_ELEMENTS", 16)
    big = load_user_graph(edges, only_ids, features_path=tmp_path / "words.npz")
    assert big.x.layout == torch.sparse_csr and torch.equal(big.x.to_dense(), torch.from_numpy(m.toarray()).float())
    # bad files, each named
    sp.save_npz(tmp_path / "short.npz", m[:3])
    with pytest.raises(
        GraphValidationError, match=r"short\.npz: the feature matrix has 3 rows but the node table has 4"
    ):
        load_user_graph(edges, only_ids, features_path=tmp_path / "short.npz")
    np.savez(tmp_path / "arrays.npz", a=np.zeros(3))
    with pytest.raises(GraphValidationError, match=r"arrays\.npz: not a SciPy sparse matrix file"):
        load_user_graph(edges, only_ids, features_path=tmp_path / "arrays.npz")
    with pytest.raises(FileNotFoundError, match="nosuch.npz: no such file"):
        load_user_graph(edges, only_ids, features_path=tmp_path / "nosuch.npz")
    nan = m.copy()
    nan.data[2] = np.nan
    sp.save_npz(tmp_path / "nan.npz", nan)
    r, c = (int(v) for v in np.argwhere(np.isnan(nan.toarray()))[0])
    with pytest.raises(GraphValidationError, match=rf"nan\.npz: row {r}, feature column nan\.npz\[{c}\]: value nan"):
        load_user_graph(edges, only_ids, features_path=tmp_path / "nan.npz")
    with pytest.raises(ValueError, match=r"user graphs are given as"):
        load_dataset(f"user:{edges}:{only_ids}:")
