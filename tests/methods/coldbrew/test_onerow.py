"""The one-row NumPy forward pass (graphlearn/methods/coldbrew/onerow.py) against the torch batch path."""

from __future__ import annotations

import pytest
import torch

from graphlearn.methods.coldbrew import ColdBrewStudent
from graphlearn.methods.coldbrew.onerow import OneRow

from ..test_coldbrew import fitted_student, make_community_graph


def _rows_vs_batch(student: ColdBrewStudent, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    batch = student.logits(x)  # more than one row: the torch path
    rows = torch.cat([student.logits(x[i : i + 1]) for i in range(x.size(0))])
    return rows, batch


@pytest.mark.parametrize(
    "query,metric",
    [("embedding", "l2"), ("embedding", "ip"), ("embedding", "cos"), ("features", "cos"), ("features", "l2")],
)
def test_one_row_matches_batch_path(query, metric):
    data = make_community_graph()
    student = fitted_student(data, query=query, metric=metric)
    assert student._one_row() is not None  # the fast path is taken for this student
    x = torch.randn(25, data.x.size(1))  # continuous features: no exact ties among the candidates
    rows, batch = _rows_vs_batch(student, x)
    assert torch.allclose(rows, batch, atol=1e-5), (rows - batch).abs().max()
    assert torch.equal(rows.argmax(-1), batch.argmax(-1))


def test_one_row_gathers_stored_entries_of_wide_sparse_rows():
    # 200 columns, about 5 % non-zero: the CSR rule of sparse.model_input, so both paths use the stored entries only
    gen = torch.Generator().manual_seed(1)
    data = make_community_graph(n=80, feats=200)
    data.x = torch.relu(data.x - 1.6) * (torch.rand(data.x.shape, generator=gen) < 0.5)
    student = fitted_student(data, query="features", metric="cos")
    x = torch.relu(torch.randn(20, 200, generator=gen) - 1.6) * torch.rand(20, 200, generator=gen)
    assert 0 < int((x != 0).sum(1).max()) <= 20
    rows, batch = _rows_vs_batch(student, x)
    assert torch.allclose(rows, batch, atol=1e-5), (rows - batch).abs().max()


def test_one_row_uses_the_students_ann_index():
    data = make_community_graph()
    student = fitted_student(data, query="embedding", metric="cos", ann_min_candidates=1)
    assert student._search_space()[3] is not None
    rows, batch = _rows_vs_batch(student, torch.randn(10, data.x.size(1)))
    assert torch.allclose(rows, batch, atol=1e-5)


def test_one_row_follows_parameter_and_teacher_changes():
    data = make_community_graph()
    student = fitted_student(data, query="embedding", metric="ip")
    x = torch.randn(1, data.x.size(1))
    before = student.logits(x)
    with torch.no_grad():
        student.mlp2.lins[-1].bias.add_(1.0)  # in place, as an optimiser step does
    after = student.logits(x)
    assert torch.allclose(after, before + 1.0, atol=1e-5)
    student.set_teacher(student.teacher_embeddings * 2, torch.ones(data.num_nodes, dtype=torch.bool))
    assert torch.allclose(student.logits(x), student.logits(torch.cat([x, x]))[:1], atol=1e-5)


def test_one_row_falls_back_for_students_it_does_not_cover():
    data = make_community_graph()
    student = fitted_student(data).double()
    assert not OneRow(student).eligible and student._one_row() is None
    x = torch.randn(3, data.x.size(1), dtype=torch.float64)
    rows, batch = _rows_vs_batch(student, x)
    assert torch.allclose(rows, batch)


def test_one_row_rejects_non_finite_features():
    data = make_community_graph()
    student = fitted_student(data)
    x = torch.randn(1, data.x.size(1))
    x[0, 2] = float("nan")
    with pytest.raises(ValueError, match=r"NaN/inf in 1 row\(s\), first row 0"):
        student.logits(x)


def test_a_student_file_with_inconsistent_teacher_buffers_is_refused():
    data = make_community_graph()
    student = fitted_student(data, query="features", metric="cos")
    state = student.state_dict()
    fresh = ColdBrewStudent(**student.hparams)
    fresh.load_state_dict(state)  # consistent: loads
    bad = dict(state, teacher_embeddings=state["teacher_embeddings"][:5])  # fewer rows than the candidates' ids
    with pytest.raises(ValueError, match=r"candidate_index has node ids in \[0, \d+\] but teacher_embeddings has 5"):
        ColdBrewStudent(**student.hparams).load_state_dict(bad)
    bad = dict(state, candidate_features=state["candidate_features"][:, :3])
    with pytest.raises(ValueError, match="candidate_features has shape"):
        ColdBrewStudent(**student.hparams).load_state_dict(bad)
