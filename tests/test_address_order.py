"""Addresses newest first, for a reader who may not see which agency holds each.

A file with one row per address keeps the record's current address and stores the others as
its history. Where the history rows have move-in dates and the current row has none, the
current address (the one the child lives at) was listed after an address the record had
moved on from, since an address with a move-in date ranked above any without.
"""

from __future__ import annotations

from datetime import date

from linkage.views.child import addresses_unattributed


def record(postcode, address, since=None, as_of=date(2026, 10, 1), source="social_care"):
    return {"source": source, "postcode": postcode, "address": address, "address_from": since,
            "extract_date": as_of}


def test_an_address_an_agency_holds_now_comes_before_its_records_history():
    doc = {"records": [record("NE1 4ST", "1 Current St")],
           "address_history": [{"source": "social_care", "postcode": "NE9 9ST", "address": "9 Old St",
                                "address_from": date(2012, 1, 1)}]}
    assert [a["address"] for a in addresses_unattributed(doc)] == ["1 Current St", "9 Old St"]
    assert addresses_unattributed(doc)[1]["since"] == date(2012, 1, 1)


def test_among_current_addresses_a_move_in_date_still_ranks_first():
    doc = {"records": [record("NE1 4ST", "1 Held St", as_of=date(2026, 10, 1)),
                       record("NE2 4ST", "2 Moved St", since=date(2025, 5, 1), as_of=date(2026, 9, 1),
                              source="health")],
           "address_history": [{"source": "health", "postcode": "NE9 9ST", "address": "9 Old St",
                                "address_from": date(2026, 1, 1)}]}
    assert [a["address"] for a in addresses_unattributed(doc)] == ["2 Moved St", "1 Held St", "9 Old St"]
