"""One child split in two by the twin guard, and the record that fits both halves (``link/bridge.py``).

At 250k realistic (seed 42): the school's "Jck Pisani" (UPN U) and the GP's "Jackson Pisani" (NHS N)
are twin-guarded (forenames that are not one name, one birthday, one home); social care's
"Jack Pisani" holds U and N and fits both nearly equally well, so ``ambiguous_records`` left it in
neither child: one child in three. Nothing in the three says two children, so they are joined.
Each piece of evidence of a second child keeps them apart.
"""

from __future__ import annotations

import pytest

from linkage.link.bridge import RecordFacts, bridges, guarded_slips
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


# Two children the twin guard alone keeps apart: the school's "Avs Kirwan" (a slip no name test
# places) beside the GP's "Aa Kirwan", one birthday, one home, each with its own identifier.
SLIP_IDS = {E: {"upn": "U1", "nhs": None}, S: {"upn": "U1", "nhs": None}, H: {"upn": None, "nhs": "N1"}}
SLIP_CHILDREN = {E: E, S: E, H: H}


def _slip_facts(school: str = "Avs", gp: str = "Aa", rare: tuple[bool, bool] = (True, True),
                **changed) -> dict[str, RecordFacts]:
    facts = {E: RecordFacts("education", "F", "Inaya", False, school, rare[0]),
             S: RecordFacts("social_care", "F", None, False, "Ava", False),
             H: RecordFacts("health", "F", "Inaya", False, gp, rare[1])}
    return facts | changed


def _slip(facts, guarded=((E, H, 0.98),), never=(), held_back=()):
    found, check = guarded_slips(SLIP_CHILDREN, guarded, SLIP_IDS, facts, never, 0.5, held_back)
    return found.apply(SLIP_CHILDREN, check)


def test_two_children_kept_apart_by_the_guard_on_a_rare_forename_are_joined():
    joined = _slip(_slip_facts())
    assert joined[E] == joined[S] == joined[H]


@pytest.mark.parametrize("facts", [
    _slip_facts("Isaac", "Isaac", (False, False)),          # namesake twins: the guard's own call
    _slip_facts("Jake", "Jaxon", (False, False)),           # two common names: two children
    # twins each in view in one source, one with a slip: the GP's Olier (Oliver) beside Muhammad
    _slip_facts("Muhammad", "Olier", (False, True)),
    _slip_facts(**{H: RecordFacts("health", "F", "Inaya", True, "Aa", True)}),    # a co-twin on the GP list
    _slip_facts(**{H: RecordFacts("health", "M", "Inaya", False, "Aa", True)}),   # sexes differ
    _slip_facts(**{H: RecordFacts("health", "F", "Grace", False, "Aa", True)}),   # middle names differ
], ids=["one forename", "common forenames", "a slip of another name", "co-twin", "sex", "middle name"])
def test_a_guarded_pair_with_evidence_of_two_children_stays_apart(facts):
    joined = _slip(facts)
    assert joined[E] != joined[H]


def test_a_guarded_pair_the_model_would_not_link_or_a_held_back_record_stays_apart():
    for kwargs in ({"guarded": ((E, H, 0.3),)}, {"held_back": [H]}, {"never": [(S, H)]}):
        joined = _slip(_slip_facts(), **kwargs)
        assert joined[E] != joined[H], kwargs
    # every guarded pair between the two must be a slip: social care's Aa beside the GP's Aa is not
    facts = _slip_facts(**{S: RecordFacts("social_care", "F", None, False, "Aa", True)})
    joined = _slip(facts, guarded=((E, H, 0.98), (S, H, 0.9)))
    assert joined[E] != joined[H]
