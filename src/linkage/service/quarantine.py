"""The data manager works the quarantine: list it, and export it for the agency to fix.

The server holds the quarantine as it stood at start-up (the store is detached
after start-up); answers carry ``as_of``, when the newest extract then was ingested.
"""

from __future__ import annotations

from linkage.service.context import Ctx
from linkage.service.schemas import QuarantineCount, QuarantineItem, QuarantinePage, QuarantineSummary
from linkage.safetext import csv_text
from linkage.views.quarantine import (REASON_CODES, QuarantineFilter, export_rows, quarantine_as_of,
                                      quarantine_rows)

__all__ = ["export_quarantine", "list_quarantine", "quarantine_summary"]

# What a listing and an export reveal, for the audit log.
_LISTED = ["source", "file_name", "line_no", "record_id", "column", "reason"]
_EXPORTED = [*_LISTED, "value"]


def _children(rows) -> list[str]:
    """The linked children whose rows are shown: each sees it in their subject access report."""
    return sorted({r.child_id for r in rows if r.child_id})


def _authorise(ctx: Ctx):
    return ctx.authorise("manage_data", ["identity.demographics"])


def list_quarantine(*, ctx: Ctx, source: str | None = None, reason: str | None = None, extract: str = "current",
                    page: int = 1, page_size: int = 50) -> QuarantinePage:
    decision = _authorise(ctx)
    wanted = QuarantineFilter(source, reason, extract)
    cur = ctx.services.cursor()
    total, rows = quarantine_rows(cur, wanted, memory=True, limit=page_size, offset=(page - 1) * page_size)
    ctx.record("quarantine.list", "allow", _children(rows), _LISTED, decision.bases(), decision.policy_version,
               filters={"source": source, "reason": reason, "extract": extract}, rows=len(rows))
    items = [QuarantineItem(ref=r.ref, source=r.source, file_name=r.file_name, line_no=r.line_no,
                            record_id=r.record_id, column=r.column, reason=r.reason, reason_code=r.reason_code,
                            severity=r.severity, current=r.current) for r in rows]
    return QuarantinePage(total=total, page=page, page_size=page_size, as_of=quarantine_as_of(cur, memory=True),
                          items=items)


def export_quarantine(*, ctx: Ctx, source: str | None = None, reason: str | None = None,
                      extract: str = "current") -> tuple[str, int]:
    """CSV for the agency that supplied the extract (cells neutralised), and its row count."""
    decision = _authorise(ctx)
    _, rows = quarantine_rows(ctx.services.cursor(), QuarantineFilter(source, reason, extract), memory=True,
                              with_value=True)
    header, body = export_rows(rows)
    ctx.record("quarantine.export", "allow", _children(rows), _EXPORTED, decision.bases(), decision.policy_version,
               filters={"source": source, "reason": reason, "extract": extract}, rows=len(body))
    return csv_text(header, body), len(body)


def quarantine_summary(*, ctx: Ctx) -> QuarantineSummary:
    """The current quarantine counted by source and reason: where to start, and whom to ask."""
    decision = _authorise(ctx)
    cur = ctx.services.cursor()
    _, rows = quarantine_rows(cur, QuarantineFilter(), memory=True)
    lines: dict[tuple[str, str], set] = {}
    problems: dict[tuple[str, str], int] = {}
    for r in rows:
        key = (r.source, r.reason_code)
        lines.setdefault(key, set()).add((r.file_name, r.line_no))
        problems[key] = problems.get(key, 0) + 1
    counts = [QuarantineCount(source=s, reason_code=code, meaning=REASON_CODES.get(code, ("", "another problem"))[1],
                              rows=len(lines[(s, code)]), problems=problems[(s, code)])
              for s, code in sorted(lines, key=lambda k: (k[0], -len(lines[k]), k[1]))]
    ctx.record("quarantine.summary", "allow", [], ["source", "reason"], decision.bases(), decision.policy_version,
               rows=len(rows))
    return QuarantineSummary(as_of=quarantine_as_of(cur, memory=True),
                             rows=len({(r.file_name, r.line_no) for r in rows}), problems=len(rows), counts=counts)
