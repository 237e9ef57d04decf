"""linkage: link children's records across agencies into one pseudonymous identifier.

The top level reads like the architecture: ``connectors`` read extracts,
``link`` resolves records with Splink, ``identity`` keeps identifiers stable,
``store`` is the one seam to the database, and ``cli`` drives it all.
"""

from linkage.errors import LinkageError, ValidationFailed

__version__ = "0.1.0"
__all__ = ["LinkageError", "ValidationFailed", "__version__"]
