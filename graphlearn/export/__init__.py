"""Getting embeddings out of graphlearn: export spaces, export folders with a FAISS index, and the cold-start
endpoint (features of brand-new nodes in; embedding, class and nearest exported nodes out).

* :mod:`~graphlearn.export.spaces` - which vector each node gets (standardised, unit norm, cosine).
* :func:`export_embeddings` - a trained model's vectors for every node, as an export folder.
* :func:`write_export` / :func:`read_export` - the folder: NumPy, Parquet, ids, FAISS index, metadata.
* :class:`ColdStartEndpoint` - answers queries for new nodes from an export folder.

See ``docs/export.md``.
"""

from .endpoint import Answer, ColdStartEndpoint, EndpointInputError, preprocess
from .exporter import EXPORT_MODELS, export_embeddings, node_vectors
from .index import INDEX_KINDS, build_index, read_index
from .spaces import STUDENT_SPACES, hidden_vectors, normalize, query_vectors, student_vectors
from .store import Export, ExportError, read_export, write_export

__all__ = [
    "Answer",
    "ColdStartEndpoint",
    "EndpointInputError",
    "EXPORT_MODELS",
    "Export",
    "ExportError",
    "INDEX_KINDS",
    "STUDENT_SPACES",
    "build_index",
    "export_embeddings",
    "hidden_vectors",
    "node_vectors",
    "normalize",
    "preprocess",
    "query_vectors",
    "read_export",
    "read_index",
    "student_vectors",
    "write_export",
]
