"""Health: NHS Personal Demographics Service (PDS) extracts."""

from __future__ import annotations

from linkage.connectors.base import Connector

__all__ = ["HealthConnector"]


class HealthConnector(Connector):
    source = "health"

    def split_names(self, cells: dict[str, str | None]) -> dict[str, str | None]:
        """PDS sends every given name in one ``name.given``: the first is the forename."""
        given = cells.get("forename")
        if given and cells.get("middle_names") is None:
            first, _, rest = given.strip().partition(" ")
            cells = {**cells, "forename": first, "middle_names": rest.strip() or None}
        return cells
