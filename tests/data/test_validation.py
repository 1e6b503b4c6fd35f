"""validate_graph: every bad input raises GraphValidationError naming where and what."""

from __future__ import annotations

import logging

import pytest
import torch
from torch_geometric.data import Data

from graphlearn.data.validation import GraphValidationError, validate_graph


def with_edges(data: Data, pairs) -> Data:
    data.edge_index = torch.cat([data.edge_index, torch.tensor(pairs).t()], dim=1)
    return data


def test_valid_graph_passes_and_is_a_copy(tiny_graph, assert_contract):
    before = tiny_graph.clone()
    out = validate_graph(tiny_graph)
    assert_contract(out)
    assert out is not tiny_graph
    assert torch.equal(out.edge_index, before.edge_index)
    out.x.add_(1)
    out.train_mask.fill_(False)
    assert torch.equal(tiny_graph.x, before.x)
    assert torch.equal(tiny_graph.train_mask, before.train_mask)


def test_cleans_types_and_symmetrises(tiny_graph, assert_contract):
    g = tiny_graph
    g.x = g.x.double()
    g.y = g.y.int().view(-1, 1)  # OGB layout [N, 1]
    g.edge_index = torch.tensor([[0, 2, 3], [1, 1, 4]], dtype=torch.int32)
    del g.num_classes
    out = validate_graph(g)
    assert_contract(out)
    assert out.x.dtype == torch.float32 and out.y.shape == (10,)
    assert out.edge_index.tolist() == [[0, 1, 1, 2, 3, 4], [1, 0, 2, 1, 4, 3]]
    assert out.num_classes == 3
    # the input is untouched
    assert g.edge_index.dtype == torch.int32 and g.edge_index.size(1) == 3
    assert g.x.dtype == torch.float64 and g.y.shape == (10, 1) and "num_classes" not in g


def test_undirected_false_keeps_directions(tiny_graph):
    tiny_graph.edge_index = torch.tensor([[3, 0, 0], [4, 1, 1]])
    out = validate_graph(tiny_graph, undirected=False)
    assert out.edge_index.tolist() == [[0, 3], [1, 4]]


def test_source_named_in_message(tiny_graph):
    tiny_graph.x[2, 0] = float("nan")
    with pytest.raises(GraphValidationError, match=r"^graph\.pt: ") as e:
        validate_graph(tiny_graph, source="graph.pt")
    assert e.value.source == "graph.pt" and e.value.row == 2


@pytest.mark.parametrize("layout", ["dense", "csr"])
@pytest.mark.parametrize("value, text", [(float("nan"), "nan"), (float("inf"), "inf"), (float("-inf"), "-inf")])
def test_non_finite_features(tiny_graph, value, text, layout):
    tiny_graph.x[3, 1] = value
    tiny_graph.x[7, 2] = value
    if layout == "csr":  # a sparse x is checked on its stored values, with the same message
        tiny_graph.x = tiny_graph.x.to_sparse_csr()
    with pytest.raises(GraphValidationError) as e:
        validate_graph(tiny_graph)
    msg = str(e.value)
    assert f"x[3, 1] = {text}" in msg and "node 3" in msg and "column 1" in msg
    assert "2 non-finite" in msg


def test_float64_overflowing_float32(tiny_graph):
    tiny_graph.x = tiny_graph.x.double()
    tiny_graph.x[4, 0] = 1e300
    with pytest.raises(GraphValidationError, match=r"x\[4, 0\] = 1e\+300 \(overflows float32\)"):
        validate_graph(tiny_graph)


def test_node_ids_used_in_messages(tiny_graph):
    tiny_graph.node_ids = list("abcdefghij")
    tiny_graph.x[3, 1] = float("nan")
    with pytest.raises(GraphValidationError, match=r"node 3 \(id 'd'\)"):
        validate_graph(tiny_graph)


@pytest.mark.parametrize(
    "x, text",
    [
        (None, "no node features 'x'"),
        (torch.ones(10), r"x has shape \(10,\); expected a 2-D"),
        (torch.ones(10, 4, dtype=torch.long), "x has dtype torch.int64; expected a floating"),
        ([[1.0]] * 10, "x is a list"),
    ],
)
def test_bad_x(tiny_graph, x, text):
    tiny_graph.x = x
    with pytest.raises(GraphValidationError, match=text):
        validate_graph(tiny_graph)


def test_empty_graph():
    data = Data(x=torch.empty(0, 4), edge_index=torch.empty(2, 0, dtype=torch.long))
    with pytest.raises(GraphValidationError, match=r"graph is empty \(x has shape \(0, 4\)\)"):
        validate_graph(data)


def test_num_nodes_disagreeing_with_x(tiny_graph):
    tiny_graph.num_nodes = 12
    with pytest.raises(GraphValidationError, match="num_nodes = 12 but x has 10 rows"):
        validate_graph(tiny_graph)


@pytest.mark.parametrize(
    "y, text",
    [
        (torch.zeros(9, dtype=torch.long), r"y has shape \(9,\); expected \[10\]"),
        (torch.zeros(10), "y has dtype torch.float32; expected integer"),
        (torch.tensor([0, 1, 2, 0, -3, 2, 0, 1, -1, 2]), r"y\[4\] = -3 at node 4"),
    ],
)
def test_bad_y(tiny_graph, y, text):
    tiny_graph.y = y
    with pytest.raises(GraphValidationError, match=text):
        validate_graph(tiny_graph)


def test_label_beyond_num_classes(tiny_graph):
    tiny_graph.y[6] = 5
    with pytest.raises(GraphValidationError, match=r"y\[6\] = 5 at node 6 but num_classes is 3"):
        validate_graph(tiny_graph)


def test_node_ids_wrong_length(tiny_graph):
    tiny_graph.node_ids = ["a", "b"]
    with pytest.raises(GraphValidationError, match="node_ids has 2 entries; expected 10"):
        validate_graph(tiny_graph)


@pytest.mark.parametrize(
    "bad, text",
    [
        (
            [[0, 10]],
            r"edge 22 \(0 -> 10\): edge_index\[1, 22\] = 10 is out of range; node ids "
            r"must be in \[0, 10\)",
        ),
        ([[-1, 3]], r"edge 22 \(-1 -> 3\): edge_index\[0, 22\] = -1 is out of range"),
    ],
)
def test_edge_ids_out_of_range(tiny_graph, bad, text):
    with pytest.raises(GraphValidationError, match=text) as e:
        validate_graph(with_edges(tiny_graph, bad))
    assert e.value.row == 22


@pytest.mark.parametrize(
    "ei, text",
    [
        (torch.zeros(3, 5, dtype=torch.long), r"edge_index has shape \(3, 5\); expected \[2, num_edges\]"),
        (torch.zeros(5, dtype=torch.long), r"edge_index has shape \(5,\)"),
        (torch.zeros(2, 5), "edge_index has dtype torch.float32; expected an integer"),
    ],
)
def test_bad_edge_index(tiny_graph, ei, text):
    tiny_graph.edge_index = ei
    with pytest.raises(GraphValidationError, match=text):
        validate_graph(tiny_graph)


def test_no_edges_is_fine(tiny_graph, assert_contract):
    tiny_graph.edge_index = torch.empty(2, 0, dtype=torch.long)
    assert_contract(validate_graph(tiny_graph))
    del tiny_graph.edge_index
    assert validate_graph(tiny_graph).edge_index.shape == (2, 0)


def test_self_loop_policies(tiny_graph, caplog, assert_contract):
    g = with_edges(tiny_graph, [[2, 2], [4, 4]])
    with pytest.raises(
        GraphValidationError,
        match=r"edge 22 is a self-loop on node 2 "
        r"\(self_loops='error'",
    ):
        validate_graph(g, self_loops="error")
    with caplog.at_level(logging.INFO, logger="graphlearn.data.validation"):
        out = validate_graph(g, source="g.pt")
    assert_contract(out)
    assert "g.pt: removed 2 self-loop(s)" in caplog.text
    assert out.edge_index.size(1) == 22


def test_duplicate_edge_policies(tiny_graph, caplog, assert_contract):
    first = tiny_graph.edge_index[:, 5].tolist()
    g = with_edges(tiny_graph, [first, first, [9, 9]])
    with pytest.raises(
        GraphValidationError,
        match=rf"edge 22 \({first[0]} -> {first[1]}\) repeats edge 5 "
        r"\(duplicate_edges='error'",
    ):
        validate_graph(g, duplicate_edges="error")
    with caplog.at_level(logging.INFO, logger="graphlearn.data.validation"):
        out = validate_graph(g)
    assert_contract(out)
    assert "removed 2 duplicate edge(s)" in caplog.text
    assert "removed 1 self-loop(s)" in caplog.text
    assert torch.equal(out.edge_index, tiny_graph.edge_index[:, :22])


def test_reverse_edge_is_not_a_duplicate(tiny_graph):
    tiny_graph.edge_index = torch.tensor([[0, 1], [1, 0]])
    out = validate_graph(tiny_graph, duplicate_edges="error", self_loops="error")
    assert out.edge_index.tolist() == [[0, 1], [1, 0]]


def test_bad_policy(tiny_graph):
    with pytest.raises(ValueError, match=r"self_loops must be one of \('remove', 'error'\); got 'keep'"):
        validate_graph(tiny_graph, self_loops="keep")
    with pytest.raises(ValueError, match="duplicate_edges must be one of"):
        validate_graph(tiny_graph, duplicate_edges=True)


def test_not_a_data():
    with pytest.raises(TypeError, match="expects a torch_geometric.data.Data; got dict"):
        validate_graph({"x": torch.ones(2, 2)})


def test_mask_not_bool(tiny_graph):
    tiny_graph.val_mask = tiny_graph.val_mask.long()
    with pytest.raises(GraphValidationError, match="val_mask has dtype torch.int64; expected torch.bool"):
        validate_graph(tiny_graph)


def test_mask_wrong_length(tiny_graph):
    tiny_graph.test_mask = torch.zeros(11, dtype=torch.bool)
    with pytest.raises(GraphValidationError, match=r"test_mask has shape \(11,\); expected \[10\]"):
        validate_graph(tiny_graph)


def test_masks_overlap(tiny_graph):
    tiny_graph.test_mask[6] = True  # node 6 is a validation node
    with pytest.raises(
        GraphValidationError, match="node 6 is in val_mask and test_mask; the masks must be disjoint"
    ) as e:
        validate_graph(tiny_graph)
    assert e.value.row == 6


def test_train_node_without_label(tiny_graph):
    tiny_graph.y[3] = -1
    tiny_graph.node_ids = [f"n{i}" for i in range(10)]
    with pytest.raises(GraphValidationError, match=r"train node 3 \(id 'n3'\) has no label \(y = -1\)") as e:
        validate_graph(tiny_graph)
    assert e.value.row == 3


def test_no_y_means_unlabelled(tiny_graph):
    del tiny_graph.y, tiny_graph.train_mask, tiny_graph.num_classes
    out = validate_graph(tiny_graph)
    assert bool((out.y == -1).all()) and out.num_classes == 0


def test_edge_attr_follows_the_edges():
    data = Data(
        x=torch.ones(3, 1),
        edge_index=torch.tensor([[0, 1, 1, 2], [1, 2, 2, 2]]),
        edge_attr=torch.tensor([[1.0], [2.0], [4.0], [9.0]]),
    )
    out = validate_graph(data)
    assert out.edge_index.tolist() == [[0, 1, 1, 2], [1, 0, 2, 1]]
    assert out.edge_attr.view(-1).tolist() == [1.0, 1.0, 3.0, 3.0]
    data.edge_attr = torch.ones(2, 1)
    with pytest.raises(GraphValidationError, match="edge_attr has 2 rows but edge_index has 4 edges"):
        validate_graph(data)
