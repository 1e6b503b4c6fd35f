"""Feature Contribution Ratio (Cold Brew, Eq. 5) and the label-propagation
baseline it needs."""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch_geometric.nn.models import LabelPropagation


def feature_contribution_ratio(acc_mlp: float, acc_lp: float, acc_gnn: float) -> float:
    r"""Feature Contribution Ratio in percent (`Zheng et al., ICLR 2022
    <https://openreview.net/forum?id=1ugNpm7W6E>`_, Eq. 5).

    With :math:`z_M, z_L, z_G` the accuracies of an MLP (features only), label
    propagation (structure only) and a GNN (both), :math:`\delta_M = |z_G -
    z_M|` and :math:`\delta_L = |z_G - z_L|`:

    .. math::
        \mathrm{FCR} = \begin{cases}
          \frac{\delta_L}{\delta_M + \delta_L}        & z_M \le z_G,\ z_L \le z_G \\
          1 + \frac{\delta_M}{\delta_M + \delta_L}    & z_M > z_G \\
          -\frac{\delta_L}{\delta_M + \delta_L}       & z_L > z_G
        \end{cases} \times 100\%

    In :math:`[0, 100]` both sources help and the value is the features'
    share (100 = the GNN is no better than the MLP, 0 = no better than label
    propagation); above 100 the neighbourhood hurts (GNN below the MLP);
    below 0 the features hurt (GNN below LP). The three pieces meet
    continuously at 0 and 100. The accuracies may be in percent or fractions,
    as long as all three use the same unit.

    Raises:
        ValueError: a non-finite accuracy; the GNN below *both* the MLP and LP
            (the paper's cases do not cover it); or all three equal (0 / 0).
    """
    z_m, z_l, z_g = float(acc_mlp), float(acc_lp), float(acc_gnn)
    for name, v in (("acc_mlp", z_m), ("acc_lp", z_l), ("acc_gnn", z_g)):
        if not math.isfinite(v):
            raise ValueError(f"{name} must be finite (got {v})")
    d_m, d_l = abs(z_g - z_m), abs(z_g - z_l)
    if z_m > z_g and z_l > z_g:
        raise ValueError(
            f"FCR is undefined when the GNN ({z_g}) is below both the MLP ({z_m}) and label propagation ({z_l})"
        )
    if d_m + d_l == 0:
        raise ValueError(f"FCR is undefined when MLP, LP and GNN accuracies are all equal ({z_g})")
    if z_m > z_g:
        return 100.0 * (1.0 + d_m / (d_m + d_l))
    if z_l > z_g:
        return -100.0 * d_l / (d_m + d_l)
    return 100.0 * d_l / (d_m + d_l)


@torch.no_grad()
def label_propagation(
    y: Tensor,
    edge_index: Tensor,
    train_mask: Tensor,
    num_classes: int = None,
    num_layers: int = 50,
    alpha: float = 0.5,
    unreachable: str = "prior",
) -> Tensor:
    r"""Label propagation (`Zhu & Ghahramani, 2002`; PyG
    :class:`~torch_geometric.nn.models.LabelPropagation`) from the training
    labels: :math:`Y \leftarrow \alpha \hat{A} Y + (1 - \alpha) Y_0`,
    ``num_layers`` times. Defaults as in the Cold Brew code (50 steps,
    :math:`\alpha = 0.5`).

    Args:
        y (Tensor): int64 ``[N]`` labels (``-1`` = unlabelled; only
            ``train_mask`` is read).
        edge_index (Tensor): ``[2, E]``.
        train_mask (Tensor): bool ``[N]``, the seed labels.
        num_classes (int, optional): default ``y[train_mask].max() + 1``.

        unreachable (str): scores of a node with no path to a training node
            (propagation leaves its row all zero): ``"prior"``, the training
            labels' class frequencies (its prediction is then the most common
            training class, the best guess without structure); ``"zero"``, the
            all-zero row of PyG's ``LabelPropagation`` (argmax: class 0, so
            that node's accuracy would be class 0's share, and class ids of
            string labels are alphabetical). (default: ``"prior"``)

    Returns:
        Tensor ``[N, num_classes]`` of class scores.
    """
    if unreachable not in ("prior", "zero"):
        raise ValueError(f"unreachable must be 'prior' or 'zero' (got {unreachable!r})")
    if train_mask.dtype != torch.bool or train_mask.shape != y.shape:
        raise ValueError(f"train_mask must be bool {list(y.shape)} (got {train_mask.dtype} {list(train_mask.shape)})")
    if int(train_mask.sum()) == 0:
        raise ValueError("train_mask selects no node to propagate from")
    if num_classes is None:
        num_classes = int(y[train_mask].max()) + 1
    seeds = torch.zeros(y.numel(), num_classes, device=y.device)
    seeds[train_mask, y[train_mask]] = 1.0  # one_hot() would choke on y == -1
    model = LabelPropagation(num_layers=num_layers, alpha=alpha)
    out = model(seeds, edge_index, mask=train_mask)
    if unreachable == "prior":
        empty = out.sum(-1) == 0
        if bool(empty.any()):
            prior = seeds[train_mask].mean(0)
            out[empty] = prior.to(out.dtype)
    return out
