"""Sparse bag-of-words features as model input.

Cora's features are 1.3% non-zero, CiteSeer's 0.9%: a dense ``[N, F] @ [F, H]``
first layer spends almost all of an epoch multiplying zeros. ``F.linear`` (and
so PyG's ``Linear`` / ``MLP`` / ``GCNConv``) accepts a sparse CSR input and
back-propagates to the dense weight, which on Cora is ~7x faster on one core.
These helpers let the training loops keep one code path for dense and CSR
inputs: :func:`model_input` decides, :func:`take_rows`, :func:`dropout` and
:func:`hcat` do what ``x[idx]``, ``F.dropout`` and ``torch.cat(dim=-1)`` do on
dense tensors.
"""
from __future__ import annotations

import warnings
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

# Convert only matrices this sparse and this large; below that dense is as fast.
MAX_DENSITY = 0.1
MIN_ELEMENTS = 1 << 20
# torch flags every CSR construction as beta; the ops used here are covered by tests.
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")


def is_sparse(x: Tensor) -> bool:
    return x.layout in (torch.sparse_csr, torch.sparse_coo)


def model_input(x: Tensor, max_density: float = MAX_DENSITY,
                min_elements: int = MIN_ELEMENTS) -> Tensor:
    """``x`` as a CSR tensor when it is a large, mostly-zero 2-D float matrix,
    else ``x`` unchanged. Values are identical either way."""
    if is_sparse(x) or x.dim() != 2 or not x.is_floating_point() or x.numel() < min_elements:
        return x
    nnz = int(torch.count_nonzero(x))
    if nnz > max_density * x.numel():
        return x
    return x.to_sparse_csr()


def take_rows(x: Tensor, index: Tensor) -> Tensor:
    """``x[index]`` for a bool mask or int64 index, dense or CSR (CSR stays CSR)."""
    if index.dtype == torch.bool:
        index = index.nonzero().view(-1)
    if not is_sparse(x):
        return x[index]
    coo = x.to_sparse_coo() if x.layout == torch.sparse_csr else x
    return coo.index_select(0, index).to_sparse_csr()


def dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """``F.dropout`` that also drops the stored values of a CSR tensor (the
    zeros it does not store would stay zero under dense dropout too)."""
    if not is_sparse(x):
        return F.dropout(x, p=p, training=training)
    if not training or p == 0.0:
        return x
    x = x if x.layout == torch.sparse_csr else x.to_sparse_csr()
    values = F.dropout(x.values(), p=p, training=True)
    return torch.sparse_csr_tensor(x.crow_indices(), x.col_indices(), values, x.shape,
                                   check_invariants=False)


def hcat(parts: Sequence[Tensor]) -> Tensor:
    """``torch.cat(parts, dim=-1)``; CSR when any part is sparse."""
    if not any(is_sparse(p) for p in parts):
        return torch.cat(list(parts), dim=-1)
    coo = [p.to_sparse_coo() if is_sparse(p) else p.to_sparse() for p in parts]
    return torch.cat(coo, dim=1).coalesce().to_sparse_csr()
