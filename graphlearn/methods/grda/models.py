"""Networks of graph-relational domain adaptation (GRDA, Xu et al., ICLR 2022, https://arxiv.org/abs/2202.03628).

* :class:`DomainEncoder` ``E(x, u) -> z``: the input and the domain-node embedding ``u`` are embedded separately,
  concatenated and mixed by an MLP (the domain enters the encoder, as in the paper).
* :class:`Predictor` ``F(z) -> y``: logits (classification) or values (regression).
* :class:`GraphDiscriminator` ``D(z) -> d``: a low-dimensional code whose inner products ``d_i . d_j`` are read as
  edge logits of the domain graph (see :func:`graphlearn.methods.grda.graph.graph_reconstruction_loss`).
* :class:`DomainClassifier` and :class:`GradientReversal` for the DANN baseline.

Shapes: every module maps the last dimension and keeps the leading ones, so ``[D, B, F]`` batches (domain x slot)
and flat ``[N, F]`` batches both work.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def mlp(dims: list[int], dropout: float = 0.0, negative_slope: float = 0.0) -> nn.Sequential:
    """``Linear -> ReLU (-> Dropout)`` for every consecutive pair of ``dims``, no activation after the last.

    ``negative_slope > 0`` uses LeakyReLU instead (the discriminators: a ReLU critic can be driven into a region
    where every unit is off by the encoder it plays against, after which it never learns again).
    """
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(dims) - 2:
            layers.append(nn.LeakyReLU(negative_slope) if negative_slope > 0 else nn.ReLU())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def _reset(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Linear):
            m.reset_parameters()


def init_normal_(module: nn.Module, std: float) -> nn.Module:
    """GRDA's initialisation: every ``Linear`` weight ``~ N(0, std^2)`` and bias 0 (the official code uses 0.01).

    Small weights start every network close to a low-rank, almost linear map, which matters for how the encoder
    extrapolates from the source domains' embeddings to the targets' (see docs/grda.md).
    """
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, mean=0.0, std=std)
            nn.init.zeros_(m.bias)
    return module


class DomainEncoder(nn.Module):
    """``E(x, u)``: features and domain embedding -> representation ``z``.

    Args:
        in_channels (int): input feature width ``F``.
        embedding_dim (int): width ``k`` of the domain-node embedding.
        hidden_channels (int): width ``h`` of ``z``; the mixing layers are ``2h`` wide.
        num_layers (int, optional): mixing layers after the concatenation. (default: ``3``)
        dropout (float, optional): dropout inside the mixing MLP. (default: ``0.0``)
    """

    def __init__(
        self, in_channels: int, embedding_dim: int, hidden_channels: int, num_layers: int = 3, dropout: float = 0.0
    ):
        super().__init__()
        self.in_channels, self.embedding_dim, self.hidden_channels = in_channels, embedding_dim, hidden_channels
        self.num_layers = num_layers
        self.x_net = nn.Sequential(nn.Linear(in_channels, hidden_channels), nn.ReLU())
        self.u_net = nn.Sequential(mlp([embedding_dim, hidden_channels, hidden_channels]), nn.ReLU())
        self.mix = mlp([2 * hidden_channels] * num_layers + [hidden_channels], dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _reset(self)

    def forward(self, x: Tensor, u: Tensor) -> Tensor:
        """``x [..., F]``, ``u [..., k]`` -> ``z [..., h]``."""
        return self.mix(torch.cat([self.x_net(x), self.u_net(u)], dim=-1))

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}+{self.embedding_dim}, {self.hidden_channels}, "
            f"num_layers={self.num_layers})"
        )


class _Head(nn.Module):
    """An MLP ``hidden -> hidden x (num_layers - 1) -> out``; base of the predictor and the discriminators."""

    negative_slope = 0.0

    def __init__(
        self,
        hidden_channels: int,
        out_channels: int,
        num_layers: int = 3,
        dropout: float = 0.0,
        negative_slope: float | None = None,
    ):
        super().__init__()
        self.hidden_channels, self.out_channels, self.num_layers = hidden_channels, out_channels, num_layers
        if negative_slope is not None:
            self.negative_slope = negative_slope
        self.net = mlp([hidden_channels] * num_layers + [out_channels], dropout, self.negative_slope)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _reset(self)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.hidden_channels}, {self.out_channels}, num_layers={self.num_layers})"


class Predictor(_Head):
    """``F(z)``: class logits or regression outputs."""


class GraphDiscriminator(_Head):
    """``D(z) -> d [..., out_channels]``; ``sigmoid(d_i . d_j)`` estimates the domain adjacency ``A_ij``."""

    negative_slope = 0.2

    def __init__(
        self,
        hidden_channels: int,
        out_channels: int = 2,
        num_layers: int = 4,
        dropout: float = 0.0,
        negative_slope: float | None = None,
    ):
        super().__init__(hidden_channels, out_channels, num_layers, dropout, negative_slope)


class DomainClassifier(_Head):
    """DANN's discriminator: logits over the ``num_domains`` domains (categorical, ignores the graph)."""

    negative_slope = 0.2

    def __init__(
        self,
        hidden_channels: int,
        num_domains: int,
        num_layers: int = 4,
        dropout: float = 0.0,
        negative_slope: float | None = None,
    ):
        super().__init__(hidden_channels, num_domains, num_layers, dropout, negative_slope)


class _ReverseGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -ctx.scale * grad, None


class GradientReversal(nn.Module):
    """Identity forward, gradient multiplied by ``-scale`` backward (Ganin & Lempitsky, 2015)."""

    def __init__(self, scale: float = 1.0):
        super().__init__()
        self.scale = scale

    def forward(self, x: Tensor) -> Tensor:
        return _ReverseGrad.apply(x, self.scale)

    def __repr__(self) -> str:
        return f"GradientReversal(scale={self.scale})"
