"""The data manager's review queue: one pair at a time, side by side, with the model's reasons.

Through ``linkage.service.review``, the functions the JSON API uses: the decision goes to the
same log (naming the person), is audited the same way, and binds the next ``linkage link``.
The queue is walked by position: a decided pair leaves it, so the same position then holds the
next pair; "unsure" keeps the pair in the queue and "skip" records nothing, so both move on.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from linkage.errors import Conflict
from linkage.service.review import review_decide, review_list, review_pair
from linkage.service.schemas import ReviewDecisionCreate
from linkage.web.charts import waterfall
from linkage.web.pages.manage import FIELDS, comparison_words, level_words, manager_ctx
from linkage.web.render import NOTE_BOUND, PREFIX, render
from linkage.web.session import StaffDep
from linkage.web.tasks import task

router = APIRouter()
TASK = task("review")
PairId = Annotated[str, Path(pattern=r"^rv-[0-9a-f]{16}$")]
# Which record it is, not evidence about the child: shown, never marked as differing.
CONTEXT_FIELDS = frozenset({"source", "source_record_id", "extract_date"})
CHOICES = {"match": "Match", "not_match": "Not a match", "unsure": "Unsure", "skip": "Skip"}
DONE = {"match": "Recorded: a match. The next linkage run will join these records into one child.",
        "not_match": "Recorded: not a match. The next linkage run will keep these records apart.",
        "unsure": "Recorded: unsure. The pair stays in the queue for someone else to look at.",
        "skip": "Skipped. Nothing was recorded; the pair stays in the queue."}


def _where(position: int, reason: str, done: str = "") -> str:
    query = {"position": position, **({"reason": reason} if reason else {}), **({"done": done} if done else {})}
    return f"{PREFIX}/review?{urlencode(query)}"


def _show(request: Request, staff, position: int, reason: str, done: str = "", errors: dict | None = None,
          note: str = "", status_code: int = 200):
    ctx = manager_ctx(staff, TASK)
    page = review_list(ctx=ctx, reason=reason or None, page=position + 1, page_size=1)
    detail = review_pair(ctx=ctx, pair_id=page.pairs[0].id) if page.pairs else None
    steps = [(comparison_words(s.comparison, short=True), s.match_weight, s.cumulative) for s in detail.waterfall] \
        if detail else []
    errors = errors or {}
    return render(request, "review.html", status_code, detail=detail, total=page.total, position=position,
                  reason=reason, done=DONE.get(done, ""), choices=CHOICES, note=note, errors=errors,
                  summary=[{"text": t, "href": f"#{f}"} for f, t in errors.items()],
                  chart=waterfall(steps) if steps else None, fields=FIELDS, context_fields=CONTEXT_FIELDS, words=(comparison_words, level_words),
                  restart=_where(0, reason))


@router.get("/review")
def review_queue(request: Request, staff: StaffDep,
                 position: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
                 reason: Annotated[str, Query(max_length=100)] = "",
                 done: Annotated[str, Query(max_length=20)] = ""):
    return _show(request, staff, position, reason.strip(), done)


@router.post("/review/{pair_id}")
def review_decision(request: Request, staff: StaffDep, pair_id: PairId,
                    decision: Annotated[str, Form(max_length=20)] = "",
                    note: Annotated[str, Form(max_length=NOTE_BOUND)] = "",
                    position: Annotated[int, Form(ge=0, le=1_000_000)] = 0,
                    reason: Annotated[str, Form(max_length=100)] = "",
                    seen: Annotated[int | None, Form(ge=0)] = None):
    reason = reason.strip()
    if decision not in CHOICES:
        return _show(request, staff, position, reason, errors={"decision": "Select whether the records are "
                                                               "the same child"}, note=note, status_code=400)
    if decision == "skip":
        return RedirectResponse(_where(position + 1, reason, "skip"), 303)
    try:
        body = ReviewDecisionCreate(decision=decision, reviewer=staff.user.name, note=note.strip(), seen_decision=seen)
    except ValidationError as exc:
        problem = exc.errors()[0]["msg"].removeprefix("Value error, ")
        return _show(request, staff, position, reason, errors={"note": f"Check the note: {problem}"}, note=note,
                     status_code=400)
    try:
        review_decide(ctx=manager_ctx(staff, TASK), pair_id=pair_id, body=body, channel="web")
    except Conflict:            # another reviewer, the back button, a form left open: theirs stands
        last = staff.services.decisions.history(pair_id)[-1]
        said = (f"Not recorded: the pair you were deciding was decided while you had it open ({CHOICES[last.decision]}, "
                f"by {last.reviewer} at {last.decided_at[11:16]} UTC). The queue below is as it stands now.")
        return _show(request, staff, position, reason, errors={"decision": said}, note=note, status_code=409)
    # A decided pair leaves the queue, so the next one is at the same position; "unsure" stays in it.
    return RedirectResponse(_where(position + (decision == "unsure"), reason, decision), 303)
