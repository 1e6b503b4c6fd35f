"""The evaluation protocols by name: the one definition of what ``coldstart``, ``standard`` and ``inductive`` mean
(docs/protocols.md). Every job (``train``, ``coldbrew``, ``pretrain``'s hold-out) applies them through
:func:`apply_protocol`."""

from __future__ import annotations

from torch_geometric.data import Data

from .splits import ColdStartSplit, InductiveSplit, degree_groups

__all__ = ["PROTOCOLS", "apply_protocol", "coldstart_seed"]

PROTOCOLS = ("coldstart", "standard", "inductive")


def coldstart_seed(data: Data, seed: int, fixed: int | None = None) -> int:
    """The cold-start split seed: pretrained features that held out a split's isolated edges fix it (their
    ``data.features_meta["coldstart_split_seed"]``), else ``fixed`` (``--split-seed``) when given, else ``seed``.

    Raises:
        ValueError: ``fixed`` differs from the split held out of pretraining (its isolated nodes' edges were seen).
    """
    meta = getattr(data, "features_meta", None) or {}
    held_out = meta.get("coldstart_split_seed")
    if held_out is None:
        return seed if fixed is None else int(fixed)
    if fixed is not None and int(fixed) != int(held_out):
        raise ValueError(
            f"--split-seed {fixed} differs from the cold-start split seed {held_out} held out of "
            f"pretraining for these features; the isolated nodes' edges would have been seen"
        )
    return int(held_out)


def apply_protocol(data: Data, protocol: str, seed: int = 0, split_seed: int | None = None) -> Data:
    """The graph every model sees under ``protocol``, with its group masks:

    * ``coldstart``: Cold Brew's head / tail / isolated split (:class:`ColdStartSplit`, seed by :func:`coldstart_seed`);
      the isolated nodes lose their edges;
    * ``standard``: the graph untouched, groups by degree (:func:`degree_groups`);
    * ``inductive``: GLNN's protocol (:class:`InductiveSplit` on top of the degree groups): 20 % of the test nodes
      and their edges held out of training, ``tran`` / ``ind`` groups.

    Raises:
        ValueError: an unknown protocol (the message lists the valid ones).
    """
    if protocol == "coldstart":
        return ColdStartSplit(seed=coldstart_seed(data, seed, split_seed))(data)
    if protocol == "standard":
        return degree_groups(data, seed=seed)
    if protocol == "inductive":
        return InductiveSplit(seed=seed)(degree_groups(data, seed=seed))
    raise ValueError(f"unknown protocol {protocol!r}; choose one of {list(PROTOCOLS)}")
