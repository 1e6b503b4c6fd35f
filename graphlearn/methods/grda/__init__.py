"""Graph-relational domain adaptation (GRDA, Xu et al., ICLR 2022) and its baselines (source-only, DANN).

Quick use::

    from graphlearn.data.grda import load_grda
    from graphlearn.methods.grda import AdaptConfig, fit

    ds = load_grda("dg15")
    result = fit("grda", ds, AdaptConfig(epochs=200), seed=0)
    print(result.overall)   # mean target-domain accuracy (%)
"""

from .baselines import DANN, SourceOnly
from .graph import graph_reconstruction_loss, sample_domain_subgraph, spectral_embedding, subgraph_pairs
from .method import GRDA, AdaptationMethod
from .models import DomainClassifier, DomainEncoder, GradientReversal, GraphDiscriminator, Predictor
from .trainer import METHODS, AdaptConfig, AdaptResult, build_method, domain_embedding, evaluate, fit

__all__ = [
    "AdaptConfig",
    "AdaptResult",
    "AdaptationMethod",
    "DANN",
    "DomainClassifier",
    "DomainEncoder",
    "GRDA",
    "GradientReversal",
    "GraphDiscriminator",
    "METHODS",
    "Predictor",
    "SourceOnly",
    "build_method",
    "domain_embedding",
    "evaluate",
    "fit",
    "graph_reconstruction_loss",
    "sample_domain_subgraph",
    "spectral_embedding",
    "subgraph_pairs",
]
