"""Baseline node classifiers and the name -> class resolver.

Every model is a ``torch.nn.Module`` with ``forward(x, edge_index)``,
``embed(x, edge_index)`` (last hidden representation), ``reset_parameters()``
and a short ``__repr__``. Precomputed-propagation models (``sign``, ``sgc``)
also have ``preprocess(x, edge_index)``, which the trainer calls once.
"""

from __future__ import annotations

import copy
from typing import Any

import torch

from .gnn import GAT, GCN, GraphSAGE
from .mlp import MLP
from .sign import SGC, SIGN, propagate

MODELS: dict[str, type] = {
    "mlp": MLP,
    "gcn": GCN,
    "sage": GraphSAGE,
    "gat": GAT,
    "sign": SIGN,
    "sgc": SGC,
}

# Per-model defaults: the published Planetoid settings where there is one.
# Model keys go to build_model(); TRAIN_KEYS go to run_protocol().
DEFAULT_HPARAMS: dict[str, dict[str, Any]] = {
    # GLNN's MLP baseline size; no graph, so only dropout regularises.
    "mlp": dict(
        hidden_channels=64, num_layers=2, dropout=0.5, input_dropout=0.0, lr=0.01, weight_decay=5e-4, epochs=200
    ),
    # Kipf & Welling: 16 hidden, dropout 0.5 on input and hidden, lr 0.01,
    # L2 5e-4, 200 epochs.
    "gcn": dict(
        hidden_channels=16, num_layers=2, dropout=0.5, input_dropout=0.5, lr=0.01, weight_decay=5e-4, epochs=200
    ),
    # Mean aggregator, full batch; same optimiser as GCN.
    "sage": dict(
        hidden_channels=64, num_layers=2, dropout=0.5, input_dropout=0.5, lr=0.01, weight_decay=5e-4, epochs=200
    ),
    # Veličković et al.: 8 heads x 8 features, 1 output head, ELU, dropout 0.6
    # on inputs and attention, lr 0.005, L2 5e-4.
    "gat": dict(
        hidden_channels=64,
        heads=8,
        out_heads=1,
        act="elu",
        num_layers=2,
        dropout=0.6,
        input_dropout=0.6,
        lr=0.005,
        weight_decay=5e-4,
        epochs=200,
    ),
    # SIGN with hops 0..3 concatenated, a 2-layer MLP on top. Picked on Cora
    # validation accuracy among 4 settings (K=2/h64/p0.5 over-fits in a few epochs).
    "sign": dict(
        hidden_channels=32, num_layers=2, K=3, dropout=0.6, input_dropout=0.6, lr=0.01, weight_decay=5e-4, epochs=200
    ),
    # Wu et al.: K=2, lr 0.2, 100 epochs; L2 tuned per dataset in the paper.
    "sgc": dict(hidden_channels=0, num_layers=1, K=2, dropout=0.0, lr=0.2, weight_decay=5e-5, epochs=100),
}

TRAIN_KEYS = ("lr", "weight_decay", "epochs", "patience", "batch_size", "full_batch_rows", "num_neighbors")


def _resolve(name: str) -> type:
    key = name.lower() if isinstance(name, str) else name
    if key not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    return MODELS[key]


def build_model(
    name: str,
    in_channels: int,
    hidden_channels: int,
    out_channels: int,
    num_layers: int = 2,
    dropout: float = 0.5,
    **kwargs,
) -> torch.nn.Module:
    """Instantiate model ``name`` (one of :data:`MODELS`).

    ``kwargs`` are model-specific (``heads``, ``K``, ``input_dropout``, ``act``
    ...); an unknown name raises :class:`ValueError` listing the choices.
    """
    cls = _resolve(name)
    model = cls(in_channels, hidden_channels, out_channels, num_layers=num_layers, dropout=dropout, **kwargs)
    # what graphlearn.model_io needs to save it and to build it again (Baseline.from_hparams)
    model.saved_class = "Baseline"
    model.hparams = dict(
        name=name.lower(),
        in_channels=in_channels,
        hidden_channels=hidden_channels,
        out_channels=out_channels,
        num_layers=num_layers,
        dropout=dropout,
        **kwargs,
    )
    return model


class Baseline:
    """The model-file entry of :func:`build_model`'s models (``graphlearn.model_io``'s ``"Baseline"``):
    ``from_hparams(hparams)`` builds the named model again."""

    @staticmethod
    def from_hparams(hparams: dict[str, Any]) -> torch.nn.Module:
        return build_model(**hparams)


def default_hparams(name: str) -> dict[str, Any]:
    """A copy of :data:`DEFAULT_HPARAMS` for ``name`` (model and training keys)."""
    _resolve(name)
    return copy.deepcopy(DEFAULT_HPARAMS[name.lower()])


def split_hparams(hparams: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(model_kwargs, train_kwargs)``: training keys are :data:`TRAIN_KEYS`."""
    model = {k: v for k, v in hparams.items() if k not in TRAIN_KEYS}
    train = {k: v for k, v in hparams.items() if k in TRAIN_KEYS}
    return model, train


__all__ = [
    "Baseline",
    "MLP",
    "GCN",
    "GraphSAGE",
    "GAT",
    "SIGN",
    "SGC",
    "MODELS",
    "DEFAULT_HPARAMS",
    "TRAIN_KEYS",
    "build_model",
    "default_hparams",
    "split_hparams",
    "propagate",
]
