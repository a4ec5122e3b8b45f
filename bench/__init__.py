"""nerbench: a reproducible benchmark harness for named-entity recognition."""

__version__ = "0.1.0"
