"""A month's save touches only the rows it changes, also on disk: the million-row tables
(``linked_records``, ``identity``, ``child_ids``, ``link_edges``) keep every block they had, their
changed rows deleted and appended anew. An UPDATE of a few scattered rows made the checkpoint
rewrite each updated column whole in every row group (``link.delta``), at a million records 2 of
a month's 14 seconds."""

import pandas as pd

from linkage.link.delta import FLIPPED, TWIN_NAMES, save_guards, save_identity, save_records
from linkage.store import Store

ROWS = 300_000          # three of DuckDB's row groups (122,880 rows each)
TABLES = ("linked_records", "identity", "child_ids", "link_edges")


def _frame(store: Store, name: str, frame: pd.DataFrame) -> None:
    store.connection.register("_f", frame)
    store.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _f")
    store.connection.unregister("_f")


def _blocks(store: Store, table: str) -> set[tuple]:
    return set(store.rows(f"SELECT row_group_id, column_name, block_id, block_offset FROM "
                          f"pragma_storage_info('store.{table}') WHERE segment_type <> 'VALIDITY'"))


def _month_one(tmp_path) -> Store:
    store = Store(tmp_path / "home")
    store.execute(f"INSERT INTO store.linked_records (record_key, content_sha, guard_sha, run_id) "
                  f"SELECT 'health:' || i, md5(i::VARCHAR), 'g', 1 FROM range({ROWS}) t(i)")
    store.execute(f"INSERT INTO store.identity (record_key, child_id, run_id) "
                  f"SELECT 'health:' || i, 'C-' || (i // 2), 1 FROM range({ROWS}) t(i)")
    store.execute(f"INSERT INTO store.child_ids (child_id, status, created_run) "
                  f"SELECT 'C-' || i, 'active', 1 FROM range({ROWS // 2}) t(i)")
    store.execute(f"INSERT INTO store.link_edges (record_key_l, record_key_r, match_probability, match_weight, "
                  f"guarded, run_id) SELECT 'health:' || i, 'health:' || (i + 1), 0.9, 3.0, false, 1 "
                  f"FROM range({ROWS}) t(i)")
    store.checkpoint()
    return store


def _month_two(store: Store) -> None:
    """A month's staged delta, scattered over every row group: records changed, new and gone;
    records moved to another child; two children joined; pairs guarded otherwise."""
    changed = [f"health:{i}" for i in range(0, ROWS, 997)]
    _frame(store, "memory.hash_delta", pd.DataFrame({
        "record_key": changed + ["health:new"], "content_sha": "changed", "guard_sha": "g2",
        "new": [False] * len(changed) + [True], "rescore": True}))
    _frame(store, "memory.hash_gone", pd.DataFrame({"k": ["health:1"]}))
    _frame(store, "memory.id_delta", pd.DataFrame({
        "record_key": changed + ["health:new"], "child_id": "C-MOVED", "new": [False] * len(changed) + [True]}))
    _frame(store, "memory.id_alias", pd.DataFrame({"old": ["C-7", "C-120000"], "survivor": ["C-8", "C-8"]}))
    flipped = [(f"health:{i}", f"health:{i + 1}") for i in range(5, ROWS, 1009)]
    _frame(store, FLIPPED, pd.DataFrame(flipped, columns=["unique_id_l", "unique_id_r"]).assign(guarded=True))
    _frame(store, TWIN_NAMES, pd.DataFrame({"a": ["Leo"], "b": ["Leon"]}))
    with store.transaction():
        save_records(store, 2)
        save_identity(store, 2)
        save_guards(store, 2, full=False)


def test_a_months_save_rewrites_no_block_of_the_rows_it_did_not_change(tmp_path):
    store = _month_one(tmp_path)
    before = {t: _blocks(store, t) for t in TABLES}
    assert all(len({b[0] for b in blocks}) >= 2 for blocks in before.values())     # several row groups
    _month_two(store)
    store.checkpoint()
    for table in TABLES:
        kept = before[table] & _blocks(store, table)
        assert kept == before[table], f"{table}: {len(before[table] - kept)} of {len(before[table])} blocks rewritten"
    store.close()


def test_a_months_save_writes_what_an_update_would(tmp_path):
    store = _month_one(tmp_path)
    _month_two(store)
    for table, key in (("linked_records", "record_key"), ("identity", "record_key"), ("child_ids", "child_id"),
                       ("link_edges", "record_key_l, record_key_r")):        # one row each, as ever
        assert not store.rows(f"SELECT {key} FROM store.{table} GROUP BY {key} HAVING count(*) > 1"), table
    assert store.scalar("SELECT count(*) FROM store.linked_records") == ROWS       # one gone, one new
    assert store.rows("SELECT content_sha, guard_sha, run_id FROM store.linked_records "
                      "WHERE record_key IN ('health:997', 'health:new') ORDER BY record_key") == [
        ("changed", "g2", 2), ("changed", "g2", 2)]
    assert store.rows("SELECT content_sha, guard_sha, run_id FROM store.linked_records "
                      "WHERE record_key = 'health:998'") == [(store.scalar("SELECT md5('998')"), "g", 1)]
    # Moved records take their new child and this run; a retired child's records its survivor, their run kept.
    assert store.rows("SELECT child_id, run_id FROM store.identity WHERE record_key IN ('health:997', 'health:new')"
                      ) == [("C-MOVED", 2), ("C-MOVED", 2)]
    assert sorted(store.rows("SELECT record_key, child_id, run_id FROM store.identity "
                             "WHERE record_key IN ('health:14', 'health:15', 'health:240000', 'health:240001')")) == [
        ("health:14", "C-8", 1), ("health:15", "C-8", 1), ("health:240000", "C-8", 1), ("health:240001", "C-8", 1)]
    assert store.scalar("SELECT count(*) FROM store.identity") == ROWS + 1
    assert sorted(store.rows("SELECT child_id, status, alias_of, created_run, retired_run FROM store.child_ids "
                             "WHERE child_id IN ('C-7', 'C-8', 'C-120000')")) == [
        ("C-120000", "alias", "C-8", 1, 2), ("C-7", "alias", "C-8", 1, 2), ("C-8", "active", None, 1, None)]
    assert store.scalar("SELECT count(*) FROM store.child_ids") == ROWS // 2
    # Pairs guarded otherwise: guarded, this run; every other pair as it was.
    assert store.rows("SELECT match_probability, match_weight, guarded, run_id FROM store.link_edges "
                      "WHERE record_key_l = 'health:1014'") == [(0.9, 3.0, True, 2)]
    assert store.scalar("SELECT count(*) FROM store.link_edges WHERE guarded") == len(range(5, ROWS, 1009))
    assert store.scalar("SELECT count(*) FROM store.link_edges") == ROWS
    assert store.rows("SELECT a, b, run_id FROM store.twin_names") == [("Leo", "Leon", 2)]
    store.close()


def test_a_months_children_count_moves_only_with_the_children_it_reaches(tmp_path):
    """The run's children count (those with a current record) is the last run's moved by the
    children the delta reaches: one losing its only record, one minted, one merged into another,
    a record moved from one to another, and a child of superseded records only, which never counts."""
    from linkage.link.delta import REACH, children, stage_children

    store = Store(tmp_path / "home")
    before = {"r1": "A", "r2": "A", "r3": "B", "r4": "C", "r5": "C", "r6": "D", "r7": "E", "r8": "F",
              "r9": "G", "r10": "C"}                # r9, r10: records of superseded extracts
    store.execute("INSERT INTO store.identity (record_key, child_id, run_id) SELECT k, c, 1 FROM (VALUES "
                  + ", ".join(f"('{k}', '{c}')" for k, c in before.items()) + ") v(k, c)")
    store.execute("INSERT INTO store.linked_records (record_key, content_sha, guard_sha, run_id) "
                  "SELECT 'r' || i, 'x', 'g', 1 FROM range(1, 9) t(i)")
    store.execute("INSERT INTO store.child_ids (child_id, status, created_run) SELECT c, 'active', 1 FROM (VALUES "
                  + ", ".join(f"('{c}')" for c in sorted(set(before.values()))) + ") v(c)")
    previous = 6                                    # A to F
    # The month: r3 gone (B's only record), r11 new in a new child H, r12 new in D, r5 moved from
    # C to D, A retired into F; the reach closed over the previous children of its records.
    _frame(store, "memory.hash_gone", pd.DataFrame({"k": ["r3"]}))
    _frame(store, "memory.hash_delta", pd.DataFrame({"record_key": ["r11", "r12"], "content_sha": "y",
                                                     "guard_sha": "g", "new": True, "rescore": True}))
    _frame(store, "memory.link_hash", pd.DataFrame({"record_key": ["r1", "r2", "r4", "r5", "r6", "r7", "r8",
                                                                   "r11", "r12"]}))
    _frame(store, REACH, pd.DataFrame({"k": ["r1", "r2", "r4", "r5", "r6", "r8", "r11", "r12"]}))
    _frame(store, "memory.id_delta", pd.DataFrame({"record_key": ["r5", "r11", "r12"], "child_id": ["D", "H", "D"],
                                                   "new": [False, True, True]}))
    _frame(store, "memory.id_alias", pd.DataFrame({"old": ["A"], "survivor": ["F"]}))
    stage_children(store)
    with store.transaction():
        save_records(store, 2)
        save_identity(store, 2)
        moved = children(store, previous)
        counted = children(store, None)
    assert counted == 5                             # C (r4), D (r5, r6, r12), E, F (r1, r2, r8), H
    assert moved == counted
    store.close()
