"""Child identifiers: opaque, checkable, and stable through merges and splits."""

from hypothesis import given
from hypothesis import strategies as st

from linkage.identity import assign_ids, check_char, is_valid_child_id, mint_child_id
from linkage.identity import ids as ids_module
from linkage.identity.ids import ALPHABET


def test_minted_ids_are_valid_and_distinct():
    ids = {mint_child_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(is_valid_child_id(i) and i.startswith("C-") and len(i) == 15 for i in ids)


@given(st.lists(st.integers(0, (1 << 64) - 1), min_size=1, max_size=20))
def test_ids_minted_together_are_spelt_as_one_at_a_time(draws):
    """The same random bits give the same identifier either way (the top 4 of 64 bits unused)."""
    import secrets

    singles = iter(d & ((1 << 60) - 1) for d in draws)
    real = secrets.randbits, secrets.token_bytes
    try:
        secrets.randbits = lambda k: next(singles)
        one_by_one = [mint_child_id() for _ in draws]
        secrets.token_bytes = lambda n: b"".join(d.to_bytes(8, "little") for d in draws)
        together = ids_module.mint_child_ids(len(draws))
    finally:
        secrets.randbits, secrets.token_bytes = real
    assert together == one_by_one


def test_ids_minted_together_are_valid_distinct_and_use_every_character():
    ids = ids_module.mint_child_ids(5000)
    assert len(set(ids)) == 5000 and ids_module.mint_child_ids(0) == []
    assert all(is_valid_child_id(i) and len(i) == 15 for i in ids)
    assert all({i[2 + pos] for i in ids} == set(ALPHABET) for pos in range(12))
    res = assign_ids({f"r{k}": f"c{k % 300}" for k in range(900)}, {})
    assert len(res.minted) == len(set(res.minted)) == 300 and all(map(is_valid_child_id, res.minted))


@given(st.text(ALPHABET, min_size=12, max_size=12), st.integers(0, 11), st.integers(1, 31))
def test_check_character_catches_any_single_substitution(body, pos, delta):
    cid = f"C-{body}{check_char(body)}"
    assert is_valid_child_id(cid)
    wrong = ALPHABET[(ALPHABET.index(body[pos]) + delta) % 32]
    assert not is_valid_child_id(f"C-{body[:pos]}{wrong}{body[pos + 1:]}{check_char(body)}")


def counter():
    n = iter(range(1, 1000))
    return lambda: f"NEW{next(n)}"


def test_unchanged_clusters_keep_their_ids():
    prev = {"a": "C1", "b": "C1", "c": "C2"}
    res = assign_ids({"a": "x", "b": "x", "c": "y"}, prev, mint=counter())
    assert res.record_to_child == prev and not res.minted and not res.history


def test_new_cluster_gets_a_new_id_and_new_record_joins_existing():
    res = assign_ids({"a": "x", "b": "x", "d": "x", "e": "z"}, {"a": "C1", "b": "C1"}, mint=counter())
    assert res.record_to_child == {"a": "C1", "b": "C1", "d": "C1", "e": "NEW1"}
    assert [h.change for h in res.history] == ["minted"]


def test_merge_keeps_the_bigger_id_and_aliases_the_other():
    prev = {"a": "C1", "b": "C1", "c": "C2"}
    res = assign_ids({"a": "x", "b": "x", "c": "x"}, prev, mint=counter())
    assert set(res.record_to_child.values()) == {"C1"}
    assert res.aliases == {"C2": "C1"} and res.merges == 1


def test_merge_tie_keeps_the_older_id():
    res = assign_ids({"a": "x", "b": "x"}, {"a": "C9", "b": "C1"}, created_order={"C9": 1, "C1": 2}, mint=counter())
    assert res.aliases == {"C1": "C9"}


def test_split_larger_part_keeps_the_id():
    prev = {"a": "C1", "b": "C1", "c": "C1"}
    res = assign_ids({"a": "x", "b": "x", "c": "y"}, prev, mint=counter())
    assert res.record_to_child == {"a": "C1", "b": "C1", "c": "NEW1"}
    assert res.splits == 1 and any(h.change == "moved" and h.record_key == "c" for h in res.history)


@given(st.dictionaries(st.sampled_from("abcdefgh"), st.sampled_from("xyz"), min_size=1),
       st.dictionaries(st.sampled_from("abcdefgh"), st.sampled_from(["C1", "C2", "C3"])))
def test_every_record_gets_exactly_one_id_and_old_ids_survive_or_alias(clusters, previous):
    res = assign_ids(clusters, previous, mint=counter())
    assert set(res.record_to_child) == set(clusters)
    by_cluster = {}
    for rec, cl in clusters.items():
        by_cluster.setdefault(cl, set()).add(res.record_to_child[rec])
    assert all(len(v) == 1 for v in by_cluster.values())          # one id per cluster
    assert len({next(iter(v)) for v in by_cluster.values()}) == len(by_cluster)  # distinct
    live = set(res.record_to_child.values())
    for old in {previous[r] for r in clusters if r in previous}:
        assert old in live or old in res.aliases                   # survives, or resolves


def _assign_reference(clusters, previous, created_order=None, mint=None):
    """``assign_ids`` as it was written first, record by record: the faster one must agree with it."""
    from collections import Counter, defaultdict

    from linkage.identity import Assignment, HistoryEvent

    created_order = created_order or {}
    members = defaultdict(list)
    for rec, cl in clusters.items():
        members[cl].append(rec)
    spread = defaultdict(Counter)
    for rec, cl in clusters.items():
        if (old := previous.get(rec)) is not None:
            spread[old][cl] += 1
    home = {old: max(counts, key=lambda c: (counts[c], -len(members[c]), c)) for old, counts in spread.items()}
    claims = defaultdict(list)
    for old, cl in home.items():
        claims[cl].append(old)
    result = Assignment({})
    for cl in sorted(members):
        recs, contenders = members[cl], claims.get(cl, [])
        if contenders:
            survivor = min(contenders, key=lambda cid: (-spread[cid][cl], created_order.get(cid, 1 << 62), cid))
            for other in sorted(contenders):
                if other != survivor:
                    result.aliases[other] = survivor
                    result.history.append(HistoryEvent("merged", survivor, other, None,
                                                       f"clusters joined; {other} now an alias of {survivor}"))
        else:
            survivor = mint()
            result.minted.append(survivor)
            split_from = sorted({previous[r] for r in recs if r in previous})
            for old in split_from:
                result.history.append(HistoryEvent("split", survivor, old, None,
                                                   f"records left {old}, whose larger part keeps that identifier"))
            if not split_from:
                result.history.append(HistoryEvent("minted", survivor, None, None, "new child"))
        for rec in recs:
            result.record_to_child[rec] = survivor
            old = previous.get(rec)
            if old is not None and old != survivor and old not in result.aliases:
                result.history.append(HistoryEvent("moved", survivor, old, rec, "record now linked to a different child"))
    return result


@given(st.dictionaries(st.sampled_from("abcdefghijklmnop"), st.sampled_from("vwxyz"), min_size=1),
       st.dictionaries(st.sampled_from("abcdefghijklmnopqrs"), st.sampled_from(["C1", "C2", "C3", "C4"])),
       st.dictionaries(st.sampled_from(["C1", "C2", "C3", "C4"]), st.integers(0, 3)))
def test_assignment_is_the_record_by_record_one(clusters, previous, created_order):
    """Same ids, aliases, minting order and history, in the same order, as the plain algorithm."""
    fast = assign_ids(clusters, previous, created_order, mint=counter())
    slow = _assign_reference(clusters, previous, created_order, mint=counter())
    assert list(fast.record_to_child.items()) == list(slow.record_to_child.items())
    assert (fast.minted, fast.aliases, fast.history) == (slow.minted, slow.aliases, slow.history)


def test_a_run_collects_cycles_rarely_and_puts_the_thresholds_back():
    """run_link's Python work (clusters, identifiers) runs with the cycle collector made rarer;
    the process's own thresholds come back afterwards, also when the run fails."""
    import gc

    from linkage.link.run import _fewer_collections

    before = gc.get_threshold()
    with _fewer_collections():
        assert gc.get_threshold()[0] >= 50_000
    assert gc.get_threshold() == before
    try:
        with _fewer_collections():
            raise RuntimeError("a failed run")
    except RuntimeError:
        pass
    assert gc.get_threshold() == before
