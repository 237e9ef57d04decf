"""Whether a recipient can tell a withheld lookup from a miss by its timing (docs/security.md,
session 27, second pass): a real `linkage serve` over the tests' linked 2,000-child population,
one child refused to an AP school, and PROBE_N lookups each of four kinds (withheld, two misses,
a match) interleaved at random over one keep-alive connection; medians, quartiles and a
Mann-Whitney U test. Not a test (it asserts nothing about timings): it runs inside the test tree
for its fixtures, so copy it there to run it:

    cp benchmarks/lookup_oracle_timing.py tests/security/test_zz_lookup_timing.py
    PYTHONPATH=src PROBE_N=1500 python -m pytest -p no:xdist -q -s tests/security/test_zz_lookup_timing.py
    rm tests/security/test_zz_lookup_timing.py
"""
import os
import random
import statistics
import time
from datetime import date, timedelta
import httpx
from apiserver import Server, linked_home
from conftest import EXTRACT_DATE
from registry import register
from scipy.stats import mannwhitneyu

OAK = "Oak AP Academy"

def test_probe(tmp_path_factory, synth_month1):
    home = tmp_path_factory.mktemp("probe") / "data"
    children = linked_home(home, synth_month1, EXTRACT_DATE, children=2)
    oak = register(home, "oak client", "ap_school", "admissions", org=OAK)
    officer = register(home, "officer client", "la_education", "consent_officer", org="Northshire Education")
    server = Server(home, env={"LINKAGE_LOOKUP_BURST": "10000", "LINKAGE_LOOKUP_PER_MINUTE": "100000"})
    try:
        f, s, dob, pc = children[0][1]
        f1, s1, dob1, pc1 = children[1][1]
        tok = server.token(*oak)
        h = {"Authorization": f"Bearer {tok}", "X-Purpose": "admission"}
        c = httpx.Client(base_url=server.url, headers=h, timeout=30)
        q = lambda f, s, d, p: {"forename": f, "surname": s, "date_of_birth": d.isoformat(), "postcode": p}
        r = c.post("/v1/lookup", json=q(f, s, dob, pc)); child = r.json()["match"]["child_id"]
        otok = server.token(*officer)
        child = httpx.post(server.url + "/v1/lookup", headers={"Authorization": f"Bearer {otok}", "X-Purpose": "cme"}, json=q(f, s, dob, pc)).json()["match"]["child_id"]
        deny = httpx.post(server.url + "/v1/consents", headers={"Authorization": f"Bearer {otok}", "X-Purpose": "cme"},
            json={"child_id": child, "category": "identity", "recipient": {"organisation": oak[0].org.org_id}, "purpose": "admission",
                  "provision": "deny", "given_by": "parent", "method": "written", "evidence_ref": "x form 1", "given_on": date.today().isoformat()})
        assert deny.status_code == 201, deny.text
        kinds = {
            "withheld": q(f, s, dob, pc),
            "miss_dob": q(f, s, dob - timedelta(days=900), pc),
            "miss_name": q("Quillon", "Brakespeare", dob, pc),
            "match": q(f1, s1, dob1, pc1),
        }
        for k, body in kinds.items():
            print(k, c.post("/v1/lookup", json=body).json())
        times = {k: [] for k in kinds}
        order = [k for k in kinds for _ in range(int(os.environ.get('PROBE_N', '300')))]
        random.seed(1); random.shuffle(order)
        for k in order:
            t = time.perf_counter(); r = c.post("/v1/lookup", json=kinds[k]); times[k].append(time.perf_counter() - t)
            assert r.status_code == 200
        for k, v in times.items():
            print(k, "median ms %.3f p25 %.3f p75 %.3f" % (statistics.median(v)*1e3, *(x*1e3 for x in statistics.quantiles(v, n=4)[::2])))
        for a in ("miss_dob", "miss_name"):
            print("withheld vs", a, mannwhitneyu(times["withheld"], times[a]))
        print(open("/proc/loadavg").read())
    finally:
        server.stop()
