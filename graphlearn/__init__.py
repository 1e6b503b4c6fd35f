"""graphlearn: graph representation learning for cold-start and tail nodes."""

__version__ = "0.1.0"
