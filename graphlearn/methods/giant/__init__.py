"""GIANT-style multi-scale neighbourhood-prediction pretraining (Chien et al., ICLR 2022). See ``docs/giant.md``.

>>> result = pretrain(data, {"epochs": 3}, seed=0)
>>> data.x = result.embed(data.x)             # new features for any model of the suite
>>> save_features("out/features.npz", data.x, result.meta("cora"))
"""

from .baselines import linear_neighbourhood_features, propagated_features
from .encoder import LevelHead, MLPEncoder, encode_text
from .export import load_encoder, load_features, save_encoder, save_features
from .label_tree import LabelTree, adjacency, build_label_tree, level_targets, pifa_embeddings
from .trainer import GiantConfig, PretrainResult, candidate_blocks, pretrain

__all__ = [
    "GiantConfig",
    "PretrainResult",
    "pretrain",
    "candidate_blocks",
    "LabelTree",
    "adjacency",
    "build_label_tree",
    "level_targets",
    "pifa_embeddings",
    "MLPEncoder",
    "LevelHead",
    "encode_text",
    "save_features",
    "load_features",
    "save_encoder",
    "load_encoder",
    "linear_neighbourhood_features",
    "propagated_features",
]
