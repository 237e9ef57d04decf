"""Linkage quality for the local authority's data manager.

The run's figures were read when the server started (``Services.figures``, the store being
detached afterwards); precision and recall are worked out on each request from the live
decisions log, so a pair decided a moment ago counts at once.
"""

from __future__ import annotations

from linkage.link.quality import decision_quality
from linkage.service.context import Ctx
from linkage.service.schemas import QualityLabels, QualityMU, QualityReport, QualityRun

__all__ = ["linkage_quality"]

ACTION = "manage_data"
CATEGORIES = ["identity.demographics"]


def linkage_quality(*, ctx: Ctx, threshold: float | None = None) -> QualityReport:
    """Records per source, cluster sizes, the match-weight distribution, m and u by comparison,
    labels-based precision and recall at ``threshold`` (the run's own by default), each run's
    merges and splits. Counts only: no child, record or person is named."""
    allowed = ctx.authorise(ACTION, CATEGORIES)
    f = ctx.services.figures
    at = threshold if threshold is not None else (f.threshold or ctx.services.settings.match_threshold)
    decisions = ctx.services.decisions.all()
    latest = {d.pair_id: d for d in decisions}          # the latest decision on each pair counts
    q = decision_quality(list(latest.values()), at)
    labels = None if q is None else QualityLabels(
        labels=q.labels, matches=q.positives, not_matches=q.negatives, threshold=q.threshold,
        precision=q.precision, recall=q.recall, f1=q.f1, tp=q.tp, fp=q.fp, fn=q.fn, tn=q.tn)
    runs = [QualityRun(**{k: r[k] for k in QualityRun.model_fields}) for r in f.runs]
    report = QualityReport(
        last_run=runs[-1] if runs else None, runs=runs, records_by_source=f.records, children=f.children,
        cluster_sizes=f.cluster_sizes, weight_bins=f.weights, pairs_scored=f.pairs_scored, review_lower=f.lower,
        threshold=f.threshold, labels=labels, decisions=len(decisions),
        m_u=[QualityMU(comparison=x.comparison, level=x.level, m_probability=x.m, u_probability=x.u,
                       match_weight=x.weight) for x in f.mu])
    ctx.record("quality.show", "allow", [], CATEGORIES, sorted(set(allowed.bases())), allowed.policy_version,
               threshold=at)
    return report
