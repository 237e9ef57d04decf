"""``python -m linkage.cli``: the same command as ``linkage``."""

from linkage.cli import app

if __name__ == "__main__":  # pragma: no cover
    app()
