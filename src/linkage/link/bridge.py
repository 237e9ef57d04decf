"""One child split in two by a constraint, and the record that fits both halves.

``cluster.ambiguous_records`` (and ``engine.second_children``) hold back a record whose best
link into another child comes within ``AMBIGUITY_GAP`` of its best link into its own: it could
be either of two children. The other child is other only because a constraint kept the two
apart, most often the twin guard firing on forenames alone: the school's "Jck Pisani" and the
GP's "Jackson Pisani" (one home, one birthday) are guarded, and social care's "Jack Pisani",
linked strongly to both, is left in neither. All three records of one child end up apart,
though no record anywhere says there are two children (at 250k realistic, seed 42, session 20:
56 of 133 such records, every record of each triangle one child).

Such a record is a *bridge*: its own child and the other are joined, not left apart, when the
union of the two children holds nothing that says two children:

* no two NHS numbers and no two UPNs (roots of their FormerUPN history);
* no M beside F;
* no two different first middle names;
* no source holding two of its records unless the two share a UPN or NHS number (a source holds
  a child once under its own identifiers: two of its records apart are evidence of two children);
* no record with a *co-twin* (``guards.cotwin_pairs_sql``: a sibling of its birthday and family
  in its own extract), so twins one source holds both of are never joined this way;
* no reviewer's "not a match" between any two of its records;
* and the record fits no third child as well (its strong links out of its own child all go into
  the one other child).

Twins Macy and Maisie on one school roll, with a GP record that fits both, have a co-twin on
the roll and two UPNs, and stay apart; the GP record is still queued, not linked.

The same reading joins two children kept apart by the twin guard alone (``guarded_slips``) when
every guarded pair between them is two forenames of which one is *rare* (held by at most
``guards.RARE`` records: a slip the guard's name tests could not place, "Avs"/"Aa", "Harrt"/
"Harrison", "Adbulrahmab"/"Abdul Rahman") and which begin with one letter, none the same forename (twins given one forename are told apart by
what ``_one_child`` reads, and are left to the guard), and the model links the pair. At 250k
realistic (seed 42) about 90 queued pairs of children were so, every one one child (more, a
script against a Latin spelling, Fatimah/فمة, or a swap, begin differently and stay queued); no
pair of twins (two were queued with common forenames, Jake/Jaxon, Alfie/Albie, and stay queued).
The first letter is what keeps twins each in view in one source apart when one record has a
slip: the GP's "Olier Muñoz" (Oliver, only at the GP) beside Muhammad Muñoz at school and in
social care (independent generator's six-file authority, /tmp/s20lead/la6) was joined without
it. A forename that is the other record's surname is no slip either: the GP's "Butler Elijah"
(forename and surname swapped, its forename a rare one) beside his twin Jayden Butler at school
(50k realistic) was joined when a swap was let through.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import combinations

__all__ = ["Bridges", "RecordFacts", "bridges", "guarded_slips"]


@dataclass(frozen=True)
class RecordFacts:
    """What the bridge rule reads of one record beyond its identifiers."""
    source: str
    sex: str | None
    middle: str | None
    cotwin: bool
    forename: str | None = None
    rare: bool = False      # the forename is held by at most ``guards.RARE`` records: a slip


def _members(cluster_of: dict[str, str], wanted: set[str]) -> dict[str, list[str]]:
    """Child -> its records, for the children ``wanted`` (a few of a million records' children:
    the others are not gathered)."""
    members: dict[str, list[str]] = defaultdict(list)
    if wanted:
        for k, c in cluster_of.items():
            if c in wanted:
                members[c].append(k)
    return members


@dataclass
class Bridges:
    """Records let out of the ambiguous set, and the groups of records to make one child."""
    records: set[str] = field(default_factory=set)
    groups: list[set[str]] = field(default_factory=list)

    def apply(self, cluster_of: dict[str, str], check) -> dict[str, str]:
        """``cluster_of`` with each group's current children joined, when ``check`` (a record set
        -> bool) still passes on the union (clustering may have moved records since)."""
        out = dict(cluster_of)
        members = _members(cluster_of, {out[k] for group in self.groups for k in group if k in out})
        for group in self.groups:
            children = sorted({out[k] for k in group if k in out})
            if len(children) < 2:
                continue
            union = {k for c in children for k in members[c]}
            if not check(union):
                continue
            keep = max(children, key=lambda c: (len(members[c]), c))
            for c in children:
                if c != keep:
                    for k in members[c]:
                        out[k] = keep
                    members[keep].extend(members.pop(c))
        return out


def _one_child(union: set[str], identifiers: dict[str, dict[str, str | None]],
               facts: dict[str, RecordFacts], never: set[frozenset[str]]) -> bool:
    """Nothing in ``union`` says two children (see the module's list)."""
    ids = {k: identifiers.get(k) or {} for k in union}
    for kind in ("nhs", "upn"):
        if len({v[kind] for v in ids.values() if v.get(kind)}) > 1:
            return False
    got = [facts.get(k) for k in union]
    if any(f is None or f.cotwin for f in got):
        return False
    if len({f.sex for f in got if f.sex in ("M", "F")}) > 1:
        return False
    if len({f.middle.casefold() for f in got if f.middle}) > 1:
        return False
    by_source: dict[str, list[str]] = defaultdict(list)
    for k in union:
        by_source[facts[k].source].append(k)
    for keys in by_source.values():
        for a, b in combinations(keys, 2):
            if not any(ids[a].get(kind) and ids[a].get(kind) == ids[b].get(kind) for kind in ("nhs", "upn")):
                return False
    if never and any(frozenset(p) in never for p in combinations(sorted(union), 2)):
        return False
    return True


def bridges(cluster_of: dict[str, str], ambiguous: dict[str, tuple[str, str]],
            strong: Iterable[tuple[str, str]], identifiers: dict[str, dict[str, str | None]],
            facts: dict[str, RecordFacts], never_link: Iterable[tuple[str, str]] = ()) -> tuple[Bridges, object]:
    """The ambiguous records that bridge two halves of one child, and a check for ``Bridges.apply``.

    ``cluster_of``: the clustering the ambiguous records were found in; ``ambiguous``: record ->
    (partner in its own child, partner in the other); ``strong``: every pair at or above the
    threshold (the ambiguity's evidence); ``facts``: ``RecordFacts`` of at least every record of
    the children involved."""
    never = {frozenset(p) for p in never_link}
    members = _members(cluster_of, {c for x, (_, other) in ambiguous.items() for k in (x, other)
                                    if (c := cluster_of.get(k)) is not None})
    outward: dict[str, set[str]] = defaultdict(set)     # record -> other children it links into
    for a, b in strong:
        if a in ambiguous and b in cluster_of and cluster_of.get(a) != cluster_of[b]:
            outward[a].add(cluster_of[b])
        if b in ambiguous and a in cluster_of and cluster_of.get(b) != cluster_of[a]:
            outward[b].add(cluster_of[a])

    def check(union: set[str]) -> bool:
        return _one_child(union, identifiers, facts, never)

    found = Bridges()
    for x, (_, other) in sorted(ambiguous.items()):
        own_child, other_child = cluster_of.get(x), cluster_of.get(other)
        if own_child is None or other_child is None or own_child == other_child:
            continue
        if outward.get(x, {other_child}) != {other_child}:
            continue
        union = {*members[own_child], *members[other_child]}
        if check(union):
            found.records.add(x)
            found.groups.append(union)
    return found, check


def guarded_slips(cluster_of: dict[str, str], guarded: Iterable[tuple[str, str, float]],
                  identifiers: dict[str, dict[str, str | None]], facts: dict[str, RecordFacts],
                  never_link: Iterable[tuple[str, str]] = (), threshold: float = 0.5,
                  held_back: Iterable[str] = ()) -> tuple[Bridges, object]:
    """Pairs of children kept apart only by guarded pairs (``guarded``: left, right, match
    probability), one of them at or above ``threshold``, each a rare forename beside another
    forename, and nothing else saying two children. ``held_back``: records left out of every
    child for fitting two (``ambiguous_records``), whose children are not joined here."""
    never = {frozenset(p) for p in never_link}
    skip = set(held_back)
    between: dict[frozenset[str], list[tuple[str, str]]] = defaultdict(list)
    strong: set[frozenset[str]] = set()
    for a, b, p in guarded:
        ca, cb = cluster_of.get(a), cluster_of.get(b)
        if ca is not None and cb is not None and ca != cb:
            between[frozenset((ca, cb))].append((a, b))
            if p >= threshold:
                strong.add(frozenset((ca, cb)))

    members = _members(cluster_of, {c for children in strong for c in children})

    def slip(a: str, b: str) -> bool:
        fa, fb = facts.get(a), facts.get(b)
        if fa is None or fb is None or not fa.forename or not fb.forename:
            return False
        x, y = fa.forename.casefold(), fb.forename.casefold()
        return x != y and (fa.rare or fb.rare) and x[0] == y[0]

    def check(union: set[str]) -> bool:
        return _one_child(union, identifiers, facts, never)

    found = Bridges()
    for children, pairs in sorted(between.items(), key=lambda x: sorted(x[0])):
        if children in strong and all(slip(a, b) for a, b in pairs):
            union = {k for c in children for k in members[c]}
            if union & skip:
                continue
            if check(union):
                found.records.update(k for p in pairs for k in p)
                found.groups.append(union)
    return found, check
