"""GIANT-style multi-scale neighbourhood-prediction pretraining (Chien et al., ICLR 2022). See ``docs/giant.md``.

``save_features`` / ``load_features`` are re-exported from :mod:`graphlearn.features`; ``save_encoder`` /
``load_encoder`` write and read the library's model files (:mod:`graphlearn.model_io`).

>>> result = pretrain(data, {"epochs": 3}, seed=0)
>>> data.x = result.embed(data.x)             # new features for any model of the suite
>>> save_features("out/features.npz", data.x, result.meta("cora"))
"""

from graphlearn.features import FEATURES_FILE, load_features, save_features

from .baselines import linear_neighbourhood_features, propagated_features
from .encoder import LevelHead, MLPEncoder, encode_text
from .export import load_encoder, save_encoder
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
    "FEATURES_FILE",
    "save_encoder",
    "load_encoder",
    "linear_neighbourhood_features",
    "propagated_features",
]
