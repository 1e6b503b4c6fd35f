"""GRDA: the graph discriminator's loss, domain-subgraph sampling, a tiny end-to-end run and every bad input."""

from __future__ import annotations

import argparse
import contextlib
import math
import types
import warnings

import numpy as np
import pytest
import torch

from graphlearn.data.grda import (
    DomainDataset,
    GRDAInputError,
    _embedding_table,
    check_adjacency,
    load_grda,
    load_user_domains,
    read_edge_list,
)
from graphlearn.methods.grda import (
    AdaptConfig,
    build_method,
    fit,
    graph_reconstruction_loss,
    sample_domain_subgraph,
    spectral_embedding,
    subgraph_pairs,
)


# ------------------------------------------------------------------------------------------------ fixtures
def path_adjacency(n: int) -> np.ndarray:
    a = np.zeros((n, n), dtype=np.float32)
    idx = np.arange(n - 1)
    a[idx, idx + 1] = a[idx + 1, idx] = 1
    return a


def write_user_csv(
    tmp_path,
    *,
    domains=("a", "b", "c", "d"),
    per=12,
    edges="source,target\na,b\nb,c\nc,d\n",
    regression=False,
    rows=None,
):
    rng = np.random.default_rng(0)
    lines = ["domain,f0,f1,label"]
    for k, d in enumerate(domains):
        for _ in range(per):
            x = rng.normal(size=2) + k
            y = float(x.sum()) if regression else int(x[0] > k)
            lines.append(f"{d},{x[0]:.4f},{x[1]:.4f},{y}")
    lines += rows or []
    data, graph = tmp_path / "samples.csv", tmp_path / "edges.csv"
    data.write_text("\n".join(lines) + "\n")
    graph.write_text(edges)
    return data, graph


def tiny_dataset(task="classification") -> DomainDataset:
    rng = np.random.default_rng(0)
    d, per = 4, 10
    x = rng.normal(size=(d * per, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) if task == "classification" else x[:, :2].astype(np.float32)
    return DomainDataset(
        name="tiny",
        x=x,
        y=y,
        domain=np.repeat(np.arange(d), per),
        adjacency=path_adjacency(d),
        domain_ids=list("abcd"),
        source=np.array([True, True, False, False]),
        task=task,
    )


# ---------------------------------------------------------------------------------- reconstruction loss
def test_reconstruction_loss_matches_hand_computation():
    # domains 0,1,2; edges 0-2 and 1-2, non-edge 0-1; codes d0=(1,0), d1=(0,1), d2=(1,1)
    a = torch.tensor([[0, 0, 1], [0, 0, 1], [1, 1, 0]], dtype=torch.float32)
    d = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    u, v = (torch.as_tensor(t) for t in subgraph_pairs(np.arange(3)))
    # logits: d0.d1 = 0 (label 0), d0.d2 = 1 (label 1), d1.d2 = 1 (label 1)
    non_edge = math.log(2.0)  # -log(1 - sigmoid(0))
    edge = math.log(1.0 + math.exp(-1.0))  # -log(sigmoid(1))
    balanced = 0.5 * (edge + non_edge)
    plain = (2 * edge + non_edge) / 3
    assert graph_reconstruction_loss(d, a, u, v).item() == pytest.approx(balanced, abs=1e-6)
    assert graph_reconstruction_loss(d, a, u, v, balanced=False).item() == pytest.approx(plain, abs=1e-6)
    # [D, B, k] codes: slot b of one domain is paired with slot b of the other; two identical slots, same loss
    assert graph_reconstruction_loss(d[:, None].repeat(1, 2, 1), a, u, v).item() == pytest.approx(balanced, abs=1e-6)


def test_reconstruction_loss_is_minimised_when_codes_reproduce_the_graph():
    a = torch.from_numpy(path_adjacency(3))  # 0-1-2, non-edge 0-2
    u, v = (torch.as_tensor(t) for t in subgraph_pairs(np.arange(3)))
    base = torch.tensor([[1.0, 2.0], [1.0, 0.0], [1.0, -2.0]])  # products: +1 (edge), +1 (edge), -3 (non-edge)
    losses = [graph_reconstruction_loss(s * base, a, u, v).item() for s in (0.0, 1.0, 2.0, 4.0)]
    assert losses == sorted(losses, reverse=True) and losses[0] == pytest.approx(math.log(2))
    assert losses[-1] < 1e-5
    # codes that reproduce the complement of A are the worst
    wrong = 4.0 * torch.tensor([[1.0, -2.0], [-1.0, 0.0], [1.0, 2.0]])
    assert graph_reconstruction_loss(wrong, a, u, v).item() > 5.0
    # and gradient descent from random codes drives the loss towards 0
    torch.manual_seed(0)
    d = torch.randn(3, 2, requires_grad=True)
    opt = torch.optim.Adam([d], lr=0.1)
    for _ in range(200):
        loss = graph_reconstruction_loss(d, a, u, v)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05


# ------------------------------------------------------------------------------------------------ sampling
def test_subgraph_sampling_is_valid_and_covers_edges_and_non_edges():
    rng = np.random.default_rng(0)
    a = (rng.random((12, 12)) < 0.3).astype(np.float32)
    a = np.triu(a, 1)
    a = a + a.T
    seen = set()
    for _ in range(400):
        nodes = sample_domain_subgraph(a, 5, rng)
        assert len(nodes) == 5 and len(set(nodes.tolist())) == 5
        assert nodes.min() >= 0 and nodes.max() < 12
        u, v = subgraph_pairs(nodes)
        assert len(u) == 10 and np.all(u != v)
        seen.update(zip(np.minimum(u, v).tolist(), np.maximum(u, v).tolist()))
    all_pairs = {(i, j) for i in range(12) for j in range(i + 1, 12)}
    assert seen == all_pairs  # every edge and every non-edge is eventually sampled
    assert sample_domain_subgraph(a, 50, rng).size == 12  # capped at the number of domains


def test_random_walk_half_of_sampler_prefers_edges():
    rng = np.random.default_rng(1)
    a = path_adjacency(30)
    adjacent = []
    for _ in range(200):
        nodes = sample_domain_subgraph(a, 6, rng)
        adjacent.append(np.mean([a[i, j] for i, j in zip(nodes[:-1], nodes[1:])]))
    # chains give consecutive neighbours; uniform subsets almost never do on a 30-node path
    assert np.mean(np.asarray(adjacent) > 0.5) > 0.3


def test_spectral_embedding_orders_a_path_and_is_deterministic():
    emb = spectral_embedding(path_adjacency(7), 2)
    assert emb.shape == (7, 2) and emb.dtype == np.float32
    first = emb[:, 0]
    assert np.all(np.diff(first) > 0) or np.all(np.diff(first) < 0)
    np.testing.assert_array_equal(emb, spectral_embedding(path_adjacency(7), 2))


# ------------------------------------------------------------------------------------------------ training
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_fit_runs_every_method(task):
    ds = tiny_dataset(task)
    cfg = AdaptConfig(hidden=8, epochs=2, batch_size=4, sample_v=3, eval_every=1, embedding="spectral")
    seen = []
    for name in ("grda", "dann", "source-only"):
        res = fit(name, ds, cfg, seed=0, on_epoch=lambda s, e, m: seen.append((s, e, m)))
        assert len(res.per_domain) == 4 and np.isfinite(res.per_domain).all()
        assert res.overall == pytest.approx(np.mean(res.per_domain[2:]))
    assert [(s, e) for s, e, _ in seen] == [(n, e) for n in ("grda", "dann", "source-only") for e in (1, 2)]
    assert "loss_pred" in seen[0][2] and "overall" in seen[0][2]
    sphere = AdaptConfig(hidden=8, epochs=1, batch_size=4, sample_v=3, disc_radius=1.5, d_steps=2)
    assert np.isfinite(fit("grda", ds, sphere, seed=1).per_domain).all()


def test_unknown_method_and_config_key_are_named():
    with pytest.raises(ValueError, match="'cdan'.*dann"):
        build_method("cdan", tiny_dataset(), AdaptConfig())
    with pytest.raises(ValueError, match="'lamda'"):
        AdaptConfig.from_dict({"lamda": 1.0})


class FakeTracking:
    """Stands in for graphlearn.tracking (MLflow is the tracking tests' business; a sqlite store costs ~20 s)."""

    def __init__(self):
        self.calls, self.curves = [], []

    def configure(self, uri=None, experiment="graphlearn"):
        self.calls.append(("configure", uri, experiment))

    @contextlib.contextmanager
    def parent_run(self, name, config, tags=None):
        self.calls.append(("parent", name))
        yield types.SimpleNamespace(info=types.SimpleNamespace(run_id="parent-run-id"))

    @contextlib.contextmanager
    def child_run(self, name, params=None):
        self.calls.append(("child", name))
        yield None

    def log_curve(self, curve, prefix="", first_step=1):
        self.curves.append((first_step, list(curve)))

    def __getattr__(self, name):  # log_metrics, log_json, log_text, log_figure
        return lambda *a, **k: self.calls.append((name, a[1] if len(a) > 1 else None))


def test_pipeline_end_to_end_results_shape(tmp_path, monkeypatch):
    from pipelines import adapt

    fake = FakeTracking()
    monkeypatch.setattr(adapt, "tracking", fake)
    data, graph = write_user_csv(tmp_path)
    parser = argparse.ArgumentParser()
    adapt.add_arguments(parser)
    args = parser.parse_args(
        [
            "--dataset",
            str(data),
            "--domain-graph",
            str(graph),
            "--source-domains",
            "a,b",
            "--seeds",
            "2",
            "--epochs",
            "3",
            "--hidden",
            "8",
            "--batch-size",
            "4",
            "--sample-v",
            "3",
            "--json",
            "--no-progress",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    res = adapt.run(args)
    assert set(res) >= {"dataset", "protocol", "metric", "run_id", "results"}
    assert res["protocol"] == "grda" and res["metric"] == "acc" and res["run_id"] == "parent-run-id"
    assert set(res["results"]) == {"grda", "dann", "source-only"}
    for groups in res["results"].values():
        assert set(groups) == {"overall", "source", "domain:a", "domain:b", "domain:c", "domain:d"}
        for cell in groups.values():
            assert set(cell) == {"mean", "std", "values"} and len(cell["values"]) == 2
            # the sample standard deviation, as the results JSON promises (it was np.std, ddof 0)
            assert cell["std"] == pytest.approx(np.std(cell["values"], ddof=1))
    assert (tmp_path / "out" / "results.json").exists() and (tmp_path / "out" / "domain_graph.png").exists()
    # one nested run per model and seed, per-epoch curves from step 1, the domain-graph figure
    assert [c[1] for c in fake.calls if c[0] == "child"] == [
        f"{m}/seed={s}" for m in ("grda", "dann", "source-only") for s in (0, 1)
    ]
    assert len(fake.curves) == 6 and all(first == 1 and len(c) == 3 for first, c in fake.curves)
    assert ("log_figure", "plots/domain_graph.png") in fake.calls
    assert [c for c in fake.calls if c[0] == "log_file"] == [("log_file", "model")] * 6  # every seed's model
    # the printed table: overall/source per model, then one row per domain with its role and each model's mean
    text = adapt._table(res)
    lines = text.splitlines()
    start = lines.index("per domain (acc, mean over seeds)")
    assert lines[start + 1].split() == ["domain", "role", "grda", "dann", "source-only"]
    rows = {ln.split()[0]: ln.split()[1:] for ln in lines[start + 3 :]}
    assert {d: r[0] for d, r in rows.items()} == {"a": "source", "b": "source", "c": "target", "d": "target"}
    assert float(rows["c"][1]) == pytest.approx(res["results"]["grda"]["domain:c"]["mean"], abs=0.01)


# ---------------------------------------------------------------------------------------------- bad input
def test_domain_absent_from_graph_is_named(tmp_path):
    data, graph = write_user_csv(tmp_path, rows=["zz,0.1,0.2,1"])
    with pytest.raises(GRDAInputError, match="'zz'"):
        load_user_domains(data, graph, ["a"])
    with pytest.raises(GRDAInputError, match="'q'"):
        load_user_domains(*write_user_csv(tmp_path), ["q"])


def test_target_domain_without_samples_is_named(tmp_path):
    data, graph = write_user_csv(tmp_path, edges="source,target\na,b\nb,c\nc,d\nd,e\n")
    with pytest.raises(GRDAInputError, match="target domain 'e' has no samples"):
        load_user_domains(data, graph, ["a", "b"])


def test_non_symmetric_graph_is_named(tmp_path):
    data, graph = write_user_csv(tmp_path, edges="source,target,weight\na,b,1\nb,a,0.5\nb,c,1\nc,d,1\n")
    with pytest.raises(GRDAInputError, match=r"not symmetric: A\['a', 'b'\] = 1 but A\['b', 'a'\] = 0.5"):
        load_user_domains(data, graph, ["a"])
    with pytest.raises(GRDAInputError, match=r"A\['x', 'y'\] = 1 but A\['y', 'x'\] = 0"):
        check_adjacency(np.array([[0, 1], [0, 0]]), ["x", "y"])


def test_disconnected_graph_is_allowed_with_a_warning(tmp_path):
    data, graph = write_user_csv(tmp_path, edges="source,target\na,b\nc,d\n")
    with pytest.warns(UserWarning, match=r"disconnected \(2 components"):
        ds = load_user_domains(data, graph, ["a", "c"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert fit("grda", ds, AdaptConfig(hidden=8, epochs=1, batch_size=4, sample_v=4), seed=0).overall >= 0


def test_mismatched_feature_widths_are_named(tmp_path):
    data, graph = write_user_csv(tmp_path, rows=["a,0.5,,1"])
    with pytest.raises(GRDAInputError, match=r"row 48 has 1 features, expected 2 \(column 'f1' is empty\)"):
        load_user_domains(data, graph, ["a"])
    npz = tmp_path / "bad.npz"
    np.savez(npz, x=np.zeros((5, 3), np.float32), y=np.zeros(4, np.int64), domain=np.zeros(5, np.int64))
    with pytest.raises(GRDAInputError, match="x has 5 rows but y has 4"):
        load_user_domains(npz, graph, ["a"])
    with pytest.raises(GRDAInputError, match="domain '1' has width 3, expected 2"):
        _embedding_table({"0": np.zeros(2), "1": np.zeros(3)}, 2, tmp_path / "g_encode.pkl")


def test_npz_loader_refuses_pickled_object_arrays(tmp_path):
    _, graph = write_user_csv(tmp_path)
    npz = tmp_path / "evil.npz"
    np.savez(
        npz, x=np.array([[0.0, 1.0]] * 4, dtype=object), y=np.zeros(4, np.int64), domain=np.array(["a", "b", "c", "d"])
    )
    with pytest.raises(GRDAInputError, match="pickled object array"):
        load_user_domains(npz, graph, ["a"])


def test_npz_and_parquet_user_formats(tmp_path):
    data, graph = write_user_csv(tmp_path, regression=True)
    import pandas as pd

    df = pd.read_csv(data)
    df.to_parquet(tmp_path / "samples.parquet")
    np.savez(
        tmp_path / "samples.npz",
        x=df[["f0", "f1"]].to_numpy(np.float32),
        y=df["label"].to_numpy(),
        domain=df["domain"].to_numpy(dtype=str),
    )
    for path in (data, tmp_path / "samples.parquet", tmp_path / "samples.npz"):
        ds = load_user_domains(path, graph, ["a", "b"])
        assert ds.task == "regression" and ds.y.shape == (48, 1) and ds.domain_ids == ["a", "b", "c", "d"]
        assert ds.source.tolist() == [True, True, False, False]


def test_edge_list_self_loop_and_repeat(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("source,target\na,a\n")
    with pytest.raises(GRDAInputError, match="self-loop on domain 'a'"):
        read_edge_list(path)
    path.write_text("0,1\n1,2\n10,2\n")  # headerless, numeric ids in natural order
    ids, a = read_edge_list(path)
    assert ids == ["0", "1", "2", "10"] and a[3, 2] == 1 and a[2, 3] == 1


# ------------------------------------------------------------------------------------------- real data
@pytest.mark.needs_data
def test_real_loaders(shared_data):
    dg = load_grda("dg15", root=shared_data)
    assert dg.x.shape == (1500, 2) and dg.num_domains == 15 and int(dg.adjacency.sum()) == 2 * 56
    assert [i for i, s in enumerate(dg.source) if s] == [0, 3, 4, 8, 12, 14]
    assert dg.domain_embedding.shape == (15, 2)
    tpt = load_grda("tpt48-ns", root=shared_data)
    assert tpt.num_domains == 48 and int(tpt.adjacency.sum()) == 2 * 105 and tpt.source.sum() == 24
    assert tpt.eval_mask.sum() == 48 * 12 and tpt.x.shape[1] == 6 and tpt.y.shape[1] == 6
    counts = np.bincount(tpt.domain[tpt.train_mask], minlength=48)
    assert set(counts[tpt.source]) == {133} and set(counts[~tpt.source]) == {12}


# ------------------------------------------------------------------------------- official-code emulation flags
def test_paired_batches_share_positions_across_domains():
    from graphlearn.methods.grda.trainer import _epoch_indices

    pools = [np.arange(10) + 100 * k for k in range(3)]
    idx = _epoch_indices(pools, steps=3, batch=5, rng=np.random.default_rng(0), paired=True)
    pos = idx % 100
    assert idx.shape == (3, 15)
    assert (pos == pos[0]).all()  # slot b of every domain: the same within-domain position
    assert sorted(pos[0, :10]) == list(range(10))  # each epoch-permutation covers every position once
    free = _epoch_indices(pools, steps=3, batch=5, rng=np.random.default_rng(0), paired=False) % 100
    assert not (free == free[0]).all()
    uneven = [np.arange(4), np.arange(10) + 100]  # a shorter pool wraps around
    idx = _epoch_indices(uneven, steps=2, batch=5, rng=np.random.default_rng(1), paired=True)
    np.testing.assert_array_equal(idx[0], (idx[1] - 100) % 4)


def _official_pair(ds, cfg):
    """A batch of 5 samples per domain, a GRDA ready to step and an identical copy (same init, same subgraph
    sampler state) to compute reference gradients with."""
    x, y = torch.from_numpy(ds.x).reshape(4, 10, 3)[:, :5], torch.from_numpy(ds.y).reshape(4, 10)[:, :5]
    domain = torch.arange(4)[:, None].expand(-1, 5)
    torch.manual_seed(0)
    model = build_method("grda", ds, cfg, rng=np.random.default_rng(3))
    model.configure_optimizers()
    torch.manual_seed(0)
    ref = build_method("grda", ds, cfg, rng=np.random.default_rng(3))
    return x, y, domain, model, ref


def _disc_params(model):
    return [p.detach().clone() for p in model.discriminator.parameters()]


@pytest.mark.parametrize("lam", [1.0, 0.5])
def test_official_update_gives_the_discriminator_one_minus_lambda_of_its_gradient(lam):
    ds = tiny_dataset()
    cfg = AdaptConfig(hidden=8, sample_v=4, lambda_adv=lam, official_update=True, disc_loss_scale=3.0)
    x, y, domain, model, ref = _official_pair(ds, cfg)
    before = _disc_params(model)
    model.training_step(x, y, domain)
    loss_d = ref.reconstruction_loss(ref.encode(x, domain))  # same weights, same sampled subgraph
    grads = torch.autograd.grad(loss_d, list(ref.discriminator.parameters()))
    for p, g in zip(model.discriminator.parameters(), grads):
        torch.testing.assert_close(p.grad, (1.0 - lam) * g)
    moved = [not torch.equal(a, b) for a, b in zip(before, model.discriminator.parameters())]
    assert any(moved) == (lam != 1.0)


def test_official_update_encoder_gradient_and_dann_frozen_discriminator():
    ds = tiny_dataset()
    cfg = AdaptConfig(hidden=8, sample_v=4, lambda_adv=1.0, official_update=True)
    x, y, domain, model, ref = _official_pair(ds, cfg)
    model.training_step(x, y, domain)
    z = ref.encode(x, domain)
    loss_e = ref.task_loss(z, y) - ref.reconstruction_loss(z)
    grads = torch.autograd.grad(loss_e, list(ref.encoder.parameters()))
    for p, g in zip(model.encoder.parameters(), grads):
        torch.testing.assert_close(p.grad, g)
    # DANN under the official step at lambda 1: its domain classifier never moves, the encoder does
    torch.manual_seed(1)
    dann = build_method("dann", ds, cfg)
    d0, e0 = _disc_params(dann), [p.detach().clone() for p in dann.encoder.parameters()]
    dann.configure_optimizers()
    for _ in range(3):
        dann.training_step(x, y, domain)
    assert all(torch.equal(a, b) for a, b in zip(d0, dann.discriminator.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(e0, dann.encoder.parameters()))
    cfg.official_update = False
    dann = build_method("dann", ds, cfg)
    d0 = _disc_params(dann)
    dann.configure_optimizers()
    dann.training_step(x, y, domain)
    assert not all(torch.equal(a, b) for a, b in zip(d0, dann.discriminator.parameters()))


def test_discriminator_activation_init_scale_and_prediction_eps():
    ds = tiny_dataset()
    relu = build_method("grda", ds, AdaptConfig(hidden=16, disc_negative_slope=0.0))
    leaky = build_method("grda", ds, AdaptConfig(hidden=16))
    assert any(isinstance(m, torch.nn.ReLU) for m in relu.discriminator.modules())
    assert not any(isinstance(m, torch.nn.LeakyReLU) for m in relu.discriminator.modules())
    assert any(isinstance(m, torch.nn.LeakyReLU) for m in leaky.discriminator.modules())
    small = build_method("grda", ds, AdaptConfig(hidden=64, init_std=0.01, init_disc=True))
    default = build_method("grda", ds, AdaptConfig(hidden=64, init_std=0.01))
    w_small = small.discriminator.net[0].weight.detach()
    assert float(w_small.std()) == pytest.approx(0.01, rel=0.2)
    assert float(default.discriminator.net[0].weight.detach().std()) > 0.05  # PyTorch's init kept without init_disc
    # disc_loss_scale multiplies the reconstruction loss
    torch.manual_seed(0)
    a = build_method("grda", ds, AdaptConfig(hidden=8, sample_v=4), rng=np.random.default_rng(0))
    torch.manual_seed(0)
    b = build_method("grda", ds, AdaptConfig(hidden=8, sample_v=4, disc_loss_scale=15.0), rng=np.random.default_rng(0))
    z = torch.randn(4, 5, 8)
    torch.testing.assert_close(b.reconstruction_loss(z), 15.0 * a.reconstruction_loss(z))
    # pred_log_eps: the loss of a hopelessly wrong prediction is capped at -log(eps)
    model = build_method("source-only", ds, AdaptConfig(hidden=8, pred_log_eps=1e-4))
    with torch.no_grad():
        model.predictor.net[-1].weight.zero_()
        model.predictor.net[-1].bias.copy_(torch.tensor([1e3, -1e3]))
    z = torch.zeros(4, 2, 8)
    y = torch.ones(4, 2, dtype=torch.long)
    assert float(model.task_loss(z, y)) == pytest.approx(-math.log(1e-4), rel=1e-3)
    model.cfg = AdaptConfig(hidden=8)
    assert float(model.task_loss(z, y)) == pytest.approx(2e3, rel=1e-3)


def test_config_from_strings_parses_flags_and_none():
    cfg = AdaptConfig.from_dict({"official_update": "false", "paired_batches": "True", "init_std": "none"})
    assert cfg.official_update is False and cfg.paired_batches is True and cfg.init_std is None
    with pytest.raises(ValueError, match="init_disc.*'yes'"):
        AdaptConfig.from_dict({"init_disc": "yes"})
