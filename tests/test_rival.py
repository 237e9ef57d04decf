"""A twin is no rival for a record whose forename says whose it is (``link/rival.py``), through the
real guard SQL and ``ambiguous_records`` over handcrafted twins."""

from __future__ import annotations

from linkage.link.cluster import AMBIGUITY_GAP, ambiguous_records
from linkage.link.guards import cotwin_pairs_sql, cotwins_from_pairs_sql, forename_counts_sql
from linkage.link.rival import middle_no_rivals, no_rivals
from test_twin_evidence import guarded, population, rec


def _ambiguous(records: list[dict], clusters: dict[str, str], edges: list[tuple[str, str, float]]):
    """``ambiguous_records`` as the run calls it: guarded partners elsewhere put to ``no_rivals``."""
    con = population(records)
    con.execute(f"CREATE TABLE cotwin_pairs AS {cotwin_pairs_sql('link_input', 'link_input')}")
    con.execute(f"CREATE TABLE cotwins AS {cotwins_from_pairs_sql('cotwin_pairs')}")
    con.execute(f"CREATE TABLE forename_counts AS {forename_counts_sql('link_input')}")
    apart = {pair for pair, g in guarded(records).items() if g}
    ids = {r["record_key"]: {"nhs": r["nhs_number"], "upn": r["upn"]} for r in records}

    def rivals(triples):
        return no_rivals(con, [t for t in triples if frozenset((t[0], t[2])) in apart], clusters, ids,
                         "link_input", "forename_counts", "cotwins", "cotwin_pairs") \
            | middle_no_rivals(con, triples, clusters, "link_input")

    return ambiguous_records(clusters, edges, no_rivals=rivals)


# Twins Reuben and Aaron at one home; the GP's Reuben has moved. The school's Reuben scores 12 with
# the GP's Reuben (a new postcode) and 10 with the GP's Aaron (one home, one birthday, one surname).
REUBEN = [rec("education:1", "reuben", upn="A1"), rec("education:2", "aaron", upn="B2"),
          rec("health:1", "reuben", nhs="N1", postcode="GU5 1LE"), rec("health:2", "aaron", nhs="M2")]
TWO = {"education:1": "R", "health:1": "R", "education:2": "A", "health:2": "A"}


def test_a_twin_of_another_name_is_no_rival():
    edges = [("education:1", "health:1", 12.0), ("education:2", "health:2", 25.0),
             ("education:1", "health:2", 12.0 - AMBIGUITY_GAP / 2)]
    assert ambiguous_records(TWO, edges) == {"education:1": ("health:1", "health:2")}    # as before
    assert _ambiguous(REUBEN, TWO, edges) == {}


def test_a_twin_spelt_alike_is_no_rival_when_the_records_own_source_holds_the_twin():
    # Mason and Jason, both at school and at the GP: the school holds Jason apart from Mason.
    records = [rec("education:1", "mason", upn="A1"), rec("education:2", "jason", upn="B2"),
               rec("health:1", "mason", nhs="N1"), rec("health:2", "jason", nhs="M2")]
    clusters = {"education:1": "E", "health:1": "E", "education:2": "B", "health:2": "B"}
    edges = [("education:1", "health:1", 21.8), ("education:2", "health:2", 21.8), ("education:1", "health:2", 20.5)]
    assert _ambiguous(records, clusters, edges) == {}


def test_a_twin_spelt_alike_stays_a_rival_when_no_source_of_the_record_holds_it():
    # The GP holds only Mason; Jason is only at school: the GP's "Mason" may be Jason with a slip.
    records = [rec("education:1", "mason", upn="A1"), rec("education:2", "jason", upn="B2"),
               rec("health:1", "mason", nhs="N1")]
    clusters = {"education:1": "E", "health:1": "E", "education:2": "B"}
    edges = [("education:1", "health:1", 21.8), ("health:1", "education:2", 20.5)]
    assert guarded(records)[frozenset(("health:1", "education:2"))]
    assert _ambiguous(records, clusters, edges) == {"health:1": ("education:1", "education:2")}


def test_a_twin_spelt_alike_is_no_rival_when_its_child_holds_another_nhs_number():
    # The GP's Bryan was born a day after Ryan (a slip), so he is no co-twin of the GP's Ryan;
    # but Bryan's child holds an NHS number other than the GP's Ryan's: two children.
    records = [rec("education:1", "ryan", upn="A1"), rec("education:2", "bryan", upn="B2"),
               rec("health:1", "ryan", nhs="N1"), rec("health:2", "bryan", nhs="M2", dob="2015-04-08")]
    assert guarded(records)[frozenset(("health:1", "education:2"))]
    clusters = {"education:1": "R", "health:1": "R", "education:2": "B", "health:2": "B"}
    edges = [("education:1", "health:1", 21.8), ("education:2", "health:2", 20.0), ("health:1", "education:2", 20.5)]
    assert _ambiguous(records, clusters, edges) == {}


def test_twins_given_one_forename_stay_rivals():
    # Fintan Eduardo and Fintan Jose at school; the GP's and social care's "Fintan" say neither.
    records = [rec("education:1", "fintan", upn="A1", middle="eduardo"),
               rec("education:2", "fintan", upn="B2", middle="jose"),
               rec("health:1", "fintan", nhs="N1"), rec("social_care:1", "fintan")]
    assert guarded(records)[frozenset(("health:1", "education:1"))]
    clusters = {"health:1": "A", "social_care:1": "A", "education:1": "B", "education:2": "C"}
    edges = [("health:1", "social_care:1", 20.0), ("health:1", "education:1", 19.0)]
    assert _ambiguous(records, clusters, edges) == {"health:1": ("social_care:1", "education:1")}


def test_a_record_whose_forename_fits_neither_partner_stays_ambiguous():
    # The school's "Ruben" is a slip of neither name the test reads as one: own partner Reuben by
    # spelling only, not by name, so the twin Aaron is still weighed against it.
    records = [rec("education:1", "rubben", upn="A1"), *REUBEN[1:]]
    edges = [("education:1", "health:1", 12.0), ("education:2", "health:2", 25.0),
             ("education:1", "health:2", 11.0)]
    assert guarded(records)[frozenset(("education:1", "health:2"))]
    assert _ambiguous(records, TWO, edges) == {"education:1": ("health:1", "health:2")}


def test_a_nickname_twin_is_no_rival_when_the_records_own_source_holds_it():
    # Anna and Hannah (one name by the nickname table) at school and at the GP.
    records = [rec("education:1", "anna", upn="A1"), rec("education:2", "hannah", upn="B2"),
               rec("health:1", "anna", nhs="N1"), rec("health:2", "hannah", nhs="M2")]
    assert guarded(records)[frozenset(("education:1", "health:2"))]
    clusters = {"education:1": "A", "health:1": "A", "education:2": "H", "health:2": "H"}
    edges = [("education:1", "health:1", 22.7), ("education:2", "health:2", 22.7), ("education:1", "health:2", 19.0)]
    assert _ambiguous(records, clusters, edges) == {}
    # ... but the GP's Anna, with Hannah only at school, could be Hannah written by her nickname.
    alone = [records[0], records[1], records[2]]
    clusters = {"education:1": "A", "health:1": "A", "education:2": "H"}
    assert guarded(alone)[frozenset(("health:1", "education:2"))]
    edges = [("education:1", "health:1", 22.7), ("health:1", "education:2", 19.0)]
    assert _ambiguous(alone, clusters, edges) == {"health:1": ("education:1", "education:2")}


def test_twins_spelt_alike_each_link_to_their_own_records_through_the_pipeline(tmp_path, linked_store):
    """Twins Mason and Jason at one home, each at school and at the GP: every record fits its own
    twin's child nearly as well (one letter of the forename), and each school record was refused
    as ambiguous, its child left in two. The school holds both twins, so each is linked."""
    import csv

    from conftest import EXTRACT_DATE
    from linkage.connectors import ingest_file
    from linkage.link import run_link
    from linkage.link.run import import_model
    from linkage.store import Store
    from linkage.synth.extracts import EDU_HEADER, HEALTH_HEADER
    from test_cluster_evidence import _nhs, _upn

    model = tmp_path / "model.json"
    model.write_text(linked_store.rows("SELECT settings_json FROM store.model ORDER BY created_at DESC LIMIT 1")[0][0])
    edu, health = tmp_path / "education.csv", tmp_path / "health.csv"
    with open(edu, "w", newline="") as fe, open(health, "w", newline="") as fh:
        we, wh = csv.writer(fe), csv.writer(fh)
        we.writerow(EDU_HEADER)
        wh.writerow(HEALTH_HEADER)
        for i, fore in enumerate(("Mason", "Jason")):
            row = {h: "" for h in EDU_HEADER} | {
                "AdNo": f"A{i}", "UPN": _upn(i), "Surname": "Medici", "Forename": fore, "DOB": "01/03/2016",
                "Sex": "M", "Postcode": "G31 6RB", "AddressLine1": "Flat 75H, Liam Bypass", "SchoolURN": "100001",
                "EntryDate": "01/09/2021", "EnrolStatus": "C", "AttendanceTerm": "2026/27 Autumn"}
            we.writerow([row[h] for h in EDU_HEADER])
            health_row = {h: "" for h in HEALTH_HEADER} | {
                "id": f"P{i}", "nhsNumber": _nhs(10 * i), "name.given": fore, "name.family": "Medici",
                "birthDate": "2016-03-01", "gender": "male", "address.postalCode": "G31 6RB",
                "address.line": "Flat 75H, Liam Bypass", "generalPractitioner.odsCode": "A81001",
                "generalPractitioner.period.start": "2016-04-01", "lastContactDate": "2026-10-12",
                "lastContactType": "GP appointment"}
            wh.writerow([health_row[h] for h in HEALTH_HEADER])
    store = Store(tmp_path / "data", memory_limit="1GB")
    try:
        assert ingest_file(store, "education", edu, extract_date=EXTRACT_DATE).accepted == 2
        assert ingest_file(store, "health", health, extract_date=EXTRACT_DATE).accepted == 2
        import_model(store, model)
        run_link(store)
        child = dict(store.rows("SELECT record_key, child_id FROM store.identity"))
    finally:
        store.close()
    assert child["education:A0"] == child["health:P0"] != child["education:A1"] == child["health:P1"]


# Ivy Rose Dua at school and at the GP, the GP's record at a new home; social care holds an Ivy Dua
# at the old home with no middle name (social care records none), in a child of its own: a twin's,
# or a namesake's. The school's record scores 18 with the GP's and 16 with social care's.
IVY = [rec("education:1", "ivy", upn="A1", middle="rose"), rec("health:1", "ivy", nhs="N1", middle="rose",
                                                              postcode="GU5 1LE"),
       rec("social_care:1", "ivy")]
IVY_CHILDREN = {"education:1": "I", "health:1": "I", "social_care:1": "S"}
IVY_EDGES = [("education:1", "health:1", 18.0), ("education:1", "social_care:1", 16.0)]


def test_a_middle_name_the_record_shares_with_its_own_child_and_the_rival_lacks_says_whose_it_is():
    assert ambiguous_records(IVY_CHILDREN, IVY_EDGES) == {"education:1": ("health:1", "social_care:1")}  # as before
    assert _ambiguous(IVY, IVY_CHILDREN, IVY_EDGES) == {}


def test_a_rival_whose_child_holds_the_middle_name_or_a_spelling_of_it_stays_a_rival():
    # Twins may share a middle name: the other child's GP record gives "rosa", a spelling of "rose".
    records = [*IVY, rec("health:2", "ivy", nhs="N2", middle="rosa")]
    children = {**IVY_CHILDREN, "health:2": "S"}
    assert _ambiguous(records, children, IVY_EDGES) == {"education:1": ("health:1", "social_care:1")}


def test_twins_given_one_forename_are_told_apart_by_the_middle_name_the_record_gives():
    # Fintan Eduardo and Fintan Jose at school; the GP's Fintan Eduardo is Eduardo's, not Jose's.
    records = [rec("education:1", "fintan", upn="A1", middle="eduardo"),
               rec("education:2", "fintan", upn="B2", middle="jose"),
               rec("health:1", "fintan", nhs="N1", middle="eduardo")]
    clusters = {"education:1": "A", "health:1": "A", "education:2": "B"}
    edges = [("health:1", "education:1", 20.0), ("health:1", "education:2", 19.0)]
    assert _ambiguous(records, clusters, edges) == {}
    # Without the middle name the GP's record says neither (``test_twins_given_one_forename_stay_rivals``).
    records[2] = rec("health:1", "fintan", nhs="N1")
    assert _ambiguous(records, clusters, edges) == {"health:1": ("education:1", "education:2")}
