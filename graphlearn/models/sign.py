"""Precomputed-propagation models: SIGN and SGC.

The graph is used once, in :meth:`SIGN.preprocess`, to compute
``[X, ÂX, Â²X, ..., Â^K X]`` with ``Â = D^{-1/2}(A + I)D^{-1/2}``; training is
then an MLP on those features (fast, and trivially mini-batchable).
PyG's ``transforms.SIGN`` does the same but needs torch-sparse's
``SparseTensor``; here ``Â`` is the library's one propagation operator,
:func:`graphlearn.sparse.propagation_matrix` (CSR, from PyG's ``gcn_norm``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from graphlearn import sparse
from graphlearn.sparse import propagation_matrix

from .mlp import MLP


def propagate(x: Tensor, edge_index: Tensor, K: int, add_self_loops: bool = True) -> list[Tensor]:
    """``[X, ÂX, ..., Â^K X]`` with the symmetric GCN normalisation.

    Messages flow ``edge_index[0] -> edge_index[1]`` as in PyG. With
    ``add_self_loops`` a node without edges keeps its own features at every
    hop; without it its propagated features are zero. ``Â`` is
    :func:`graphlearn.sparse.propagation_matrix` (``norm="gcn"``).
    """
    adj = propagation_matrix(edge_index, x.size(0), "gcn", dtype=x.dtype, add_self_loops=add_self_loops)
    # Multiplied as COO: bit-identical to SIGN's features before it shared this operator (the CSR product, MKL's,
    # differs in the last bit: up to 4.8e-7 on Cora) and no slower on wide bag-of-words features (Cora, K=3: 12 ms
    # COO, 15 ms CSR, one core).
    adj = adj.to_sparse_coo()
    out = [x]
    for _ in range(K):
        out.append(torch.sparse.mm(adj, out[-1]))
    return out


class SIGN(torch.nn.Module):
    r"""SIGN (`Frasca et al., 2020 <https://arxiv.org/abs/2004.11198>`_), in
    its simplest form: the ``K + 1`` propagated feature blocks are concatenated
    and fed to an MLP (the paper's per-hop linear maps are the first MLP layer
    restricted to a block-diagonal; we let it be dense).

    ``forward(x, edge_index)`` takes the output of :meth:`preprocess` (the
    trainer calls it once); ``edge_index`` is ignored there. Raw features are
    refused where their width tells them apart; for SGC (``concat=False``) it
    cannot, so always go through :meth:`preprocess`.

    Args:
        in_channels (int): raw feature size.
        hidden_channels (int): hidden size of the MLP.
        out_channels (int): number of classes.
        num_layers (int): MLP layers (1 = linear). (default: ``2``)
        dropout (float): MLP dropout. (default: ``0.5``)
        K (int): number of hops. (default: ``2``)
        concat (bool): concatenate hops ``0..K`` (SIGN) or keep only hop ``K``
            (SGC). (default: ``True``)
        add_self_loops (bool): propagate with ``A + I``. (default: ``True``)
        input_dropout (float): dropout on the propagated features. (default: ``0.0``)
    """

    row_independent = True  # see MLP; the instance follows its MLP's

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        num_layers: int = 2,
        dropout: float = 0.5,
        K: int = 2,
        concat: bool = True,
        add_self_loops: bool = True,
        input_dropout: float = 0.0,
        **kwargs,
    ):
        super().__init__()
        if K < 0:
            raise ValueError(f"'K' (hops) must be >= 0 (got {K})")
        self.in_channels, self.hidden_channels = in_channels, hidden_channels
        self.out_channels, self.num_layers = out_channels, num_layers
        self.K, self.concat, self.add_self_loops = K, concat, add_self_loops
        self.feature_channels = in_channels * (K + 1 if concat else 1)
        self.mlp = MLP(
            self.feature_channels,
            hidden_channels,
            out_channels,
            num_layers=num_layers,
            dropout=dropout,
            input_dropout=input_dropout,
            **kwargs,
        )
        # after preprocess(), an MLP on each node's own row: data-parallel by rows (graphlearn.distributed)
        self.row_independent = self.mlp.row_independent

    def reset_parameters(self) -> None:
        self.mlp.reset_parameters()

    @torch.no_grad()
    def preprocess(self, x: Tensor, edge_index: Tensor, parallel=None) -> Tensor:
        """Raw ``x`` ``[N, in_channels]`` -> ``[N, feature_channels]``.

        With ``parallel`` (a :class:`graphlearn.distributed.Context` of several ranks) the propagation is
        row-partitioned (:func:`graphlearn.distributed.propagate_rows`): each rank computes and returns only its own
        rows, ``[len(parallel.rows(N)), feature_channels]``, holding only its block of the operator."""
        if x.size(-1) != self.in_channels:
            raise ValueError(f"preprocess expects raw features with {self.in_channels} columns (got {x.size(-1)})")
        if sparse.is_sparse(x):  # the propagated hops are dense whatever x is, and their concatenation holds x itself
            x = x.to_dense()
        if parallel is not None and parallel.parallel:
            from graphlearn.distributed import propagate_rows  # noqa: PLC0415

            hops, _ = propagate_rows(x, edge_index, self.K, parallel, add_self_loops=self.add_self_loops)
        else:
            hops = propagate(x, edge_index, self.K, self.add_self_loops)
        return torch.cat(hops, dim=-1) if self.concat else hops[-1]

    def _check(self, x: Tensor) -> Tensor:
        if x.size(-1) != self.feature_channels:
            raise ValueError(
                f"{self!r} expects the output of preprocess() with "
                f"{self.feature_channels} columns (got {x.size(-1)}); "
                f"call model.preprocess(x, edge_index) first"
            )
        return x

    def forward(self, x: Tensor, edge_index: Tensor = None) -> Tensor:
        """Preprocessed ``x`` ``[N, feature_channels]`` -> logits ``[N, out]``."""
        return self.mlp(self._check(x))

    def embed(self, x: Tensor, edge_index: Tensor = None) -> Tensor:
        """Last hidden MLP representation (the propagated features for SGC)."""
        return self.mlp.embed(self._check(x))

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.hidden_channels}, "
            f"{self.out_channels}, layers={self.num_layers}, K={self.K})"
        )


class SGC(SIGN):
    r"""SGC (`Wu et al., ICML 2019 <https://arxiv.org/abs/1902.07153>`_): a
    linear classifier on ``Â^K X``; a :class:`SIGN` with ``concat=False`` and
    one layer. ``hidden_channels`` and ``num_layers`` are accepted for a
    uniform ``build_model`` call and ignored."""

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        num_layers: int = 1,
        dropout: float = 0.0,
        K: int = 2,
        add_self_loops: bool = True,
        **kwargs,
    ):
        super().__init__(
            in_channels,
            out_channels,
            out_channels,
            num_layers=1,
            dropout=dropout,
            K=K,
            concat=False,
            add_self_loops=add_self_loops,
            **kwargs,
        )

    def __repr__(self) -> str:
        return f"SGC({self.in_channels}, {self.out_channels}, K={self.K})"
