"""The DPO's overview: access over time, refusals and security events, the chain's status,
and the consent register with its evidence. Each reads the audit index or the registers
through the services, after the policy's ``read_audit`` decision, and is itself audited."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from linkage.audit.signer import load_public_key
from linkage.audit.witness import Witness
from linkage.errors import LinkageError
from linkage.service.consents import _public as consent_public
from linkage.service.context import Ctx
from linkage.service.patterns import epoch, warm as warm_patterns
from linkage.service.schemas import ConsentPublic
from linkage.service.recorded import as_now, named_in
from linkage.service.subject_access import who
from linkage.service.schemas_dpo import (AccessSummary, ChainStatus, Count, DayCount, RegisteredConsent, SecurityEvent,
                                         SecurityEvents)

__all__ = ["REFUSALS", "access_summary", "chain_status", "consent_register", "security_events", "warm", "window"]

REFUSALS = ("deny", "refused")          # policy refusals, and requests refused before any decision
_DECISIONS = ("allow", "withheld", "deny", "refused", "not_found")


def window(days: int, until: datetime | None = None) -> tuple[datetime, datetime]:
    until = until or datetime.now(timezone.utc)
    return until - timedelta(days=days), until


def warm(services, days: int = 30) -> None:
    """Count the pages' default window, and search it for patterns, once when a server starts:
    the counts are kept and brought forward by what is appended, so no DPO's first visit reads
    the whole window. Nothing is shown to anyone, so nothing is audited."""
    agg = services.audit.index.aggregates()
    since, until = window(days)
    s, u = epoch(since), epoch(until)
    agg.counts(["agency", "purpose", "decision"], s, u)
    agg.counts(["quarter", "allowed"], s, u)
    agg.counts(["action", "decision"], s, u, REFUSALS)
    warm_patterns(services, days)


def _allow(ctx: Ctx, what: str, children: list[str] | None = None, **extra):
    d = ctx.authorise("read_audit", ["identity.demographics"], children, **extra)
    ctx.record(what, "allow", children, [], d.bases(), d.policy_version, **extra)
    return d


def _tally(rows, unknown: str = "") -> list[Count]:
    """(key, decision, n) rows -> one Count per key, most first."""
    table: dict[str, Count] = {}
    for key, flag, n in rows:
        c = table.setdefault(key or unknown, Count(key=key or unknown))
        if flag == "allow":
            c.allowed += n
        else:
            c.refused += n
    return sorted(table.values(), key=lambda c: (-c.total, c.key))


def access_summary(*, ctx: Ctx, since: datetime, until: datetime, agency: str | None = None,
                   purpose: str | None = None, decision: str | None = None) -> AccessSummary:
    """Entries per day, organisation, purpose and decision in the window (the council's days),
    counted in SQL by the audit index."""
    _allow(ctx, "audit.summary", since=since.isoformat(), until=until.isoformat())
    tz = ZoneInfo(ctx.services.settings.dpo_timezone)
    agg = ctx.services.audit.index.aggregates()
    s, u = epoch(since), epoch(until)
    # Two reads of the window: by organisation, purpose and decision (filtered here), and by slot.
    groups = agg.counts(["agency", "purpose", "decision"], s, u)
    organisations = sorted({r[0] or "" for r in groups} - {""})
    purposes = sorted({r[1] or "" for r in groups} - {""})
    rows = [r for r in groups if (agency is None or r[0] == agency) and (purpose is None or r[1] == purpose)
            and (decision is None or r[2] == decision)]
    first, last = since.astimezone(tz).date(), until.astimezone(tz).date()
    per_day = {first + timedelta(days=n): DayCount(key=(first + timedelta(days=n)).isoformat(),
                                                   day=first + timedelta(days=n))
               for n in range((last - first).days + 1)}
    for quarter, allowed, n in agg.counts(["quarter", "allowed"], s, u, agency=agency, purpose=purpose,
                                          decision=decision):
        day = per_day.get(datetime.fromtimestamp(int(quarter) * 900, tz).date())
        if day is not None:
            if allowed:
                day.allowed += n
            else:
                day.refused += n
    by_decision: dict[str, int] = {}
    for r in rows:
        by_decision[r[2] or ""] = by_decision.get(r[2] or "", 0) + r[3]
    return AccessSummary(
        since=since, until=until, total=sum(by_decision.values()), days=list(per_day.values()),
        by_organisation=_tally(((r[0], r[2], r[3]) for r in rows), "(unknown: refused before sign-in)"),
        by_purpose=_tally(((r[1], r[2], r[3]) for r in rows), "(none given)"),
        by_decision=[Count(key=k, allowed=n if k == "allow" else 0, refused=0 if k == "allow" else n)
                     for k, n in sorted(by_decision.items(), key=lambda kv: _DECISIONS.index(kv[0])
                                        if kv[0] in _DECISIONS else 99)],
        organisations=organisations, purposes=purposes)


def _event(rec: dict) -> SecurityEvent:
    e = rec["entry"]
    return SecurityEvent(seq=rec["seq"], time=str(e.get("time") or ""), action=str(e.get("action") or ""),
                         decision=str(e.get("decision") or ""), organisation=e.get("agency") or None,
                         person=e.get("person"), client_id=e.get("client_id"), purpose=e.get("purpose"),
                         status=e.get("status"), method=e.get("method"), route=e.get("route"),
                         reason=e.get("reason"), idp_subject=e.get("idp_subject"), remote=e.get("remote"),
                         repeats=e.get("repeats"))


def security_events(*, ctx: Ctx, since: datetime, until: datetime, limit: int = 100) -> SecurityEvents:
    """Policy refusals and refused requests (401, 403, 429, bad input, CSRF, sign-in failures),
    counted by kind over the window, and the latest ``limit`` of them, newest first."""
    _allow(ctx, "audit.security_events", since=since.isoformat(), until=until.isoformat())
    index = ctx.services.audit.index
    refused = index.aggregates().counts(["action", "decision"], epoch(since), epoch(until), REFUSALS)
    by_action = _tally(refused)
    recs = []
    for decision in REFUSALS:
        recs += index.search(limit=limit, newest=True, decision=decision, since=since, until=until)[1]
    events = sorted((_event(r) for r in recs), key=lambda e: -e.seq)[:limit]
    return SecurityEvents(total=sum(r[2] for r in refused), by_action=by_action, events=events)


def _witness(ctx: Ctx) -> tuple[str, list[dict], object, int | None, str | None]:
    """(in words, witnessed checkpoints, the witness's pinned key, its last seq, when)."""
    where = ctx.services.settings.witness_dir
    if where is not None:
        w = Witness(where)
        try:
            pinned, held = w.pinned(), w.checkpoints()
        except (OSError, ValueError) as exc:
            return f"The witness directory {where} cannot be read ({type(exc).__name__}).", [], None, None, None
        if pinned is None:
            return (f"The witness directory {where} has no pinned key: the witness has not run yet.",
                    [], None, None, None)
        if not held:
            return "The witness has pinned the key but kept no checkpoint yet.", [], load_public_key(pinned), None, None
        last = held[-1]
        return (f"The witness outside the service has kept {len(held):,} checkpoints, the last at entry "
                f"{last['seq']}.", held, load_public_key(pinned), last["seq"], last.get("at"))
    index = ctx.services.audit.index
    proofs = index.search(limit=1, newest=True, action="audit.proof", decision="allow")[1]
    if proofs:
        e = proofs[0]["entry"]
        return (f"No witness directory is configured here (LINKAGE_WITNESS_DIR). A witness last asked for the "
                f"proof up to entry {e.get('proof_to')} ({e.get('agency') or e.get('client_id')}).",
                [], None, e.get("proof_to"), e.get("time"))
    return ("No witness has been seen: no witness directory is configured (LINKAGE_WITNESS_DIR) and no "
            "witness has asked for a proof. Run `linkage audit witness` off this server.", [], None, None, None)


def chain_status(*, ctx: Ctx, verify: bool = True) -> ChainStatus:
    """The audit log's chain checked (against the witness's checkpoints too, when configured),
    in words, with the last signed and the last witnessed checkpoint."""
    _allow(ctx, "audit.verify" if verify else "audit.status")
    audit = ctx.services.audit
    said, witnessed, key, wseq, wtime = _witness(ctx)
    problems: list[str] = []
    if verify:
        if key is not None and load_public_key(audit.public_key_pem()).public_bytes_raw() != key.public_bytes_raw():
            problems.append("the service's audit key is not the key the witness pinned: the log may have been "
                            "re-signed")
        try:
            problems += [str(p) for p in audit.verify([], witnessed, key)]
        except LinkageError as exc:
            problems.append(str(exc))
    entries, cps = audit.head(), audit.checkpoints()
    last = audit.last_checkpoint()
    if not verify:
        summary = "Not checked on this visit."
    elif problems:
        summary = (f"The audit log has been altered: {len(problems):,} problem{'s' if len(problems) != 1 else ''} "
                   "found. Do not rely on it until the cause is known; see below where the chain breaks.")
    else:
        summary = (f"The audit log is intact: all {entries:,} entries chain together and every one of its "
                   f"{len(cps):,} signed checkpoints is valid.")
    return ChainStatus(ok=verify and not problems, summary=summary, entries=entries, checkpoints=len(cps),
                       problems=problems, last_checkpoint_seq=last["seq"] if last else None,
                       last_checkpoint_time=last.get("at") if last else None, witness=said,
                       witnessed_seq=wseq, witnessed_time=wtime)


def consent_register(*, ctx: Ctx, category: str | None = None, provision: str | None = None,
                     status: str | None = None) -> list[RegisteredConsent]:
    """Every consent with its evidence (who gave it, how, the evidence reference, which the policy
    opens to the DPO for audit), filtered; children by the DPO's organisation's pseudonym."""
    services = ctx.services
    d = ctx.authorise("read_consent", ["identity.demographics"], context={
        "recipient_type": "", "caller_is_recipient": False, "recorded_by_caller": False})
    today = date.today()
    recs = [r for r in services.consents.all(category=category, provision=provision)
            if status is None or r.status(today) == status]
    shown = []
    for rec in recs:
        context = services.consents.consent_context(ctx.caller, rec.recipient, rec)
        cats = services.consents.expand(rec.category)
        if services.policy.decide(ctx.caller, "read_consent", ctx.purpose or "", cats, context=context).any:
            evidence = services.policy.decide(ctx.caller, "read_consent_evidence", ctx.purpose or "", cats,
                                              context=context).any
            shown.append((rec, evidence))
    # Each child as it is now (``service.recorded``); a refusal follows a split, a permit does not.
    nows = as_now(services, [(r.child_id, r.recorded_at, r.provision == "deny") for r, _ in shown])
    ctx.record("consent.register", "allow", named_in([r.child_id for r, _ in shown], nows),
               [f"consent:{r.consent_id}" for r, _ in shown], d.bases(), d.policy_version,
               filters={"category": category, "provision": provision, "status": status})
    forms = ctx.pseudonyms([c for n in nows for c in (n.child_id, n.recorded_as, *n.split_since) if c])
    return [_named(services, RegisteredConsent(
                **consent_public(r, forms[now.child_id], evidence).model_dump(),
                recorded_as=forms[now.recorded_as] if now.recorded_as else None,
                also_for=[forms[c] for c in now.split_since]))
            for (r, evidence), now in zip(shown, nows)]


def _named(services, c: ConsentPublic) -> ConsentPublic:
    """Organisations by name and recorders as people or named systems, for a person to read."""
    def org(org_id: str) -> str:
        found = services.clients.orgs.get(org_id)
        return found.name if found else org_id

    recipient = {k: org(v) if k == "organisation" else v for k, v in c.recipient.items()}
    recorder = c.recorded_by.model_copy(update={"organisation": org(c.recorded_by.organisation),
                                                "client_id": who(services, None, c.recorded_by.client_id)})
    return c.model_copy(update={"recipient": recipient, "recorded_by": recorder})
