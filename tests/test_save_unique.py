"""The saving transaction keeps one row per record and per child identifier in the tables that
have no PRIMARY KEY (``store.schema``): a run that would repeat one is refused whole."""

import pandas as pd
import pytest

from linkage.errors import StoreError
from linkage.link.delta import save_children, save_records
from linkage.store import Store


def _store(tmp_path) -> Store:
    store = Store(tmp_path / "home")
    store.execute("INSERT INTO store.linked_records (record_key, content_sha, guard_sha, run_id) "
                  "VALUES ('health:1', 'c1', 'g1', 1)")
    store.execute("INSERT INTO store.child_ids (child_id, status, created_run) VALUES ('C-KNOWN', 'active', 1)")
    return store


def _hashes(store: Store, rows: list[tuple[str, bool]]) -> None:
    store.connection.register("_h", pd.DataFrame(rows, columns=["record_key", "new"]))
    store.execute("CREATE OR REPLACE TABLE memory.link_hash AS SELECT record_key FROM _h")
    store.execute("CREATE OR REPLACE TABLE memory.hash_delta AS SELECT record_key, 'c' AS content_sha, "
                  "'g' AS guard_sha, new FROM _h")
    store.execute("CREATE OR REPLACE TABLE memory.hash_gone AS SELECT record_key AS k FROM _h WHERE false")
    store.connection.unregister("_h")


@pytest.mark.parametrize("rows", [
    [("health:1", False), ("health:2", True), ("health:2", True)],     # one new record twice
    [("health:1", True), ("health:2", True)],                           # a new record already saved
])
def test_a_record_saved_twice_is_refused_and_nothing_is_written(tmp_path, rows):
    store = _store(tmp_path)
    _hashes(store, rows)
    before = store.rows("SELECT * FROM store.linked_records ORDER BY 1")
    with pytest.raises(StoreError, match="health:[12] would be in store.linked_records twice"):
        with store.transaction():
            save_records(store, 2)
    assert store.rows("SELECT * FROM store.linked_records ORDER BY 1") == before
    _hashes(store, [("health:1", False), ("health:2", True)])       # a proper delta saves
    with store.transaction():
        save_records(store, 2)
    assert [r[0] for r in store.rows("SELECT record_key FROM store.linked_records ORDER BY 1")] == [
        "health:1", "health:2"]
    store.close()


@pytest.mark.parametrize("minted", [["C-NEW", "C-NEW"], ["C-NEW", "C-KNOWN"]])
def test_a_child_identifier_minted_twice_is_refused(tmp_path, minted):
    store = _store(tmp_path)
    with pytest.raises(StoreError, match="child identifier C-(NEW|KNOWN) would be in store.child_ids twice"):
        with store.transaction():
            save_children(store, minted, 2)
    assert store.rows("SELECT child_id FROM store.child_ids") == [("C-KNOWN",)]
    with store.transaction():
        save_children(store, ["C-NEW"], 2)
    assert sorted(store.rows("SELECT child_id, created_run FROM store.child_ids")) == [("C-KNOWN", 1), ("C-NEW", 2)]
    store.close()
