"""AP outcomes: what happens to children before, during and after alternative provision.

From the linked record: placements (``placements``), per-placement measures in SQL
(``measures``), a matched comparison (``comparison``), disclosure control tested by attack
(``disclosure``), published tables (``aggregate``), post-16 activity from NCCIS (``nccis``),
the reports (``report``). Definitions: docs/outcomes.md.
"""
