"""simsearch: embedding-based similarity search with siamese towers, FAISS and a pairwise re-ranker.

`import simsearch` stays light: it does not import TensorFlow. The Keras parts live in
`simsearch.models` and are imported on first use.
"""

from __future__ import annotations

from simsearch.errors import ConfigError, DataError, ModelDirError, SimsearchError

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DataError",
    "ModelDirError",
    "SimsearchError",
    "__version__",
]
