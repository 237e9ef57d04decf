"""One release for every outcomes request: each hidden small count certified by a move.

A reader can ask for every breakdown, for all years and for each cohort, and an AP leader
knows its own pupils; protecting each table on its own let those be differenced
(docs/outcomes.md, "Disclosure control"). So every figure any request can show is decided
here once, from all placements, and a request only selects figures.

A *figure* is a count of placements matching some attribute values (group, cohort, a
table's column): the same set of children is one figure wherever it appears, so it is
shown or hidden everywhere alike. The attacker is assumed to know every shown figure
exactly (before rounding), that a hidden one is at least 1, how figures add up, and, for
an AP leader, every attribute of its own pupils.

Protection is by certificate rather than by search over linear programmes: for every
figure holding 1 to the rule's small count of children a reader does not know, the release
finds a *move*, one child's attribute changed, one attribute swapped between two children,
or (for a small group whose children each hold a value nobody else in it has) one child
taking another's whole record, never the reader's own pupils, under which every shown figure
stays exactly as shown, and hides whatever else the move would change. A move that would
change a shown zero or take a hidden figure to 0 is not used; one that would hide a headline
only when nothing else will do; with none at all the figure is counted in ``uncertified``. The moved population is a real
population consistent with everything published in which the figure differs, so no
attacker, however it solves the equations, can pin it. A swap is the hypercube method's
2 x 2 box of cells seen in every table at once. Hiding more never breaks an earlier
certificate, so one pass suffices; the cost is a few array scans per small figure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import product

import numpy as np
import pandas as pd

from linkage.outcomes.disclosure import CIN, SUPPRESSED, Rule
from linkage.outcomes.measures import MEASURES, RATES

__all__ = ["BREAKDOWNS", "COUNT", "NEXT_PLACES", "PROPORTIONS", "RATED", "RATE_SUM", "Release", "STATES", "TABLES",
           "TYPES", "TYPE_WORDS"]

BREAKDOWNS = ("setting", "placement_type", "cohort", "age_band", "sen_status", "social_care")
NEXT_PLACES = ("mainstream school", "another AP setting", "special or other school",
               "post-16 education, employment or training", "not in education, employment or training",
               "no school place known", "not yet known", "still placed")
PROPORTIONS = [m for m in MEASURES if m not in RATES]
STATES = ("yes", "no", "not yet known")
TYPES = ("short", "long", "new")
# Each placement type as a page says it (docs/outcomes.md "Placement type"); the CSV keeps the codes.
TYPE_WORDS = {"short": "Short (ended within 12 weeks)", "long": "Long (12 weeks or more)",
              "new": "New (open, under 12 weeks)"}
# Published tables sharing the placements as their rows: key -> (column attribute, columns).
TABLES = {"placements": ("placement_type", TYPES), **{m: (m, STATES) for m in PROPORTIONS},
          "next_place": ("next_place", NEXT_PLACES)}
RATED = tuple(f"has_{r}" for r in RATES)     # attendance: 1 when the child has that rate
COUNT, RATE_SUM = 0, 1                        # figure kinds: children, or rates known (attendance totals)
UNKNOWN = "unknown"
HEADLINE_COST = 10_000         # a cohort's headline is hidden only when nothing else will do (all years': last)

Key = tuple                                    # (kind, ((attribute index, code), ...))


def _frame(df: pd.DataFrame) -> pd.DataFrame:
    """The attributes every figure is made of, as text; a missing value is its own group."""
    out = pd.DataFrame(index=df.index)
    for a in BREAKDOWNS:
        out[a] = df[a].astype("string").fillna(UNKNOWN) if a in df else UNKNOWN
    for m in PROPORTIONS:
        s = df[m] if m in df else pd.Series(None, index=df.index, dtype=object)
        out[m] = s.map(lambda v: "yes" if v == 1 else ("no" if v == 0 else "not yet known"))
    out["next_place"] = df["next_place"].astype("string").fillna("not yet known") if "next_place" in df \
        else "not yet known"
    for r, h in zip(RATES, RATED):
        out[h] = (df[r].notna() if r in df else pd.Series(False, index=df.index)).astype(int).astype(str)
    out["urn"] = df["urn"].astype("string").fillna(UNKNOWN) if "urn" in df else UNKNOWN
    return out


@dataclass
class _Move:
    cost: int
    urns: frozenset
    changed: dict
    records: list                 # (old record or None: one more child, new record) codes, per child


@dataclass
class Release:
    """Every figure of every breakdown and cohort, decided together (built from all placements)."""

    df: pd.DataFrame
    rule: Rule = CIN
    values: dict = field(init=False)
    hidden: set = field(init=False)
    uncertified: int = field(init=False, default=0)
    failed: list = field(init=False, default_factory=list)
    # The proof: every move made, as (URNs whose pupils it uses, [(old record or None, new record)]).
    moves: list = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        f = self.frame = _frame(self.df)
        self.attrs = [*BREAKDOWNS, *PROPORTIONS, "next_place", *RATED]
        self.index = {a: i for i, a in enumerate(self.attrs)}
        self.codes = {a: {v: k for k, v in enumerate(sorted(f[a].unique()))} for a in self.attrs}
        for h in RATED:      # "1" must be a code even when nobody has the rate
            self.codes[h] = {"0": 0, "1": 1}
        coded = pd.DataFrame({a: f[a].map(self.codes[a]).astype(np.int32) for a in self.attrs})
        coded["urn"] = f["urn"]
        sig = coded.groupby([*self.attrs, "urn"], sort=False).size().rename("n").reset_index()
        self.matrix = sig[self.attrs].to_numpy(dtype=np.int32)
        self.urns = sig["urn"].to_numpy(dtype=object)
        self.counts = sig["n"].to_numpy()
        self._patterns()
        # The URNs of each kind of setting, largest first (where a child moved to that kind may go).
        by_urn = sig.groupby(["setting", "urn"])["n"].sum().sort_values(ascending=False).reset_index()
        self.urns_of: dict[int, list] = {}
        for k, u in zip(by_urn["setting"], by_urn["urn"]):
            self.urns_of.setdefault(int(k), []).append(u)
        self.values, own = self._truth()
        self.own = own
        self.cohort = self.index["cohort"]
        small = self.rule.suppress_up_to
        targets = {k for k, v in self.values.items() if 1 <= v <= small}
        risk: dict[Key, set] = {}
        owner: dict[Key, str] = {}
        for k, u, n in own:
            if 1 <= self.values[k] - n <= small:
                risk.setdefault(k, set()).add(u)
            if n == self.values[k]:
                owner[k] = u
        self.hidden = targets | set(risk)
        self.keep = {(COUNT, ())} | {(COUNT, ((self.cohort, c),)) for c in self.codes["cohort"].values()}
        self.keep -= self.hidden
        all_urns = set(self.urns)
        self._certify(targets, risk, all_urns, owner)

    # -- figures -------------------------------------------------------------------------
    def _patterns(self) -> None:
        """Which attribute sets make a figure, per table and per moved attribute."""
        ix, cohort = self.index, self.index["cohort"]
        self.table_patterns: dict[str, set] = {}
        for key, (col, _) in TABLES.items():
            pats = set()
            for b, g, c, k in product(BREAKDOWNS, (0, 1), (0, 1), (0, 1)):
                s = tuple(sorted({ix[b] for _ in range(g)} | {cohort for _ in range(c)} | {ix[col] for _ in range(k)}))
                pats.add((COUNT, s, None))
            self.table_patterns[key] = pats
        pats = set()
        for b, g, c in product(BREAKDOWNS, (0, 1), (0, 1)):
            s = tuple(sorted({ix[b] for _ in range(g)} | {cohort for _ in range(c)}))
            pats.add((RATE_SUM, s, None))
            for h in RATED:
                pats.add((COUNT, tuple(sorted(set(s) | {ix[h]})), ix[h]))
        self.table_patterns["attendance"] = pats
        every = set().union(*self.table_patterns.values())
        self.all_patterns = sorted(every, key=repr)
        self.rated_ix = [ix[h] for h in RATED]
        self._touch_cache: dict = {}
        self._contrib_cache: dict = {}
        # Moving a breakdown attribute touches every table, so a partner near in everything is
        # sought; a column attribute only its own table, where the breakdowns are what differ.
        self.breakdown_ix = [ix[b] for b in BREAKDOWNS]
        self.everything = list(range(len(self.attrs)))

    def _truth(self):
        """Every figure's true count, and each AP setting's own part of it, summed over the
        distinct records (``matrix``) in numpy: a pandas group-by per pattern (some 200) cost half
        a second even for a few placements, on every release a server builds."""
        values: dict[Key, int] = {}
        own = []
        m = self.matrix
        urn_code, urn_names = pd.factorize(self.urns)
        rates = m[:, self.rated_ix].sum(axis=1).astype(np.int64) * self.counts
        for kind, s, need in set().union(*self.table_patterns.values()):
            rows = slice(None) if need is None else m[:, need] == 1
            w = (rates if kind == RATE_SUM else self.counts)[rows].astype(np.int64)
            cols = m[rows][:, list(s)]
            at = urn_code[rows]
            if not len(w):
                continue
            for keys, with_urn in ((cols, False), (np.column_stack([cols, at]), True)):
                groups, inverse = np.unique(keys, axis=0, return_inverse=True)
                sums = np.zeros(len(groups), dtype=np.int64)
                np.add.at(sums, inverse.reshape(-1), w)
                for g, n in zip(groups.tolist(), sums.tolist()):
                    if not n:
                        continue
                    key = (kind, tuple(zip(s, g[:len(s)])))
                    if with_urn:
                        own.append((key, urn_names[g[-1]], n))
                    else:
                        values[key] = n
        return values, own

    def _contrib(self, vec, patterns) -> dict:
        """The figures one record counts in (of ``patterns``), with its weight in each."""
        out: dict[Key, int] = {}
        v = vec.tolist() if hasattr(vec, "tolist") else vec
        rates = sum(v[i] for i in self.rated_ix)
        for kind, s, need in patterns:
            if need is not None and v[need] != 1:
                continue
            w = rates if kind == RATE_SUM else 1
            if w:
                out[(kind, tuple((i, v[i]) for i in s))] = w
        return out

    def _touching(self, changed: frozenset) -> list:
        """Patterns whose figure or weight can differ between two records differing in ``changed``."""
        got = self._touch_cache.get(changed)
        if got is None:
            rated = bool(changed & set(self.rated_ix))
            got = self._touch_cache[changed] = [p for p in self.all_patterns
                                                if changed.intersection(p[1]) or (rated and p[0] == RATE_SUM)]
        return got

    # -- certificates --------------------------------------------------------------------
    def _delta(self, moves) -> dict:
        """How much every figure changes when each (old record, new record) replaces the other."""
        d: dict[Key, int] = {}
        for old, new in moves:
            o, n = old.tolist(), new.tolist()
            changed = frozenset(i for i, (x, y) in enumerate(zip(o, n)) if x != y)
            pats = self._touching(changed)
            for vec, sign in ((n, 1), (o, -1)):
                memo = (tuple(vec), changed)
                got = self._contrib_cache.get(memo)
                if got is None:
                    got = self._contrib_cache[memo] = self._contrib(vec, pats)
                for k, w in got.items():
                    d[k] = d.get(k, 0) + sign * w
        return {k: v for k, v in d.items() if v}

    def _judge(self, target: Key, delta: dict) -> int | None:
        """New figures to hide for this move (a headline counting as many), or None when it cannot
        be made: it must change the target, leave every hidden figure at least 1 and change no
        shown zero."""
        if target not in delta:
            return None
        cost = 0
        for k, d in delta.items():
            true = self.values.get(k, 0)
            if true == 0 or true + d < 1:
                return None
            if k not in self.hidden:
                cost += (HEADLINE_COST * 100 if not k[1] else HEADLINE_COST) if k in self.keep else 1
        return cost

    def _best_move(self, target: Key, exclude: set) -> _Move | None:
        """The cheapest move among the few nearest candidates, or among many when those will
        not do without hiding a headline."""
        move = self._search(target, exclude, 3)
        if move is None or move.cost >= HEADLINE_COST:
            wider = self._search(target, exclude, 24)
            if wider is not None and (move is None or wider.cost < move.cost):
                move = wider
        return move

    def _destination(self, old, new, urn: str, exclude: set) -> str | None:
        """The URN a changed record is at: its own unless its kind of setting changed, then the
        largest of that kind whose leader is not the reader (None: there is none)."""
        setting = self.index["setting"]
        if old[setting] == new[setting]:
            return urn
        return next((u for u in self.urns_of.get(int(new[setting]), []) if u not in exclude), None)

    def _search(self, target: Key, exclude: set, width: int) -> _Move | None:
        """The move changing ``target`` that hides fewest new figures, among a few candidates: for
        each attribute the target fixes, a child entering or leaving it, alone (recoded) or
        swapping that attribute with the nearest child on the other side."""
        kind, cons = target
        m, urns = self.matrix, self.urns
        allowed = ~np.isin(urns, list(exclude)) if exclude else np.ones(len(urns), dtype=bool)
        at = [m[:, i] == v for i, v in cons]
        best: _Move | None = None
        for j, (a, v) in enumerate(cons):
            others = np.logical_and.reduce([x for i, x in enumerate(at) if i != j]) if len(cons) > 1 \
                else np.ones(len(m), dtype=bool)
            near = self.everything if a in self.breakdown_ix else self.breakdown_ix
            for enter in (True, False):
                ps = np.flatnonzero(others & (~at[j] if enter else at[j]) & allowed)
                if not len(ps):
                    continue
                ps = ps[np.argsort(-self.counts[ps], kind="stable")][:width]
                qs = np.flatnonzero((at[j] if enter else ~at[j]) & ~others & allowed)
                for p in ps:
                    old = m[p]
                    options = []
                    for w in ([v] if enter else [w for w in self.codes[self.attrs[a]].values() if w != v]):
                        new = old.copy()
                        new[a] = w
                        # A child recoded; one moved to another kind of setting moves to one of its URNs.
                        to = self._destination(old, new, urns[p], exclude)
                        if to is not None:
                            options.append(([(old, new)], frozenset({urns[p], to})))
                    if len(qs):
                        d = (m[qs][:, near] != old[near]).sum(axis=1)
                        for q in qs[np.lexsort((-self.counts[qs], d))][:max(2, width // 6)]:
                            np_, nq = old.copy(), m[q].copy()
                            np_[a], nq[a] = m[q][a], old[a]
                            options.append(([(old, np_), (m[q], nq)], frozenset({urns[p], urns[q]})))
                    for moves, who in options:
                        if who & exclude:       # moved into a setting whose leader would know
                            continue
                        delta = self._delta(moves)
                        cost = self._judge(target, delta)
                        if cost is not None and (best is None or cost < best.cost):
                            best = _Move(cost, who, delta, moves)
                            if cost == 0:
                                return best
        if best is None or best.cost >= HEADLINE_COST:
            # No single attribute will do (a small group whose children each hold a value nobody
            # else in the group has): one child takes the whole record of another, on the other
            # side of the target, so nothing it joins was a shown zero.
            inside = np.logical_and.reduce(at) if cons else np.ones(len(m), dtype=bool)
            for enter in (True, False):
                hs = np.flatnonzero(inside if enter else ~inside)
                ps = np.flatnonzero((~inside if enter else inside) & allowed)
                for h in hs[np.argsort(-self.counts[hs], kind="stable")][:max(2, width // 6)]:
                    if not len(ps):
                        break
                    d = (m[ps] != m[h]).sum(axis=1)
                    for p in ps[np.lexsort((-self.counts[ps], d))][:width]:
                        to = self._destination(m[p], m[h], urns[p], exclude)
                        if to is None:
                            continue
                        who = frozenset({urns[p], to})
                        delta = self._delta([(m[p], m[h])])
                        cost = self._judge(target, delta)
                        if cost is not None and (best is None or cost < best.cost):
                            best = _Move(cost, who, delta, [(m[p], m[h])])
        if best is None:
            # A population too small to move within: one more child like one already counted
            # (every figure it would join must then be hidden).
            ps = np.flatnonzero(np.logical_and.reduce(at) & allowed) if cons else np.flatnonzero(allowed)
            for p in ps[np.argsort(-self.counts[ps], kind="stable")][:width]:
                delta = self._contrib(m[p], self.all_patterns)
                cost = self._judge(target, delta)
                if cost is not None and (best is None or cost < best.cost):
                    best = _Move(cost, frozenset({urns[p]}), delta, [(None, m[p])])
        return best

    def _certify(self, targets: set, risk: dict, all_urns: set, owner: dict) -> None:
        """Each figure at risk gets moves until every reader at risk has one not touching its pupils."""
        cover: dict[Key, list[frozenset]] = {}
        order = sorted(set(targets) | set(risk), key=lambda k: (len(k[1]), k))
        for k in order:
            at_risk = set(risk.get(k, ()))
            if k in targets:          # small for everyone: every setting not holding all of it
                at_risk |= all_urns - {owner.get(k)}
            def unmet() -> set | None:
                """Readers at risk that every move so far uses pupils of (None: no move yet)."""
                got = cover.get(k)
                return None if got is None else set(frozenset.intersection(*got) & at_risk)

            for _ in range(2):      # a second move, if needed, uses none of the first's settings
                bad = unmet()
                if bad is not None and not bad:
                    break
                move = self._best_move(k, bad or set())
                if move is None:
                    break
                self.hidden |= set(move.changed)
                self.moves.append((move.urns, move.records))
                for c in move.changed:
                    cover.setdefault(c, []).append(move.urns)
            if unmet() != set():
                self.uncertified += 1
                self.failed.append(k)
                self._withhold(k)

    def _withhold(self, target: Key) -> None:
        """No move found: hide every figure made of the target's attributes and more. This is a
        last resort without a certificate; ``uncertified`` counts it and the tests require none."""
        attrs = {i for i, _ in target[1]}
        self.hidden |= {k for k, v in self.values.items() if attrs <= {i for i, _ in k[1]} and v > 0}

    # -- reading -------------------------------------------------------------------------
    def shown(self, kind: int, pairs: list[tuple[str, object]], total: bool):
        """A figure as published, from (attribute, value) pairs: ``c`` when hidden, else rounded
        by the rule; 0 when nobody can match (a value that never occurs, or two for one attribute)."""
        cons: dict[int, int] = {}
        for a, v in pairs:
            code = self.codes[a].get(str(v))
            if code is None or cons.setdefault(self.index[a], code) != code:
                return 0
        k = (kind, tuple(sorted(cons.items())))
        v = self.values.get(k, 0)
        if k in self.hidden:
            return SUPPRESSED
        return self.rule.round(v, total=total)
