"""One brand-new node at a time: the Cold Brew student's forward pass for a single row, in NumPy.

A request for one new node is a few dozen tiny tensor operations (two small MLPs, one search among the candidates),
and at that size their cost is the framework's per-operation overhead, not arithmetic: on Cora the torch path
spends about 0.35-0.7 ms per node, most of it dispatch, for about 0.23 MFLOP of work. This module runs the same
arithmetic on the student's own parameters and buffers (NumPy views of the candidate keys and embeddings; the layer
weights are copied once, transposed, a few MB) with about thirty NumPy calls. It is used by
:meth:`ColdBrewStudent.logits` and the export endpoint whenever exactly one node is asked for
(``benchmarks/results/coldbrew_inference.md``); batches keep the torch path.

The numbers are those of the torch path up to float rounding (the products sum in another order), with one caveat
that both paths share: when several candidates tie exactly at the ``k``-th virtual neighbour's score, which of them
is taken is the implementation's choice (here ``numpy.argpartition``, there ``torch.topk``), so on such rows the
aggregate, and the logits, can differ. One at a time and in a batch, the classes of the benchmark's 200 held-out Cora
nodes agree on every node (``benchmarks/results/coldbrew_inference.md``); ``tests/methods/coldbrew/test_onerow.py``
checks the logits against the batch path.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from graphlearn import sparse


def _mlp_arrays(mlp) -> list[tuple[np.ndarray, np.ndarray | None]] | None:
    """``[(W^T [in, out] contiguous, bias)]`` per layer of a PyG MLP this module can run (ReLU after every layer
    but the last, identity norms), or ``None``."""
    if not isinstance(mlp.act, torch.nn.ReLU) or mlp.act_first or not mlp.plain_last:
        return None
    if not all(isinstance(n, torch.nn.Identity) for n in mlp.norms):
        return None
    layers = []
    for lin in mlp.lins:
        w = lin.weight.detach()
        if w.dtype != torch.float32 or w.device.type != "cpu":
            return None
        layers.append((w.t().contiguous().numpy(), None if lin.bias is None else lin.bias.detach().numpy()))
    return layers


def _rest(layers, h: np.ndarray) -> np.ndarray:
    """The layers after the first of an MLP (ReLU before each)."""
    for w, b in layers[1:]:
        h = np.maximum(h, 0, out=h) @ w
        if b is not None:
            h += b
    return h


def _softmax(h: np.ndarray) -> np.ndarray:
    e = np.exp(h - h.max())
    return e / e.sum()


class OneRow:
    """A trained student's forward pass for one row of features (see the module docstring).

    Built by :meth:`ColdBrewStudent._one_row`, which rebuilds it when the parameters or the teacher side change;
    :attr:`eligible` is ``False`` (and the caller keeps the torch path) for students it does not cover: float64 or
    non-CPU parameters, other activations or norms.

    The feature columns of MLP1's and MLP2's first layers are stored side by side (``[d, h1 + h2]``), so one
    gather of the row's stored entries and one product give both (about 30 NumPy calls per node in all; at this
    size each call, not the arithmetic, is the cost)."""

    def __init__(self, student):
        self.versions = student._one_row_versions()
        self.mlp1, self.mlp2 = _mlp_arrays(student.mlp1), _mlp_arrays(student.mlp2)
        self.space = student._search_space()
        # the blend of a new node (no edges): the feature head's and the label memory's no-edge weights
        heads = [_mlp_arrays(h) for h in student.heads()]
        self.mlp3 = heads if heads and all(h is not None for h in heads) else None
        self.head_weight = student.feature_head if student.mlp3 is not None else 0.0
        self.memory_weight = student.memory_weight
        labels = student._buffers.get("candidate_labels") if student.has_memory else None
        self.labels = labels.detach().numpy() if labels is not None and labels.dtype == torch.float32 else None
        self.blended = student.mlp3 is not None or student.has_memory
        # a student with CSR candidate keys, or layers / buffers this pass cannot run, keeps the torch path
        self.eligible = (
            self.mlp1 is not None
            and self.mlp2 is not None
            and (student.mlp3 is None or self.mlp3 is not None)
            and (not student.has_memory or self.labels is not None)
            and not sparse.is_sparse(self.space[1])
        )
        if not self.eligible:
            return
        d = student.in_channels
        (w1, self.b1), (w2, self.b2) = self.mlp1[0], self.mlp2[0]
        self.h1 = w1.shape[1]
        self.w_x = np.ascontiguousarray(np.concatenate([w1, w2[:d]], axis=1))  # [d, h1 + h2]
        self.w_az = np.ascontiguousarray(w2[d:])  # [2e, h2]: MLP2's aggregate and MLP1-output columns
        cand, keys, metric, ann = self.space
        self.cand = cand.detach().numpy()  # [c, e] standardised teacher embeddings of the candidates
        self.keys_t = keys.detach().t().numpy()  # [d or e, c], contiguous (stored transposed, see _search_space)
        self.sq_keys = (keys.detach() ** 2).sum(-1).numpy() if metric == "l2" else None
        self.metric, self.ann = metric, ann
        self.k, self.inv_temperature = student.k, 1.0 / float(student.temperature)
        self.query, self.cos = student.query, student.metric == "cos"
        self.d = d

    def _search(self, q: np.ndarray, nz: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, candidate rows) of the ``k`` best candidates for the query ``q`` (its entries at the features
        ``nz`` when given)."""
        if self.ann is not None:
            if nz is not None:  # the index searches dense vectors
                dense = np.zeros(self.d, dtype=q.dtype)
                dense[nz] = q
                q = dense
            scores, index = self.ann.search(torch.from_numpy(q[None]), self.k)
            return scores[0].numpy(), index[0].numpy()
        s = q @ (self.keys_t if nz is None else self.keys_t[nz])
        if self.metric == "l2":  # -|q - c|^2
            s = 2 * s - self.sq_keys - float(q @ q)
        if self.k < s.size:
            # the k largest, in no order (partitioning -s at k - 1 is several times faster here than s at c - k)
            index = np.argpartition(-s, self.k - 1)[: self.k]
            return s[index], index
        return s, np.arange(s.size)

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(MLP1 output [e], logits [C])`` of one float32 row ``x [d]`` (already checked by the caller)."""
        z, logits, blended = self.outputs(x)
        return z, blended

    def outputs(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(MLP1 output [e], MLP2 logits [C], the student's logits [C])`` of one float32 row ``x [d]``: the last
        two differ when the student blends (feature head, label memory)."""
        nz = None
        if self.d >= sparse.MIN_COLUMNS:  # the CSR rule of sparse.model_input: gather the stored entries only
            cols = x.nonzero()[0]
            if cols.size <= sparse.MAX_DENSITY * self.d:
                nz = cols
        v = x if nz is None else x[nz]  # the row's stored entries (all of it when dense)
        hx = v @ (self.w_x if nz is None else self.w_x[nz])  # both first layers' feature terms
        h = hx[: self.h1]
        if self.b1 is not None:
            h += self.b1
        z = _rest(self.mlp1, h)
        q, qnz = (v, nz) if self.query == "features" else (z, None)
        if self.cos:
            q = q / max(float(np.sqrt(q @ q)), 1e-12)
        scores, index = self._search(q, qnz)
        w = np.exp((scores - scores.max()) * self.inv_temperature)
        agg = ((w @ self.cand[index]) / w.sum()).astype(np.float32, copy=False)
        h = hx[self.h1 :] + np.concatenate([agg, z]) @ self.w_az
        if self.b2 is not None:
            h += self.b2
        logits = _rest(self.mlp2, h)
        if not self.blended:
            return z, logits, logits
        return z, logits, self._blend(logits, v, nz, w / w.sum(), index)

    def _blend(self, logits: np.ndarray, v: np.ndarray, nz, weights: np.ndarray, index: np.ndarray) -> np.ndarray:
        """The log of the blended class probabilities of a new node (ColdBrewStudent._blend, then _memory_blend)."""
        if self.mlp3 is not None:
            outs = []
            for layers in self.mlp3:  # the feature heads: their probabilities' mean
                w3, b3 = layers[0]
                h3 = v @ (w3 if nz is None else w3[nz])
                if b3 is not None:
                    h3 = h3 + b3
                outs.append(_rest(layers, h3))
            if len(outs) == 1 and self.head_weight == 1.0 and self.memory_weight == 0.0 and self.labels is None:
                head = outs[0]
                return (head - head.max() - np.log(np.exp(head - head.max()).sum())).astype(np.float32)
            head_p = _softmax(outs[0]) if len(outs) == 1 else sum(_softmax(o) for o in outs) / len(outs)
            probs = (1 - self.head_weight) * _softmax(logits) + self.head_weight * head_p
        else:
            probs = _softmax(logits)
        if self.labels is not None:
            probs = (1 - self.memory_weight) * probs + self.memory_weight * (weights @ self.labels[index])
        return np.log(np.maximum(probs, 1e-30)).astype(np.float32)

    def __call__(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """:meth:`outputs` as ``[1, ·]`` tensors for a ``[1, d]`` float32 tensor."""
        return tuple(torch.from_numpy(a[None]) for a in self.outputs(x.detach().numpy()[0]))
