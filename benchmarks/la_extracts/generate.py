"""An independent messy multi-agency generator (does not use linkage.synth).

Writes school census (UTF-8 BOM, CRLF), AP roll (second education file), social care
(cp1252, semicolon, 'SURNAME, Forename' in one column, several rows per child), health
(tab-delimited, NHS numbers with spaces or lost leading zeros, ISO datetimes, M/F/1/2/U),
an early-help case list (Windows-1252, ';', UPPER-CASE headers with stray spaces, a record id of
team and case number, address lines in four columns, DD/MM/YY dates of birth, date-time move-in
dates, one row per address), a school-nurse contact log (header case as typed, the postcode only
inside the address, NHS numbers with dashes, lower-case UPNs, date-time births, one row per
contact), plus truth.csv (source,source_record_id,person), twins.csv and classes.csv.
Written without linkage.synth, as an authority's own test set would be; see README.md here.

    python benchmarks/la_extracts/generate.py OUT [SEED [CHILDREN]]     # default 19, 5000
"""
import csv, random, sys
from datetime import date, timedelta
from pathlib import Path

R = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 19)
OUT = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/s19user/data"); OUT.mkdir(parents=True, exist_ok=True)
N = int(sys.argv[3]) if len(sys.argv) > 3 else 5000
TODAY = date(2026, 11, 1)

BOYS = ["Oliver", "George", "Harry", "Jack", "Jacob", "Noah", "Charlie", "Muhammad", "Thomas", "Oscar",
        "William", "James", "Alexander", "Daniel", "Joshua", "Samuel", "Joseph", "Benjamin", "Dafydd", "Rhys",
        "Łukasz", "Jakub", "José", "Mohammed", "Ahmed", "Wei", "Kacper", "Tomás", "Seán", "Ioan", "Owen",
        "Matthew", "Christopher", "Nicholas", "Edward", "Robert", "Michael", "Zain", "Yusuf", "Ali"]
GIRLS = ["Olivia", "Amelia", "Isla", "Ava", "Emily", "Sophia", "Grace", "Mia", "Poppy", "Ella", "Bella",
         "Elizabeth", "Katherine", "Rebecca", "Charlotte", "Jessica", "Siân", "Gwenllian", "Zoë", "Chloé",
         "Zofia", "Aleksandra", "María", "Fatima", "Aisha", "Maryam", "Xiu", "Niamh", "Aoife", "Megan",
         "Victoria", "Abigail", "Hannah", "Lily", "Ruby", "Evie", "Freya", "Nur", "Hana", "Mei"]
SURNAMES = ["Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas", "Johnson",
            "Roberts", "Robinson", "Wright", "Walker", "White", "Edwards", "Hughes", "Green", "Hall", "Lewis",
            "O'Brien", "O'Connor", "McDonald", "Smith-Jones", "Bowes-Lyon", "Wójcik", "Kowalski", "Nowak",
            "Muñoz", "García", "Khan", "Ahmed", "Hussain", "Ali", "Begum", "Patel", "Singh", "Wang", "Li",
            "Zhang", "Chen", "Nguyen", "Ap Rhys", "Llewellyn", "Pritchard", "Okafor", "Adeyemi", "Mensah",
            "Kaczmarek", "Al-Sayed", "El-Masri", "Fitzgerald", "D'Souza", "Van der Berg", "Murphy", "Kelly"]
NICK = {"William": "Bill", "Alexander": "Alex", "Elizabeth": "Beth", "Katherine": "Kate", "Rebecca": "Becky",
        "Charlotte": "Lottie", "Jessica": "Jess", "Thomas": "Tom", "James": "Jim", "Daniel": "Dan",
        "Joshua": "Josh", "Samuel": "Sam", "Joseph": "Joe", "Benjamin": "Ben", "Matthew": "Matt",
        "Christopher": "Chris", "Nicholas": "Nick", "Edward": "Ted", "Robert": "Bob", "Michael": "Mike",
        "Victoria": "Vicky", "Abigail": "Abbie", "Aleksandra": "Ola", "Jakub": "Kuba"}
SCRIPT = {"Muhammad": "محمد", "Fatima": "فاطمة", "Wei": "伟", "Wang": "王", "Zhang": "张", "Li": "李",
          "Chen": "陈", "Aisha": "عائشة", "Ali": "علي", "Mei": "梅"}
DISTRICTS = ["LS6", "LS11", "M14", "M8", "B12", "B9", "BD3", "S2", "NE4", "CF24", "L8", "NG7", "SW9", "E17"]
IN_LET = "ABDEFGHJLNPQRSTUWXYZ"
UPN_L = "ABCDEFGHJKLMNPQRTUVWXYZ"
STREETS = ["High Street", "Station Road", "Church Lane", "Mill Road", "Park Avenue", "Heol y Llan", "Ffordd Las"]


def upn(serial):
    body = f"{R.choice(['380','381','383'])}{R.randint(2000,7999):04d}{R.randint(10,22):02d}{serial % 1000:03d}"
    tot = sum(w * int(c) for w, c in zip(range(2, 14), body))
    return UPN_L[tot % 23] + body


def nhs(lead_zero=False):
    while True:
        first = ("0" + "".join(str(R.randint(0, 9)) for _ in range(8))) if lead_zero else \
            str(R.choice([4, 6, 9])) + "".join(str(R.randint(0, 9)) for _ in range(8))
        c = 11 - sum(int(d) * w for d, w in zip(first, range(10, 1, -1))) % 11
        c = 0 if c == 11 else c
        if c != 10:
            return first + str(c)


def postcode():
    return f"{R.choice(DISTRICTS)} {R.randint(1,9)}{R.choice(IN_LET)}{R.choice(IN_LET)}"


def typo(s):
    if len(s) < 4: return s
    i = R.randrange(1, len(s) - 1)
    k = R.random()
    if k < .33: return s[:i] + s[i + 1:]
    if k < .66: return s[:i] + s[i + 1] + s[i] + s[i + 2:]
    return s[:i] + R.choice("aeioulnrst") + s[i + 1:]


people, twins, classes = [], [], []
pid = 0
while len(people) < N:
    fam_sur = R.choice(SURNAMES)
    home = postcode(); street = f"{R.randint(1,120)} {R.choice(STREETS)}"
    born = TODAY - timedelta(days=R.randint(4 * 365, 17 * 365))
    kids = 2 if R.random() < 0.03 else 1
    sib = R.random() < 0.25
    group = []
    for k in range(kids + (1 if sib else 0)):
        pid += 1
        sex = R.choice("MF")
        fn = R.choice(BOYS if sex == "M" else GIRLS)
        if k == 1 and kids == 2 and sex == "F" and R.random() < .3:
            fn = "Bella" if group[0]["fn"] == "Ella" else fn
        dob = born if k < kids else born - timedelta(days=R.randint(400, 2000))
        p = dict(pid=f"P{pid:05d}", fn=fn, mn=R.choice(["", "", "Marie", "James", "Ann", "Lee"]), sn=fam_sur,
                 dob=dob, sex=sex, pc=home, addr=street, upn=upn(pid), nhs=nhs(R.random() < .04),
                 former_sn="", new_pc=None)
        if R.random() < .05:           # surname changed with a move: schools have the new one
            p["former_sn"] = p["sn"]; p["sn"] = R.choice(SURNAMES); p["new_pc"] = postcode()
        group.append(p)
    if kids == 2:
        twins.append((group[0]["pid"], group[1]["pid"]))
    people.extend(group)

def dmy(d): return d.strftime("%d/%m/%Y")
def serial(d): return str((d - date(1899, 12, 30)).days)
truth = []
def T(src, rid, p, cls="clean"):
    truth.append((src, rid, p["pid"])); classes.append((src, rid, p["pid"], cls))

def fname(p, allow_nick=True):
    fn, cls = p["fn"], "clean"
    r = R.random()
    if r < .05: fn, cls = typo(fn), "typo"
    elif r < .10 and allow_nick and fn in NICK: fn, cls = NICK[fn], "nickname"
    return fn, cls

# -- school census: UTF-8 with BOM, CRLF, trailing empty columns, lower-case postcodes w/o space
edu_cols = ["Adno", "UPN", "Former UPN", "Legal Surname", "Legal Forename", "Middle Name(s)", "Preferred Surname",
            "Preferred Forename", "DOB", "Gender", "Post Code", "Address 1", "School URN", "Entry Date", "NC Year",
            "", ""]
rows = []
adno = 0
for p in people:
    if R.random() > .9 or (TODAY - p["dob"]).days < 4.5 * 365: continue
    adno += 1
    rid = f"{R.choice(['100123','100456','141234'])}/{adno:05d}"
    fn, cls = p["fn"], "clean"
    if R.random() < .04: fn, cls = typo(fn), "typo"
    sn = p["sn"]
    dob = dmy(p["dob"])
    if R.random() < .01: dob, cls = serial(p["dob"]), "excel_serial_dob"
    elif R.random() < .01:
        d = p["dob"]
        if d.day <= 12 and d.day != d.month: dob, cls = dmy(date(d.year, d.day, d.month)), "dob_swap"
    pc = (p["new_pc"] or p["pc"])
    pc = R.choice([pc.lower(), pc.replace(" ", ""), pc, pc.lower().replace(" ", "")])
    if R.random() < .03: pc = R.choice(["N/A", "Unknown", ""])
    pref = NICK.get(p["fn"], "") if R.random() < .3 else ""
    former = upn(R.randint(0, 999)) if R.random() < .03 else ""
    u = p["upn"].lower() if R.random() < .05 else p["upn"]
    if p["former_sn"]: cls = "surname_change"
    row = [rid, u, former, sn, fn, p["mn"], "", pref, dob, p["sex"], pc, p["addr"],
           rid.split("/")[0], "01/09/2024", str(max(0, min(13, (TODAY - p["dob"]).days // 365 - 5))), "", ""]
    rows.append(row); T("education", rid, p, cls)
    if R.random() < .01: rows.append(list(row))      # exact duplicate row from the MIS
with open(OUT / "school_census.csv", "w", encoding="utf-8-sig", newline="") as fh:
    w = csv.writer(fh, lineterminator="\r\n"); w.writerow(edu_cols); w.writerows(rows)

# -- AP roll: a second education file (ingest --amend), its own layout
ap = [p for p in people if R.random() < .03]
with open(OUT / "ap_roll.csv", "w", encoding="utf-8", newline="") as fh:
    w = csv.writer(fh); w.writerow(["Pupil Ref", "Name", "Date of Birth", "UPN", "Postcode", "Start"])
    for i, p in enumerate(ap):
        rid = f"AP{i:04d}"
        fn, cls = fname(p)
        w.writerow([rid, f"{fn} {p['sn']}", p["dob"].strftime("%d-%b-%Y"), p["upn"] if R.random() < .7 else "",
                    p["pc"], "2026-09-05"])
        T("education", rid, p, "ap_" + cls)

# -- social care: cp1252, ';', 'SURNAME, Forename', DOB dd.mm.yyyy, several rows per child, quoted newlines
sc = [p for p in people if R.random() < .25]
with open(OUT / "social_care.csv", "w", encoding="cp1252", errors="replace", newline="") as fh:
    w = csv.writer(fh, delimiter=";", lineterminator="\r\n")
    w.writerow(["Person ID", "Full Name", "Previous Surname", "Date of Birth", "Gender", "Ethnicity", "NHS No",
                "UPN", "Address", "Postcode", "Referral Date", "Episode"])
    for i, p in enumerate(sc):
        rid = f"{200000 + i}"
        fn, cls = fname(p)
        sn = p["sn"] if not p["former_sn"] else R.choice([p["sn"], p["former_sn"]])
        if R.random() < .03: fn, sn, cls = sn, fn, "swap"
        full = f"{sn.upper()}, {fn}"
        gender = {"M": "Male", "F": "Female"}[p["sex"]] if R.random() > .05 else "Not Known"
        nh = p["nhs"] if R.random() < .6 else R.choice(["", "N/A", "Unknown"])
        u = p["upn"] if R.random() < .4 else ""
        addr = f"{p['addr']}\nLeeds" if R.random() < .3 else p["addr"]
        dob = p["dob"].strftime("%d.%m.%Y")
        if R.random() < .01: dob = ""        # no date of birth: must be quarantined, named
        if p["former_sn"]: cls = "surname_change"
        for ep in range(R.choice([1, 1, 1, 2, 3])):   # one row per episode: the same child again
            w.writerow([rid, full, p["former_sn"], dob, gender, R.choice(["WBRI", "ASPK", "Unknown", ""]), nh, u,
                        addr, p["pc"], (TODAY - timedelta(days=R.randint(30, 900))).isoformat(), f"CIN{ep+1}"])
        T("social_care", rid, p, cls)

# -- health: tab-delimited, NHS numbers with spaces or lost zeros, ISO datetime DOB, sex M/F/1/2/U
with open(OUT / "gp_extract.tsv", "w", encoding="utf-8", newline="") as fh:
    w = csv.writer(fh, delimiter="\t")
    w.writerow(["Patient ID", "NHS Number", "Given Name", "Family Name", "Date of Birth", "Sex", "Postcode",
                "Practice Code", "Registered"])
    for i, p in enumerate(people):
        if R.random() > .93: continue
        rid = f"H{i:06d}"
        fn, cls = fname(p)
        if p["fn"] in SCRIPT and R.random() < .3: fn, cls = SCRIPT[p["fn"]], "script"
        sn = SCRIPT.get(p["sn"], p["sn"]) if cls == "script" else p["sn"]
        n = p["nhs"]
        n = n.lstrip("0") if n.startswith("0") else R.choice([n, f"{n[:3]} {n[3:6]} {n[6:]}"])
        sex = R.choice({"M": ["M", "1", "Male"], "F": ["F", "2", "Female"]}[p["sex"]]) if R.random() > .03 else "U"
        pc = p["new_pc"] or p["pc"] if R.random() < .7 else p["pc"]
        if p["former_sn"]: cls = "surname_change"
        w.writerow([rid, n, fn, sn, p["dob"].isoformat() + "T00:00:00", sex, pc, "B86001", "2019-01-01"])
        T("health", rid, p, cls)

# -- early help (a second social-care file, ingest --amend): cp1252, ';', headers in capitals with stray
# spaces, record id = team + case number, address in four columns, DD/MM/YY births, one row per address
TEAMS = ["EH North", "EH South", "EH East"]
eh = [p for p in people if R.random() < .08]
with open(OUT / "early_help.csv", "w", encoding="cp1252", errors="replace", newline="") as fh:
    w = csv.writer(fh, delimiter=";", lineterminator="\r\n")
    w.writerow(["TEAM", " CASE NO", "SURNAME ", "FORENAME", "D.O.B", "ETHNICITY", "ADDRESS LINE 1", "ADDRESS LINE 2",
                "TOWN", "POSTCODE", "MOVED IN"])
    for i, p in enumerate(eh):
        team, case = R.choice(TEAMS), str(1000 + i)
        fn, cls = fname(p)
        if p["former_sn"]: cls = "surname_change"
        homes = [(p["addr"], p["pc"], p["dob"] + timedelta(days=R.randint(0, 400)))]
        if p["new_pc"]:
            homes.append((f"{R.randint(1, 99)} {R.choice(STREETS)}", p["new_pc"], TODAY - timedelta(days=R.randint(30, 700))))
        elif R.random() < .3:
            homes.append((f"Flat {R.randint(1, 9)}, {R.randint(1, 99)} {R.choice(STREETS)}", postcode(),
                          TODAY - timedelta(days=R.randint(30, 700))))
        R.shuffle(homes)                    # the system lists addresses in no particular order
        for street, pc, moved in homes:
            line1, _, line2 = street.partition(", ")
            w.writerow([team, case, p["sn"].upper(), fn, p["dob"].strftime("%d/%m/%y"), R.choice(["WBRI", "ASPK", ""]),
                        line1, line2, R.choice(["Leeds", "LEEDS", ""]), pc if R.random() > .05 else "",
                        moved.strftime("%d/%m/%Y") + " 00:00"])
        T("social_care", f"{team}/{case}", p, "early_help_" + cls)

# -- school nurse (a second health file, ingest --amend): headers typed by hand, the postcode only inside
# the address, NHS numbers with dashes, lower-case UPNs, date-time births, one row per contact
sn_rows = []
for i, p in enumerate(R.sample(people, len(people) // 20)):
    rid = f"SN{i:05d}"
    fn, cls = fname(p, allow_nick=False)
    if p["former_sn"]: cls = "surname_change"
    n = p["nhs"]
    n = R.choice([f"{n[:3]}-{n[3:6]}-{n[6:]}", n, ""])
    addr = f"{p['addr']}, Leeds {R.choice([p['new_pc'] or p['pc'], (p['new_pc'] or p['pc']).replace(' ', '').lower()])}"
    for _ in range(R.choice([1, 2, 2, 3])):
        sn_rows.append([rid, fn, p["sn"], p["dob"].isoformat() + " 00:00:00", n, p["upn"].lower() if R.random() < .5 else "",
                        addr, (TODAY - timedelta(days=R.randint(10, 500))).strftime("%d/%m/%Y"),
                        R.choice(["Immunisation", "Height and weight", "Drop-in"])])
    T("health", rid, p, "nurse_" + cls)
with open(OUT / "school_nurse.csv", "w", encoding="utf-8-sig", newline="") as fh:
    w = csv.writer(fh)
    w.writerow(["patient ref", "first name", "Last Name", "date of birth", "NHS no.", "upn", "Home Address",
                "Contact Date", "Contact Type"])
    w.writerows(sn_rows)

with open(OUT / "truth.csv", "w", newline="") as fh:
    w = csv.writer(fh); w.writerow(["source", "source_record_id", "person"]); w.writerows(truth)
with open(OUT / "classes.csv", "w", newline="") as fh:
    w = csv.writer(fh); w.writerow(["source", "source_record_id", "person", "class"]); w.writerows(classes)
with open(OUT / "twins.csv", "w", newline="") as fh:
    w = csv.writer(fh); w.writerow(["person_a", "person_b"]); w.writerows(twins)
print(len(people), "children;", len(truth), "records;", len(twins), "twin pairs")
