"""One child split in two by the twin guard, and the record that fits both halves (``link/bridge.py``).

At 250k realistic (seed 42): the school's "Jck Pisani" (UPN U) and the GP's "Jackson Pisani" (NHS N)
are twin-guarded (forenames that are not one name, one birthday, one home); social care's
"Jack Pisani" holds U and N and fits both nearly equally well, so ``ambiguous_records`` left it in
neither child: one child in three. Nothing in the three says two children, so they are joined.
Each piece of evidence of a second child keeps them apart.
"""

from __future__ import annotations

import pytest

from linkage.link.bridge import RecordFacts, bridges
from linkage.link.cluster import ambiguous_records, constrained_clusters

E, S, H = "education:A0", "social_care:LA0", "health:P0"
IDS = {E: {"upn": "U1", "nhs": None}, S: {"upn": "U1", "nhs": "N1"}, H: {"upn": None, "nhs": "N1"}}
# The weights seen at 250k: S-E 36.7, S-H 32.9, E-H guarded.
EDGES = [(E, S, 36.7), (S, H, 32.9)]
GUARDED = [(E, H)]


def _facts() -> dict[str, RecordFacts]:
    return {E: RecordFacts("education", "M", None, False), S: RecordFacts("social_care", "M", None, False),
            H: RecordFacts("health", "M", None, False)}


def _run(facts: dict[str, RecordFacts], ids=IDS, edges=EDGES, never=()):
    """The run's steps as ``run._run`` takes them: cluster, find the ambiguous, bridge, apply."""
    nodes = [E, S, H]
    cluster_of, _ = constrained_clusters(nodes, edges, GUARDED, ids, never_link=never)
    ambiguous = ambiguous_records(cluster_of, edges, identifiers=ids)
    found, check = bridges(cluster_of, ambiguous, [(a, b) for a, b, _ in edges], ids, facts, never)
    return cluster_of, ambiguous, found.apply(cluster_of, check)


def test_the_guard_and_the_gap_leave_one_child_in_two():
    cluster_of, ambiguous, _ = _run(_facts())
    assert set(ambiguous) == {S}
    assert cluster_of[E] == cluster_of[S] != cluster_of[H]


def test_a_record_fitting_both_halves_of_one_child_joins_them():
    _, _, joined = _run(_facts())
    assert joined[E] == joined[S] == joined[H]


@pytest.mark.parametrize("what", ["cotwin", "sex", "middle", "source"])
def test_evidence_of_a_second_child_keeps_them_apart(what):
    facts = _facts()
    if what == "cotwin":       # the GP's record has a sibling of its birthday and family on its list
        facts[H] = RecordFacts("health", "M", None, True)
    elif what == "sex":
        facts[H] = RecordFacts("health", "F", None, False)
    elif what == "middle":
        facts[E] = RecordFacts("education", "M", "Harley", False)
        facts[H] = RecordFacts("health", "M", "Claudio", False)
    else:                      # one school holds both halves under no shared identifier
        facts[H] = RecordFacts("education", "M", None, False)
    _, ambiguous, joined = _run(facts, ids={**IDS, H: {"upn": None, "nhs": None}} if what == "source" else IDS)
    assert S in ambiguous
    assert joined[E] != joined[H]


def test_two_nhs_numbers_or_two_upns_keep_them_apart():
    """Each held by a record other than the bridge, which agrees with both (no pair of it conflicts)."""
    for ids in ({E: {"upn": "U1", "nhs": "N2"}, S: {"upn": "U1", "nhs": None}, H: {"upn": None, "nhs": "N1"}},
                {**IDS, H: {"upn": "U2", "nhs": "N1"}, S: {"upn": None, "nhs": "N1"}}):
        _, _, joined = _run(_facts(), ids=ids)
        assert joined[E] != joined[H]


def test_a_reviewers_not_a_match_keeps_them_apart():
    _, _, joined = _run(_facts(), never=[(E, H)])
    assert joined[E] != joined[H]


def test_a_record_fitting_a_third_child_as_well_is_not_a_bridge():
    third = "health:P9"
    facts = _facts() | {third: RecordFacts("health", "M", None, False)}
    edges = [*EDGES, (S, third, 33.0)]
    ids = {**IDS, third: {"upn": None, "nhs": "N9"}}
    cluster_of, _ = constrained_clusters([E, S, H, third], edges, [*GUARDED, (E, third), (H, third)], ids)
    ambiguous = ambiguous_records(cluster_of, edges)
    found, _ = bridges(cluster_of, ambiguous, [(a, b) for a, b, _ in edges], ids, facts)
    assert S not in found.records


def test_a_same_source_pair_sharing_a_upn_is_one_child_twice():
    """Two school rolls, one UPN (the school's "Aa Cotter" and "Aria Cotter"): no second child."""
    facts = _facts()
    facts[S] = RecordFacts("education", "F", None, False)
    facts[E] = RecordFacts("education", "F", None, False)
    facts[H] = RecordFacts("health", "F", None, False)
    ids = {E: {"upn": "U1", "nhs": None}, S: {"upn": "U1", "nhs": None}, H: {"upn": None, "nhs": "N1"}}
    _, _, joined = _run(facts, ids=ids)
    assert joined[E] == joined[S] == joined[H]
