"""What the data manager's quality page shows of the last run, read from the store once.

The API server runs with the store detached, so these figures are taken at start-up, like the
review queue; they describe the last ``linkage link`` run until the server restarts. The
labels-based precision and recall are not here: they come from the live decisions log
(``linkage.link.quality.decision_quality``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from linkage.store import Store
from linkage.store.schema import t

__all__ = ["CLUSTER_BINS", "LinkFigures", "MU", "link_figures"]

CLUSTER_BINS = ("1", "2", "3", "4", "5 to 9", "10 or more")


@dataclass(frozen=True)
class MU:
    """One level of one comparison of the model: how often it is seen among matches (m) and
    among non-matches (u), and the match weight that gives (log2 m/u)."""

    comparison: str
    level: str
    m: float | None
    u: float | None
    weight: float | None


@dataclass
class LinkFigures:
    run: dict | None = None                                    # the last run: id, when, mode, counts
    runs: list[dict] = field(default_factory=list)              # every run: merges and splits each time
    records: dict[str, int] = field(default_factory=dict)       # source -> records linked
    children: int = 0
    cluster_sizes: dict[str, int] = field(default_factory=dict)  # CLUSTER_BINS -> children
    weights: list[tuple[int, int]] = field(default_factory=list)  # (weight bin start, pairs), 2-wide bins
    pairs_scored: int = 0
    lower: float | None = None                                  # pairs kept down to this probability
    threshold: float | None = None
    mu: list[MU] = field(default_factory=list)


def _bin(size: int) -> str:
    return str(size) if size <= 4 else "5 to 9" if size < 10 else "10 or more"


def _mu(settings_json: str) -> list[MU]:
    out = []
    for comparison in json.loads(settings_json).get("comparisons", []):
        name = comparison.get("output_column_name") or comparison.get("comparison_description", "")
        for level in comparison.get("comparison_levels", []):
            if level.get("is_null_level"):
                continue
            m, u = level.get("m_probability"), level.get("u_probability")
            weight = math.log2(m / u) if m and u else None
            out.append(MU(name, level.get("label_for_charts", ""), m, u, weight))
    return out


def link_figures(store: Store, lower: float | None = None) -> LinkFigures:
    """Records per source, cluster sizes, the match-weight distribution of the pairs the run kept,
    m and u by comparison, and each run's merges and splits."""
    f = LinkFigures(lower=lower)
    runs = store.rows(f"SELECT run_id, finished_at, mode, records, children, new_ids, merges, splits, "
                      f"review_pairs, threshold FROM {t('runs')} WHERE finished_at IS NOT NULL ORDER BY run_id")
    names = ("run_id", "finished_at", "mode", "records", "children", "new_ids", "merges", "splits",
             "review_pairs", "threshold")
    f.runs = [dict(zip(names, r)) for r in runs]
    if not f.runs:
        return f
    f.run = f.runs[-1]
    f.threshold = f.run["threshold"]
    f.records = {s: int(n) for s, n in store.rows(
        f"SELECT split_part(record_key, ':', 1), count(*) FROM {t('identity')} GROUP BY 1 ORDER BY 1")}
    sizes = store.rows(f"SELECT n, count(*) FROM (SELECT count(*) AS n FROM {t('identity')} GROUP BY child_id) "
                       "GROUP BY n ORDER BY n")
    f.cluster_sizes = dict.fromkeys(CLUSTER_BINS, 0)
    for size, children in sizes:
        f.cluster_sizes[_bin(int(size))] += int(children)
    f.children = sum(f.cluster_sizes.values())
    f.weights = [(int(b), int(n)) for b, n in store.rows(
        f"SELECT 2 * floor(match_weight / 2), count(*) FROM {t('link_edges')} WHERE match_weight IS NOT NULL "
        "GROUP BY 1 ORDER BY 1")]
    f.pairs_scored = sum(n for _, n in f.weights)
    model = store.rows(f"SELECT settings_json FROM {t('model')} ORDER BY created_at DESC LIMIT 1")
    f.mu = _mu(model[0][0]) if model else []
    return f
