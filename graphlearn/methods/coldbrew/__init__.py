r"""Cold Brew (`Zheng et al., ICLR 2022 <https://openreview.net/forum?id=1ugNpm7W6E>`_)
and the GLNN baseline (`Zhang et al., ICLR 2022 <https://arxiv.org/abs/2110.08727>`_).

* :class:`ColdBrewTeacher` - GCN / GraphSAGE with per-node structural embeddings.
* :class:`ColdBrewStudent` - MLP1 (features -> teacher embedding), virtual
  neighbours, MLP2 (classifier); predicts nodes with no edges, no retraining.
* :func:`train_glnn` / :func:`train_mlp` - MLP distilled from a GNN / plain MLP.
* :func:`feature_contribution_ratio`, :func:`label_propagation` - FCR.
* :func:`save` / :func:`load` - versioned model files (re-exported from :mod:`graphlearn.model_io`).
* :func:`run_coldbrew` with :class:`ColdBrewConfig` - one seed of the experiment.
* :func:`train_update` - a new student compatible with an old one's index (BCT) and predictions (PCT).

See ``docs/coldbrew.md``.
"""

from graphlearn.model_io import FORMAT_VERSION, IncompatibleModelError, load, save

from .fcr import feature_contribution_ratio, label_propagation
from .glnn import MLPClassifier, kd_loss, train_glnn, train_mlp
from .neighbors import VirtualNeighbors, virtual_neighbors
from .run import MODELS, ColdBrewConfig, run_coldbrew
from .student import ColdBrewServing, ColdBrewStudent
from .teacher import ColdBrewTeacher, train_teacher
from .update import UPDATE_MODES, UpdateResult, train_update

__all__ = [
    "ColdBrewTeacher",
    "train_teacher",
    "ColdBrewStudent",
    "ColdBrewServing",
    "virtual_neighbors",
    "VirtualNeighbors",
    "MLPClassifier",
    "kd_loss",
    "train_glnn",
    "train_mlp",
    "feature_contribution_ratio",
    "label_propagation",
    "save",
    "load",
    "IncompatibleModelError",
    "FORMAT_VERSION",
    "ColdBrewConfig",
    "run_coldbrew",
    "MODELS",
    "train_update",
    "UpdateResult",
    "UPDATE_MODES",
]
