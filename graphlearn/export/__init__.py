"""Getting embeddings out of graphlearn: export spaces, export folders with a FAISS index, and the cold-start
endpoint (features of brand-new nodes in; embedding, class and nearest exported nodes out).

See ``docs/export.md``.
"""

from .spaces import STUDENT_SPACES, hidden_vectors, normalize, query_vectors, student_vectors

__all__ = ["STUDENT_SPACES", "hidden_vectors", "normalize", "query_vectors", "student_vectors"]
