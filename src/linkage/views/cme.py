"""Children missing education: known to social care or health, on no school roll."""

from __future__ import annotations

from datetime import date

from linkage.connectors.ingest import CURRENT_RECORDS_SQL
from linkage.store import Store
from linkage.store.schema import t

__all__ = ["cme_children", "cme_sql"]


def cme_sql(on: date, min_age: int = 5, max_age: int = 16) -> tuple[str, list]:
    """Children of compulsory school age with no open enrolment in the current extracts."""
    sql = f"""
WITH cur AS ({CURRENT_RECORDS_SQL}),
linked AS (SELECT i.child_id, c.* FROM cur c JOIN {t('identity')} i USING (record_key)),
ages AS (
  SELECT child_id, max(date_of_birth) AS dob FROM linked GROUP BY child_id
),
open_enrolment AS (
  SELECT DISTINCT l.child_id FROM linked l
  JOIN {t('edu_enrolment')} e ON e.record_key = l.record_key AND e.extract_id = l.extract_id
  WHERE e.leaving_date IS NULL OR e.leaving_date > ?
),
known AS (SELECT DISTINCT child_id FROM linked WHERE source IN ('social_care', 'health'))
SELECT k.child_id FROM known k JOIN ages a USING (child_id)
WHERE date_diff('year', a.dob, ?::DATE) - CASE WHEN strftime(a.dob, '%m%d') > strftime(?::DATE, '%m%d')
      THEN 1 ELSE 0 END BETWEEN ? AND ?
  AND k.child_id NOT IN (SELECT child_id FROM open_enrolment)
ORDER BY k.child_id
"""
    return sql, [on, on, on, min_age, max_age - 1]


def cme_children(store: Store, on: date) -> list[str]:
    sql, params = cme_sql(on)
    return [r[0] for r in store.rows(sql, params)]
