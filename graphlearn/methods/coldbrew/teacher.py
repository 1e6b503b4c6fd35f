"""Cold Brew teacher: a GCN / GraphSAGE whose layers may carry a learnable
per-node structural embedding (SE)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import GCNConv, SAGEConv

from graphlearn import sparse
from graphlearn.models.gnn import sage_conv_transform_first
from graphlearn.training import EpochCallback, fit, masked_accuracy

CONVS = ("gcn", "sage")


class ColdBrewTeacher(nn.Module):
    r"""Teacher GNN of Cold Brew (`Zheng et al., ICLR 2022
    <https://openreview.net/forum?id=1ugNpm7W6E>`_, Eq. 3).

    Layer :math:`l` listed in ``se_layers`` adds a learnable node embedding
    :math:`E^{(l)} \in \mathbb{R}^{N \times d_{l+1}}` to the linear transform's
    output *before* propagation:

    .. math::
        X^{(l+1)} = \sigma\big(\hat{A}\,(X^{(l)} W^{(l)} + E^{(l)}) + b^{(l)}\big)

    Because propagation is linear this is computed as the PyG convolution of
    :math:`X^{(l)}` (its own parameters, applied transform-first) plus the
    propagation of :math:`E^{(l)}` with the same operator, one sparse CSR product
    each (:meth:`operator`): :math:`\hat{A} = D^{-1/2}(A + I)D^{-1/2}` for
    ``gcn``, the neighbour mean for ``sage`` (so in GraphSAGE :math:`E` enters
    only through the neighbour branch, never the root branch).

    :math:`E` is initialised at zero and penalised by
    :meth:`se_penalty` (mean squared row norm, summed over layers); keep it out
    of the optimizer's weight decay with :meth:`parameter_groups`.

    Gradient reaching :math:`E_i`: with ``gcn`` a node's own row reaches its
    own output through the self-loop and its neighbours' outputs through the
    edges; with ``sage`` only its neighbours'. Rows of isolated nodes (no edge)
    therefore get no gradient from any neighbour: under ``sage`` only the
    penalty acts on them (they decay to zero), under ``gcn`` only their own
    loss term (none when, as in :class:`~graphlearn.data.splits.ColdStartSplit`,
    isolated nodes are not training nodes).

    Args:
        in_channels (int): input feature width.
        hidden_channels (int): width of the hidden layers.
        out_channels (int): number of classes (width of the last layer).
        num_nodes (int): number of nodes :math:`N`; fixed at construction when
            ``se_layers`` is not empty (forward then requires exactly ``N`` rows).
        num_layers (int): number of graph convolutions. (default: ``2``)
        conv (str): ``"gcn"`` or ``"sage"``. (default: ``"gcn"``)
        se_layers (sequence of int): layers (0-based) with a structural
            embedding; ``()`` is a plain GNN. (default: ``(0,)``)
        dropout (float): dropout before every convolution. (default: ``0.5``)

    Shapes:
        - forward: ``x [N, in_channels]``, ``edge_index [2, E]`` ->
          logits ``[N, out_channels]``
        - embed: -> ``[N, hidden_channels * (num_layers - 1) + out_channels]``
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        num_nodes: int,
        num_layers: int = 2,
        conv: str = "gcn",
        se_layers: Sequence[int] = (0,),
        dropout: float = 0.5,
    ):
        super().__init__()
        if conv not in CONVS:
            raise ValueError(f"unknown conv {conv!r}; choose one of {list(CONVS)}")
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1 (got {num_layers})")
        se_layers = tuple(sorted({int(layer) for layer in se_layers}))
        bad = [layer for layer in se_layers if not 0 <= layer < num_layers]
        if bad:
            raise ValueError(f"se_layers {bad} out of range for num_layers={num_layers} (valid: 0..{num_layers - 1})")
        if se_layers and num_nodes < 1:
            raise ValueError(f"num_nodes must be >= 1 with se_layers={se_layers} (got {num_nodes})")
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.out_channels = out_channels
        self.num_nodes = num_nodes
        self.num_layers = num_layers
        self.conv = conv
        self.se_layers = se_layers
        self.dropout = dropout

        dims = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
        self.dims = dims
        if conv == "gcn":
            # Only the layers' parameters are used (see layer_outputs); the
            # normalisation is in the propagation operator, hence normalize=False.
            self.convs = nn.ModuleList(GCNConv(a, b, normalize=False) for a, b in zip(dims[:-1], dims[1:]))
        else:
            self.convs = nn.ModuleList(SAGEConv(a, b, aggr="mean") for a, b in zip(dims[:-1], dims[1:]))
        self.se = nn.ParameterDict(
            {str(layer): nn.Parameter(torch.zeros(num_nodes, dims[layer + 1])) for layer in se_layers}
        )
        self.reset_parameters()

    @property
    def hparams(self) -> dict:
        """Constructor arguments (saved with the model, see :mod:`graphlearn.model_io`)."""
        return {
            "in_channels": self.in_channels,
            "hidden_channels": self.hidden_channels,
            "out_channels": self.out_channels,
            "num_nodes": self.num_nodes,
            "num_layers": self.num_layers,
            "conv": self.conv,
            "se_layers": list(self.se_layers),
            "dropout": self.dropout,
        }

    @property
    def embed_channels(self) -> int:
        """Width of :meth:`embed` (sum of the layer output widths)."""
        return sum(self.dims[1:])

    def reset_parameters(self) -> None:
        for conv in self.convs:
            conv.reset_parameters()
        for emb in self.se.values():
            nn.init.zeros_(emb)

    def parameter_groups(self, weight_decay: float) -> list[dict]:
        """Optimizer groups: weight decay on the convolutions, none on ``E``
        (it has its own penalty)."""
        groups = [{"params": list(self.convs.parameters()), "weight_decay": weight_decay}]
        if self.se_layers:
            groups.append({"params": list(self.se.parameters()), "weight_decay": 0.0})
        return groups

    def se_penalty(self) -> Tensor:
        """:math:`\\sum_l \\operatorname{mean}_i \\lVert E^{(l)}_i \\rVert_2^2`
        (a zero scalar without structural embeddings)."""
        total = torch.zeros((), device=next(self.parameters()).device)
        for emb in self.se.values():
            total = total + emb.pow(2).sum(dim=-1).mean()
        return total

    def _check(self, x: Tensor, graph: Tensor) -> None:
        if x.dim() != 2 or x.size(1) != self.in_channels:
            raise ValueError(f"x must have shape [N, {self.in_channels}] (got {list(x.shape)})")
        if self.se_layers and x.size(0) != self.num_nodes:
            raise ValueError(
                f"this teacher has structural embeddings for {self.num_nodes} nodes but x has {x.size(0)} rows"
            )
        if sparse.is_sparse(graph):
            if graph.shape != (x.size(0), x.size(0)):
                raise ValueError(
                    f"the propagation operator must be [N, N] = [{x.size(0)}, {x.size(0)}] (got {list(graph.shape)})"
                )
        elif graph.dim() != 2 or graph.size(0) != 2:
            raise ValueError(f"edge_index must have shape [2, E] (got {list(graph.shape)})")

    def operator(self, edge_index: Tensor, num_nodes: int, dtype: torch.dtype | None = None) -> Tensor:
        """This teacher's propagation operator for ``edge_index`` as a CSR ``[N, N]`` matrix
        (:func:`graphlearn.sparse.propagation_matrix`: GCN normalisation with self-loops for ``gcn``,
        the neighbour mean for ``sage``). Build it once and pass it instead of ``edge_index`` to
        :meth:`forward` / :meth:`embed` when the graph is fixed (training)."""
        return sparse.propagation_matrix(edge_index, num_nodes, "gcn" if self.conv == "gcn" else "mean", dtype=dtype)

    def layer_outputs(self, x: Tensor, edge_index: Tensor) -> list[Tensor]:
        """Pre-activation output of every layer (the last one is the logits).
        ``edge_index`` is ``[2, E]`` or the CSR matrix of :meth:`operator`."""
        self._check(x, edge_index)
        P = edge_index if sparse.is_sparse(edge_index) else self.operator(edge_index, x.size(0), x.dtype)
        # Every layer multiplies by its weight first and then propagates with one sparse
        # product, using the PyG layers' own parameters: GCNConv is P (x W) + b; a
        # mean-aggregation SAGEConv is P (x W_l) + b_l + x W_r
        # (graphlearn.models.gnn.sage_conv_transform_first). Sparse features go straight
        # into the Linear layers.
        x = sparse.model_input(x)
        outs = []
        for layer, conv in enumerate(self.convs):
            x = sparse.dropout(x, p=self.dropout, training=self.training)
            if self.conv == "gcn":
                h = sparse.spmm(P, conv.lin(x))
                if conv.bias is not None:
                    h = h + conv.bias
            else:
                h = sage_conv_transform_first(conv, x, P, lambda v, P: sparse.spmm(P, v))
            if str(layer) in self.se:
                h = h + sparse.spmm(P, self.se[str(layer)])
            outs.append(h)
            x = h.relu()
        return outs

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        return self.layer_outputs(x, edge_index)[-1]

    @torch.no_grad()
    def embed(self, x: Tensor, edge_index: Tensor) -> Tensor:
        """Concatenated pre-activation outputs of all layers, in eval mode
        (the student's regression target). The model's train/eval mode is
        restored afterwards."""
        was_training = self.training
        self.eval()
        try:
            return torch.cat(self.layer_outputs(x, edge_index), dim=-1)
        finally:
            self.train(was_training)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.hidden_channels}, "
            f"{self.out_channels}, conv={self.conv}, layers={self.num_layers}, "
            f"se_layers={self.se_layers})"
        )


def train_teacher(
    teacher: ColdBrewTeacher,
    x: Tensor,
    edge_index: Tensor,
    y: Tensor,
    train_mask: Tensor,
    val_mask: Tensor,
    *,
    epochs: int = 500,
    lr: float = 0.01,
    weight_decay: float = 5e-4,
    se_weight: float = 1e-3,
    patience: int | None = 100,
    stage: str = "teacher",
    on_epoch: EpochCallback | None = None,
) -> dict:
    """Full-batch training with cross-entropy on ``train_mask`` plus
    ``se_weight * teacher.se_penalty()``; the epoch with the best validation
    accuracy is kept (the teacher is left in eval mode).

    Returns the :class:`~graphlearn.training.FitResult` of :func:`graphlearn.training.fit`.
    """
    if int(train_mask.sum()) == 0:
        raise ValueError("train_mask selects no node; the teacher needs labels")
    x = sparse.model_input(x)  # once, not in every epoch's forward passes
    edge_index = teacher.operator(edge_index, x.size(0), x.dtype)  # likewise the propagation operator

    def loss_fn() -> Tensor:
        out = teacher(x, edge_index)
        loss = F.cross_entropy(out[train_mask], y[train_mask])
        return loss + se_weight * teacher.se_penalty()

    def score_fn() -> dict[str, float]:
        out = teacher(x, edge_index)
        val = masked_accuracy(out, y, val_mask)
        return {"train_acc": masked_accuracy(out, y, train_mask), "val_acc": val, "score": val}

    return fit(
        teacher,
        loss_fn,
        score_fn,
        params=teacher.parameter_groups(weight_decay),
        epochs=epochs,
        lr=lr,
        patience=patience,
        stage=stage,
        on_epoch=on_epoch,
    )
