"""The twin guard: a safeguarding rule that no model weight can override, fired on evidence.

Two records sharing a date of birth and a family (a related surname or the same
postcode) but not the same forename are kept apart only when there is evidence of
a second child. "Sharing a date of birth" allows one slip in one record (day and month
transposed, or one character): the model weighs such a slip as nearly a match, so twins one
of whose records has it (Reuben and Tanner Us, born 06/03 and 03/06, one home) would otherwise
be linked on surname and address alone whenever the u estimates drift a little:

* the forenames are different names, not spellings of one name: not a nickname,
  not a transliteration (a shared key from ``transliterations.csv``, or the consonants of a
  name kept in Arabic script, at least three of them, or fewer when the date of birth is the same,
  the sexes do not disagree and no co-twin's forename has those consonants (علي/Ali);
  not the whole name run together or a
  double metaphone code of four or more letters), not a typo
  (Jaro-Winkler >= 0.88, or an edit distance of at most a quarter of the
  longer name, at least one; two fifths when either spelling is rare in the data, held
  by at most ``RARE`` records, as a slip is), not a typo of one of the other's nicknames
  (Liaam/William through Liam), not a rare forename one typed character from a name whose
  keys the other shares (Mstty/Matthew through Matty, ``names.near_keys``), and not a swap
  with the surname; or
* one source holds a sibling: a record of either side has a *co-twin*, another
  record in its own extract with the same date of birth and family, a different
  forename or a different identifier, and the other side's forename is at least as
  close to that co-twin's as to its own (Gerard/Gerald when the school holds both).

The same holds whatever the forenames when both records give a first middle name and the two
are different names (Jaro-Winkler below 0.88): twins given one forename are told apart by the
middle one (Jackson Claudio and Jackson Harley on one GP list, one without an NHS number).

Both twins' records may have forename and surname swapped (the GP's "Guicciardini George", social
care's "Guicciardini Jack"): one forename, and a surname that is one record's co-twin's forename.

And when one source holds two children of one forename, told apart only by middle name (two
Romeos, Jake and Eraldo, with different UPNs), a record of that forename whose middle name
does not say which one it is (none given) is not linked automatically to either.

And two forenames this population's twins are given (Aiden and Aidan, Amelia and Amelie: each
pair held by co-twins in one source, in at least ``TWIN_NAMES_LEAST`` families and in more families
than children are held under both by one identifier, ``twin_names_sql``) are two names, not one name spelt two ways, wherever the two records are: twins each held by
sources the other is not (Amelia at school and in social care, Amelie only at the GP) leave no
co-twin in view, and a reviewer, not the model, says whether they are one child.

A name is read where it is written: a compound forename split into forename and first middle name
(Xiao / Ling Abigail) has Abigail for its middle name; a record with forename and surname swapped
is compared with a co-twin on its true forename; and one Chinese name in Wade-Giles and in Pinyin
(Tzu-hao, Zihao) is one name.

And one record gives a second given name (a middle name, or a forename of two words: the GP's "Leo
Jack") where the other, in a register that states every middle name, gives none (the school's
Leon): twins each held only where the other is not (``middles``). And whatever the names, two
records of one register that holds each child once, one of them with no identifier (``heldonce``:
twins of one forename on one GP list, neither with an NHS number).

A forename typo with no co-twin in sight (Victoe/Victtor) is then linked, or not,
by the model like any other typo. Unless a UPN or NHS number agrees (allowing one
typed error), a guarded pair is never linked automatically; it goes to review.
"""

from __future__ import annotations

from linkage.link.heldonce import held_once_registers_sql, held_once_sql
from linkage.link.middles import given_more_sql, middle_registers_sql, silent_sql
from linkage.link.namesql import middle_name


__all__ = ["ABJAD_SHORTEST", "GUARD_REASON", "SECOND_CHILD_COLUMNS", "birthday_sql", "date_slip_sql", "transposed_sql", "cotwin_pairs_sql", "family_rows_sql", "surname_buckets_sql", "cotwin_sql", "cotwins_from_pairs_sql",
           "different_names_sql", "forename_counts_sql", "near_sql", "same_name_sql", "SIBLING_DOB_DAYS", "SPLIT_SLIP_LONGEST", "TWIN_NAMES_LEAST", "twin_families_sql", "twin_names_sql", "second_child_sql", "sexes_differ_sql", "short_abjad_sql", "spelling_sql", "split_name_sql", "surname_as_given_sql", "swapped_sql",
           "twin_guard_sql"]

GUARD_REASON = "possible twin or sibling: same date of birth and family, different forename"

# A forename held by at most this many records is more likely a slip than a name of its own,
# so a looser edit distance (two in five letters) still counts as a spelling of the other.
RARE = 2
# A vowelless (Arabic-script) forename with this many consonants or more is read as any name with
# those consonants; a shorter one only on other evidence (``short_abjad_sql``).
ABJAD_SHORTEST = 3
# Days apart that two records of one home may be born and still be read as twins (a date of birth
# typed ten days out); siblings who are not twins are born months apart.
SIBLING_DOB_DAYS = 31
# Families (a birthday and a surname) whose co-twins in one source bear two forenames, spelt alike,
# for the two to be read as names twins are given, not one name spelt two ways: one such family
# may be one child entered twice with a typo (a second UPN).
TWIN_NAMES_LEAST = 2
# A compound given name this long, split in two, may differ from the whole by one letter.
SPLIT_SLIP_LONGEST = 8


def birthday_sql(l: str, r: str, written: str = "{t}.dob_str") -> str:
    """One date of birth, allowing one slip in one record: the dates the model's dob levels
    weigh as (nearly) agreeing (exact, day and month transposed, one character: ``date_slip_sql``
    over ``written``, the ISO text of ``{t}``'s date)."""
    return f"({l}.dob = {r}.dob OR {transposed_sql(l, r)} OR {date_slip_sql(l, r, written)})"


def transposed_sql(a: str, b: str) -> str:
    """The dates of birth one year with day and month transposed (pure SQL)."""
    return f"(year({a}.dob) = year({b}.dob) AND day({a}.dob) = month({b}.dob) AND month({a}.dob) = day({b}.dob))"


def date_slip_sql(a: str, b: str, written: str = "{t}.dob_str") -> str:
    """The dates of birth as written (``written``: ISO text of ``{t}``'s date) one typed character or
    one transposition of two adjacent ones apart (Damerau-Levenshtein at most 1; pure SQL). Either
    leaves two of year, month and day whole (every ISO date is ten characters, and a change at a
    hyphen is no date), so that is tested first: the edit distance is computed only for those pairs,
    not for every pair a key meets (1.75M for ``reach``'s ``spelling`` at 1M records)."""
    same = " + ".join(f"CAST({f}({a}.dob) = {f}({b}.dob) AS INTEGER)" for f in ("year", "month", "day"))
    return f"({same} >= 2 AND damerau_levenshtein({written.format(t=a)}, {written.format(t=b)}) <= 1)"


def _same_name(l: str, r: str) -> str:
    return (f"({l}.forename = {r}.forename OR list_has_any({l}.forename_keys, {r}.forename_keys) "
            f"OR ({l}.forename = {r}.surname AND {l}.surname = {r}.forename))")


def _abjad(l: str, r: str) -> str:
    """One record's forename is the other's consonants, written without vowels (from Arabic script)."""
    return f"({l}.forename_abjad = {r}.forename_skel OR {l}.forename_skel = {r}.forename_abjad)"


def sexes_differ_sql(l: str, r: str) -> str:
    """Both records say M or F, and not the same."""
    return f"coalesce({l}.sex IN ('M', 'F') AND {r}.sex IN ('M', 'F') AND {l}.sex <> {r}.sex, false)"


def _skeleton_cotwin(own: str, other: str) -> str:
    """``own`` has a co-twin whose forename has ``other``'s consonants: a second child that the
    vowelless spelling could equally be (Ali and Leo, both ``l``)."""
    return (f"coalesce(list_bool_or(list_transform({own}.cotwins, x -> x.s = {other}.forename_skel "
            f"OR x.s = {other}.forename_abjad)), false)")


def short_abjad_sql(l: str, r: str) -> str:
    """A name from Arabic script whose consonants are fewer than ``ABJAD_SHORTEST`` (علي, ``ly``:
    Ali; عمر: Omar; عائشة: Aisha), read as the other's forename only on other evidence: many
    names share one or two consonants (Ali, Ella, Leo, Lily: ``l``), so the date of birth must be
    the same, not one slip apart, the sexes must not disagree, and no co-twin of either record may
    have a forename of those consonants. Rows need ``cotwins`` with the skeleton ``s``."""
    return (f"coalesce({_abjad(l, r)} AND length({l}.forename_skel) < {ABJAD_SHORTEST} AND {l}.dob = {r}.dob "
            f"AND NOT {sexes_differ_sql(l, r)} AND NOT {_skeleton_cotwin(l, r)} AND NOT {_skeleton_cotwin(r, l)}, false)")


def _spelling(l: str, r: str, slip_most: str = str(RARE), short_abjad: str = "false", lazy: bool = False) -> str:
    """One name spelt two ways (pure SQL over two input rows). ``short_abjad``: SQL for when a
    vowelless spelling with fewer than ``ABJAD_SHORTEST`` consonants is read as the other name.
    ``lazy``: as ``_any``, the costly keys' edit distances last, asked only where nothing else held;
    never NULL, where the plain form is NULL only for a missing forename (the guard asks it only
    of two forenames that differ, where the two agree)."""
    a, b = f"{l}.forename", f"{r}.forename"
    near = (f"{near_sql(a, b)} OR (least({l}.forename_n, {r}.forename_n) <= {RARE} "
            f"AND damerau_levenshtein({a}, {b}) <= greatest(1, round(0.4 * greatest(length({a}), length({b})))))")
    keys = (f"list_bool_or(list_transform({l}.forename_keys, x -> list_bool_or(list_transform("
            f"{r}.forename_keys, y -> damerau_levenshtein(x, y) <= 1))))")
    # A rare forename one typed character from a nickname of the other (Mstty, Matty: Matthew).
    slip = (f"coalesce(({l}.forename_n <= {slip_most} AND list_has_any({l}.forename_near, {r}.forename_keys)) "
            f"OR ({r}.forename_n <= {slip_most} AND list_has_any({r}.forename_near, {l}.forename_keys)), false)")
    abjad = f"(coalesce(length({l}.forename_skel) >= {ABJAD_SHORTEST} AND {_abjad(l, r)}, false) OR {short_abjad})"
    whole = _whole(l, r)
    if lazy:
        return _any(near, slip, abjad, whole, swapped_sql(l, r), keys)
    return (f"({near} OR coalesce({keys}, false) OR {slip} "
            f"OR {abjad} OR {whole} OR {swapped_sql(l, r)})")


def _whole(l: str, r: str) -> str:
    """The whole given names one name: in one word or two (Abdul Rahman), one sound with a code long
    enough not to collide by chance (Hsiao-ling, Xiaoling: SLNK), or one Chinese name in Wade-Giles
    and in Pinyin (Tzu-hao, Zihao; Hsiao-ling, Xiao Ling)."""
    wg = [_pinyin(f"{r_}.{c}") for r_ in (l, r) for c in ("forename_full", "forename_join")]
    return (f"coalesce({l}.forename_full = {r}.forename_full OR {split_name_sql(l, r)} "
            f"OR (length({l}.forename_dm) >= 4 AND {l}.forename_dm = {r}.forename_dm) "
            f"OR ({wg[0]} IN ({wg[2]}, {wg[3]}) OR {wg[1]} = {wg[2]}), false)")


# Wade-Giles syllables (Taiwan, Hong Kong and older records) that Hanyu Pinyin writes one way only:
# hs is x (Hsiao: Xiao), tzu is zi (Tzu-hao: Zihao), ssu and szu are si. ISO 7098 (Pinyin);
# Library of Congress Pinyin conversion tables (2000). Aspirated stops need the apostrophe
# (ch'/ch: q/j) that forms drop, so those are left alone.
_WADE_GILES = (("hs", "x"), ("tzu", "zi"), ("ssu", "si"), ("szu", "si"))


def _pinyin(name: str) -> str:
    """``name`` (SQL) with its Wade-Giles syllables written in Pinyin (``_WADE_GILES``)."""
    for wade, pinyin in _WADE_GILES:
        name = f"replace({name}, '{wade}', '{pinyin}')"
    return name


def split_name_sql(l: str, r: str) -> str:
    """One compound given name written whole in one record and split into a forename and a first
    middle name in the other (Xiaoling / Xiao Ling, Abdulrahman / Abdul Rahman), allowing one
    typed or romanised letter in a name of ``SPLIT_SLIP_LONGEST`` letters or more (Abdelrahman /
    Abdul Rahman). That middle name is then part of the forename, not a middle name to compare."""
    return (f"coalesce({_joined(f'{l}.forename_full', f'{r}.forename_join')} "
            f"OR {_joined(f'{l}.forename_join', f'{r}.forename_full')}, false)")


def _joined(a: str, b: str) -> str:
    """One name whole (``a``) and split (``b``, forename and first middle name run together)."""
    return f"({a} = {b} OR (length({a}) >= {SPLIT_SLIP_LONGEST} AND damerau_levenshtein({a}, {b}) <= 1))"


def _as_surname(name: str, other: str) -> str:
    """The forename ``name`` written as ``other``'s surname: a part of it, a typo of it, or another
    form of the forename (Elizabeth / Betsy: ``forename_family``)."""
    return (f"(list_contains({other}.surname_all, {name}.forename) "
            f"OR jaro_winkler_similarity({name}.forename, {other}.surname) >= 0.88 "
            f"OR list_has_any({other}.surname_all, {name}.forename_family))")


def swapped_sql(l: str, r: str) -> str:
    """Forename and surname swapped between the two records, each possibly with a typo, one part
    of a double surname, or in another form of the forename (Angus Betsy / Elizabeth Angus)."""
    return f"coalesce({_as_surname(l, r)} AND {_as_surname(r, l)}, false)"


def different_names_sql(l: str, r: str) -> str:
    """Two forenames that are different names, not one name spelt two ways: the guard's first
    test (rows need ``forename_n`` and ``cotwins``)."""
    return f"(NOT {_same_name(l, r)} AND NOT {_spelling(l, r, short_abjad=short_abjad_sql(l, r))})"


def same_name_sql(l: str, r: str) -> str:
    """One forename: the same, one of the other's keys (a nickname, another form), or swapped
    with the surname."""
    return _same_name(l, r)


def spelling_sql(l: str, r: str, slip_most: str = str(RARE)) -> str:
    """One forename spelt two ways, as the guard reads it (rows need ``forename_n``). ``slip_most``:
    SQL for the most records a forename may be held by and still be read as a slip of a nickname
    (the guard's ``RARE``; the queue may scale it with the population)."""
    return f"({_same_name(l, r)} OR {_spelling(l, r, slip_most)})"


def _middle(own: str, other: str) -> str:
    """``own``'s first middle name as a middle name: its second when its first is part of its
    forename (``own`` split, Xiao Ling Abigail beside Xiaoling Abigail: ``split_name_sql``) and
    neither record has a co-twin (a second child in view, whose name the whole one may be, keeps
    the plain reading: the school's Abdelrahman Terlan Chan, a co-twin "bdlrhmn" on its roll,
    is not the GP's Abdul Rahman Chan)."""
    return (f"CASE WHEN {surname_as_given_sql(own, other)} THEN NULL "
            f"WHEN coalesce({_joined(f'{other}.forename_full', f'{own}.forename_join')} "
            f"AND {own}.cotwins IS NULL AND {other}.cotwins IS NULL, false) "
            f"THEN {middle_name(f'{own}.middle_names', 2)} ELSE {middle_name(f'{own}.middle_names')} END")


def surname_as_given_sql(own: str, other: str) -> str:
    """``other``'s surname of several words written as ``own``'s given names (``SURNAME, Forenames``
    filled the wrong way round: Van der Berg James split into forename Van, middle names der
    Berg): ``own``'s middle names are then the rest of that surname, not a middle name."""
    return (f"coalesce(strpos({other}.surname, ' ') > 0 "
            f"AND concat_ws(' ', {own}.forename, {own}.middle_names) = {other}.surname, false)")


def _other_middle(l: str, r: str, split: bool = False) -> str:
    """Both records give a first middle name, and they are different names (twins given one
    forename, told apart by the middle one). ``split``: a middle name that is part of a split
    forename is not one (``_middle``; rows need ``cotwins``): the GP's Xiao Ling Abigail is the
    school's Xiaoling Abigail."""
    a, b = ((_middle(l, r), _middle(r, l)) if split
            else (middle_name(f"{l}.middle_names"), middle_name(f"{r}.middle_names")))
    return f"(coalesce({a}, '') <> '' AND coalesce({b}, '') <> '' AND jaro_winkler_similarity({a}, {b}) < 0.88)"


def _family(l: str, r: str) -> str:
    return (f"(list_has_any({l}.surname_all, {r}.surname_all) "
            f"OR jaro_winkler_similarity({l}.surname, {r}.surname) >= 0.85 OR {l}.postcode = {r}.postcode)")


def _ids_agree(l: str, r: str) -> str:
    """A UPN or NHS number the same but for one typed error, or a UPN the other's former one.
    Most pairs asked hold one value or none: equality first, the edit distance (the cost) only
    where they differ (a CASE is evaluated lazily; an OR's every branch is computed)."""
    def near(c: str) -> str:
        return (f"CASE WHEN {l}.{c} = {r}.{c} THEN true "
                f"ELSE coalesce(damerau_levenshtein({l}.{c}, {r}.{c}) <= 1, false) END")
    return (f"({near('upn')} OR {near('nhs_number')} "
            f"OR coalesce({l}.upn = {r}.former_upn OR {l}.former_upn = {r}.upn, false))")


# Each ASCII surname's characters as a set of 64 buckets, what ``_could_be_alike`` compares;
# NULL for any other (Jaro-Winkler counts bytes, and a character is then more than one).
_SURNAME_BITS = ("CASE WHEN strlen(surname) = length(surname) AND surname <> '' THEN list_reduce(list_transform("
                 "string_split(surname, ''), c -> 1::UBIGINT << (ord(c) % 64)), (x, y) -> x | y) END")


def _could_be_alike(l: str, r: str) -> str:
    """False only where ``jaro_winkler_similarity`` of the two surnames is below 0.85 (symmetric).

    Jaro-Winkler adds at most 0.4 of the Jaro gap (four letters of prefix at 0.1), so 0.85
    needs Jaro >= 0.75, so m/|a| + m/|b| >= 1.25 for m matching characters; m is at most each
    string's length less the characters it holds that the other does not, counted here by
    bucket (a shared bucket only raises the bound). The test asks 1.2, in integers; a
    surname that is not ASCII, empty or missing is never ruled out here."""
    cap = f"least({l}.len - bit_count({l}.bits & ~{r}.bits), {r}.len - bit_count({r}.bits & ~{l}.bits))"
    return (f"coalesce({l}.len = 0 OR {r}.len = 0 OR 5 * {cap} * ({l}.len + {r}.len) >= 6 * {l}.len * {r}.len, "
            "true)")


def family_rows_sql(rows: str, buckets: bool = True) -> str:
    """``_family_pairs``' numbered rows of ``rows``: record ``rid``, (source, date of birth) ``g``,
    surname length and character buckets (``_could_be_alike``; ``buckets=False``: without them, to
    be made once a surname, ``surname_buckets_sql``), postcode ``pid``."""
    tested = f"CAST(strlen(surname) AS BIGINT) AS len, {_SURNAME_BITS} AS bits, " if buckets else ""
    return (f"SELECT row_number() OVER () AS rid, dense_rank() OVER (ORDER BY source_dataset, dob) AS g, "
            f"unique_id, surname, surname_all, {tested}"
            f"CASE WHEN postcode IS NOT NULL THEN dense_rank() OVER (ORDER BY postcode) END AS pid "
            f"FROM {rows} WHERE source_dataset IS NOT NULL AND dob IS NOT NULL")


def surname_buckets_sql(rows: str) -> str:
    """(surname, len, bits) of each distinct surname of ``rows``, as ``family_rows_sql`` has them."""
    return (f"SELECT surname, CAST(strlen(surname) AS BIGINT) AS len, {_SURNAME_BITS} AS bits "
            f"FROM (SELECT DISTINCT surname FROM {rows})")


def _family_pairs(rows: str, found: tuple[str, str] | None = None) -> str:
    """(u, v): every ordered pair of ``rows`` with one source and date of birth that ``_family``
    could hold for, found without comparing every surname with every other: a shared surname
    word is an equi-join, and Jaro-Winkler runs only where ``_could_be_alike`` leaves it open
    (or the postcode is shared). A superset: the caller applies ``_family`` itself. Each
    unordered pair is joined once; both tests are symmetric, Jaro-Winkler is then asked both ways.

    Every pair of a birthday's records is still looked at (at a million records about 39 million,
    growing with the square of the records a day), so the pairs are joined on integers: each
    (source, date of birth) numbered once, each record and each postcode too, and the strings
    read only for the pairs kept: a pair's row of strings cost more to build than its test.

    ``found`` (``birthdays.cotwin_pairs_table``): a table of ``family_rows_sql`` rows and one of the
    pairs (u, v, pc) the join below keeps, found outside SQL (the 39 million pairs' test)."""
    narrow, ids = (f"SELECT * FROM {found[0]}", f"SELECT u, v, pc FROM {found[1]}") if found else (
        family_rows_sql(rows),
        f"""SELECT a.rid AS u, b.rid AS v, a.pid = b.pid AS pc
  FROM cotwin_rows a JOIN cotwin_rows b ON a.g = b.g AND a.rid < b.rid
  WHERE a.pid = b.pid OR {_could_be_alike('a', 'b')}""")
    words = "(SELECT rid, g, unnest(surname_all) AS word FROM cotwin_rows)"
    # Materialised: else the optimiser takes both Jaro-Winklers into the join's filter. The
    # surnames are read for the pairs kept only.
    return f"""WITH cotwin_rows AS MATERIALIZED ({narrow}),
cotwin_ids AS MATERIALIZED (
  {ids}),
cotwin_close AS MATERIALIZED (
  SELECT c.u, c.v, c.pc, x.surname AS su, y.surname AS sv FROM cotwin_ids c
  JOIN cotwin_rows x ON x.rid = c.u JOIN cotwin_rows y ON y.rid = c.v),
cotwin_rids AS (
  SELECT u, v FROM cotwin_close WHERE pc OR jaro_winkler_similarity(su, sv) >= 0.85
  UNION ALL SELECT v, u FROM cotwin_close WHERE pc OR jaro_winkler_similarity(sv, su) >= 0.85
  UNION SELECT a.rid, b.rid FROM {words} a JOIN {words} b ON a.g = b.g AND a.rid <> b.rid AND a.word = b.word)
SELECT x.unique_id AS u, y.unique_id AS v FROM cotwin_rids p
JOIN cotwin_rows x ON x.rid = p.u JOIN cotwin_rows y ON y.rid = p.v"""


def _two_in_one_source(a: str, b: str) -> str:
    """Two records of one register (``LINK_RECORDS_SQL``: a source's own extract, or one second
    file of it) whose forenames are not the same string (a nickname, a typo or another name: Leon
    and Leo, Lily and Lilly), not one name swapped with the surname, or whose first middle names
    are different names. A register holds a child once: whatever the identifiers say (one of them
    may have none), the second record is evidence of a second child. Not so across two files of
    one source: an early-help list's Zian and social care's Zain, with their own numbering, are
    one child typed twice as often as twins (a NULL register, a lookup's query, is any)."""
    return (f"(coalesce({a}.register = {b}.register, true) AND (({a}.forename <> {b}.forename "
            f"AND NOT coalesce({a}.forename = {b}.surname AND {a}.surname = {b}.forename, false)) "
            f"OR {_other_middle(a, b)}))")


def cotwin_pairs_sql(left: str, right: str, found: tuple[str, str] | None = None) -> str:
    """(record, its co-twin, the co-twin's forename ``f``, keys ``k`` and first middle name ``m``) for records in ``left`` and
    co-twins in ``right`` (two relations of Splink input rows): a function of the two rows alone,
    so pairs of unchanged records can be kept from one run to the next.

    The pairs are of one source and date of birth, one family, identifiers that do not agree,
    and either two identifiers of a kind or two forenames (``_two_in_one_source``): one source
    holding both is evidence of two children even when one record has no identifier. When ``left`` and ``right`` are one relation (their
    text is equal: every record against every other) the candidates come from ``_family_pairs``,
    which does not compare every surname of a birthday with every other (at a million records
    that is most of the cost); a few records against all are simply joined. ``found``: see
    ``_family_pairs``."""
    where = f"""WHERE {_family('a', 'b')}
  AND NOT {_ids_agree('a', 'b')}
  AND ({_two_in_one_source('a', 'b')} OR a.upn <> b.upn OR a.nhs_number <> b.nhs_number)
  AND b.forename IS NOT NULL"""
    pick = ("SELECT a.unique_id, b.unique_id AS twin_id, b.forename AS f, b.forename_keys AS k, "
            f"{middle_name('b.middle_names')} AS m, b.forename_skel AS s, b.surname AS n")
    if left != right:
        return f"""
{pick}
FROM {left} a
JOIN {right} b ON a.source_dataset = b.source_dataset AND a.dob = b.dob AND a.unique_id <> b.unique_id
{where}
"""
    # No join condition on the rows themselves: the optimiser would join them before the candidates.
    return f"""
WITH cotwin_family AS ({_family_pairs(left, found)})
{pick}
FROM cotwin_family x JOIN {left} a ON a.unique_id = x.u JOIN {right} b ON b.unique_id = x.v
{where}
"""


def cotwins_from_pairs_sql(pairs: str) -> str:
    return (f"SELECT unique_id, list(DISTINCT {{'f': f, 'k': k, 'm': m, 's': s, 'n': n}}) AS cotwins "
            f"FROM {pairs} GROUP BY unique_id")


def cotwin_sql(input_table: str) -> str:
    """Each record's co-twins (forename and its keys): siblings with its birthday in its own extract."""
    return cotwins_from_pairs_sql(f"({cotwin_pairs_sql(input_table, input_table)})")


def _sim(f: str, keys: str, other: str, abjad: str) -> str:
    """How alike a forename is to ``other``'s: 1 for one name (nicknames included, or the consonants
    of a name written without vowels: ``abjad``), else Jaro-Winkler (0 for ali / ly: too short to
    say anything)."""
    return (f"CASE WHEN list_has_any({keys}, {other}.forename_keys) OR coalesce({abjad}, false) THEN 1.0 "
            f"ELSE jaro_winkler_similarity({f}, {other}.forename) END")


def _closer_to_cotwin(own: str, other: str) -> str:
    """A co-twin of ``own`` whose forename fits ``other``'s at least as well as ``own``'s does.
    Forename and surname swapped between the two (``swapped_sql``), the forename is read where
    it is written: ``own``'s surname against ``other``'s forename, or ``own``'s forename against
    ``other``'s surname (the school's "Povilonis Samuel" is the GP's Samuel Povilnois, not the
    school's Max Povilonis, his twin)."""
    twin_abjad = (f"(x.s = {other}.forename_abjad "
                  f"OR (x.s = {other}.forename_skel AND NOT regexp_matches(x.f, '[aeiou]')))")
    plain = (f"{_sim('x.f', 'x.k', other, twin_abjad)} >= "
             f"{_sim(f'{own}.forename', f'{own}.forename_keys', other, _abjad(own, other))}")
    swapped = (f"{_jw('x.f', f'{other}.forename')} >= {_jw(f'{own}.surname', f'{other}.forename')} "
               f"OR {_jw('x.f', f'{other}.surname')} >= {_jw(f'{own}.forename', f'{other}.surname')}")
    # Most records have no co-twin: asked first, so the swap is read only for the few that have one.
    return (f"coalesce(CASE WHEN {own}.cotwins IS NULL THEN false WHEN {swapped_sql(own, other)} "
            f"THEN list_bool_or(list_transform({own}.cotwins, x -> {swapped})) "
            f"ELSE list_bool_or(list_transform({own}.cotwins, x -> {plain})) END, false)")


def _jw(a: str, b: str) -> str:
    """How alike two names are: 1 for one string, else Jaro-Winkler."""
    return f"CASE WHEN {a} = {b} THEN 1.0 ELSE jaro_winkler_similarity({a}, {b}) END"


def _namesake_cotwin(own: str, other: str) -> str:
    """``own`` has a co-twin with its own forename but another middle name (twins given one
    forename), and ``other``'s middle name does not say which of the two it is."""
    mine, theirs = middle_name(f"{own}.middle_names"), middle_name(f"{other}.middle_names")
    return (f"(coalesce({mine}, '') <> '' AND NOT coalesce({theirs} <> '' "
            f"AND jaro_winkler_similarity({theirs}, {mine}) >= 0.88, false) AND coalesce(list_bool_or(list_transform({own}.cotwins, x -> "
            f"(x.f = {own}.forename OR list_has_any(x.k, {own}.forename_keys)) AND coalesce(x.m, '') <> '' "
            f"AND jaro_winkler_similarity(x.m, {mine}) < 0.88)), false))")


def _swapped_cotwin(own: str, other: str) -> str:
    """One forename, but ``own`` has a co-twin whose forename is ``other``'s surname, and its own
    surname is not: both records with forename and surname swapped, of two twins (the GP's
    "Guicciardini George" beside its Jack, and social care's "Guicciardini Jack")."""
    jw = f"jaro_winkler_similarity(x.f, {other}.surname)"
    return (f"coalesce({own}.surname <> {other}.surname AND list_bool_or(list_transform({own}.cotwins, x -> "
            f"{jw} >= 0.88 AND {jw} > jaro_winkler_similarity({own}.surname, {other}.surname))), false)")


def _cotwin_written_swapped(own: str, other: str) -> str:
    """``own`` has a co-twin written with forename and surname swapped (its forename is ``own``'s
    family name) whose surname, its own forename, is ``other``'s forename exactly, while ``own``'s
    forename is only another form of it: the GP's Eli Dermody beside "Dermody Ellis", and social
    care's Ellis Dermody is Ellis, not Eli (1M realistic, session 21)."""
    return (f"coalesce({own}.forename <> {other}.forename AND list_bool_or(list_transform({own}.cotwins, x -> "
            f"x.n = {other}.forename AND jaro_winkler_similarity(x.f, {own}.surname) >= 0.88)), false)")


def twin_families_sql(input_table: str, pairs_table: str) -> str:
    """(unique_id, twin_id, a, b, dob, surname): each co-twin pair (``pairs_table``: ``cotwin_pairs_sql``
    rows) whose two forenames are spelt alike but are not one name by their keys, with its family
    (the record's birthday and surname): a function of the pair's two rows, so kept beside them
    (``inputcache``) and counted by ``twin_names_sql``."""
    return f"""
SELECT p.unique_id, p.twin_id, least(i.forename, p.f) AS a, greatest(i.forename, p.f) AS b, i.dob, i.surname
FROM {pairs_table} p JOIN {input_table} i ON i.unique_id = p.unique_id
WHERE {_twin_family('i', 'p')}"""


def _twin_family(i: str, p: str) -> str:
    return (f"{i}.forename <> {p}.f AND NOT coalesce(list_has_any({i}.forename_keys, {p}.k), false)\n"
            f"    AND ({near_sql(f'{i}.forename', f'{p}.f')})")


def twin_names_sql(input_table: str, pairs_table: str, families: str | None = None) -> str:
    """(a, b): two forenames spelt alike (``_near``), not one name by its keys (a nickname, another
    form), that co-twins in one source bear in at least ``TWIN_NAMES_LEAST`` families (a
    birthday and a surname), and in more families than there are children evidently one child
    under both (an NHS number or a UPN held by records of each name: Katerina and Ekaterina, one
    name transliterated two ways, of which one school may hold a child twice), ``a`` < ``b``.
    ``pairs_table``: ``cotwin_pairs_sql`` rows; ``families``: their ``twin_families_sql`` rows if
    kept (without, the text is the one the guard's code hash has always read)."""
    least = f"HAVING count(DISTINCT ({'' if families else 'i.'}dob, {'' if families else 'i.'}surname)) >= {TWIN_NAMES_LEAST}"
    pairs = (f"SELECT a, b, count(DISTINCT (dob, surname)) AS families FROM {families}\n  GROUP BY 1, 2 {least}"
             if families else f"""SELECT least(i.forename, p.f) AS a, greatest(i.forename, p.f) AS b, count(DISTINCT (i.dob, i.surname)) AS families
  FROM {pairs_table} p JOIN {input_table} i ON i.unique_id = p.unique_id
  WHERE {_twin_family('i', 'p')}
  GROUP BY 1, 2 {least}""")
    return f"""
WITH twin_pair AS (
  {pairs}),
held AS (
  SELECT forename, 'n' || nhs_number AS id FROM {input_table}
  WHERE nhs_number IS NOT NULL AND forename IN (SELECT a FROM twin_pair UNION SELECT b FROM twin_pair)
  UNION ALL
  SELECT forename, 'u' || upn FROM {input_table}
  WHERE upn IS NOT NULL AND forename IN (SELECT a FROM twin_pair UNION SELECT b FROM twin_pair)),
one_child AS (
  SELECT x.forename AS a, y.forename AS b, count(DISTINCT x.id) AS children
  FROM held x JOIN held y ON x.id = y.id AND x.forename < y.forename GROUP BY 1, 2)
SELECT t.a, t.b FROM twin_pair t LEFT JOIN one_child o ON o.a = t.a AND o.b = t.b
WHERE t.families > coalesce(o.children, 0)"""


def near_sql(a: str, b: str) -> str:
    """Two spellings a typed slip apart, as the guard's ``_spelling`` reads plain names."""
    return (f"jaro_winkler_similarity({a}, {b}) >= 0.88 "
            f"OR damerau_levenshtein({a}, {b}) <= greatest(1, greatest(length({a}), length({b})) // 4)")


def _twin_names(l: str, r: str) -> str:
    return f"EXISTS (SELECT 1 FROM tn WHERE tn.a = least({l}.forename, {r}.forename) AND tn.b = greatest({l}.forename, {r}.forename))"


def twin_guard_sql(edges_table: str, input_table: str, cotwin_table: str, rows: str | None = None,
                   twin_names: str | None = None, middle_registers: str | None = None,
                   held_once: str | None = None) -> str:
    """Edges with a boolean ``guarded`` column; pure SQL, no I/O. Only the records the edges
    name are widened with their co-twins (a delta's few pairs need not build a million rows).
    ``rows``: where those records' fields are read (default ``input_table``, which forename
    counts always come from). ``twin_names``: a table of ``twin_names_sql`` (default: built here
    from every co-twin pair of ``input_table``); ``middle_registers``: one of
    ``middles.middle_registers_sql``, ``held_once`` one of ``heldonce.held_once_registers_sql``
    (defaults: built here from ``input_table``)."""
    # Asked in two places below: written once, so that both read the middle names one way.
    other_middle = _other_middle('l', 'r', split=True)
    names = twin_names or f"({twin_names_sql(input_table, f'({cotwin_pairs_sql(input_table, input_table)})')})"
    verdict = _guard_lazy(other_middle)
    return f"""
WITH scored AS (SELECT * FROM {edges_table}),
     tn AS (SELECT * FROM {names}),
     mr AS (SELECT * FROM {middle_registers or f"({middle_registers_sql(input_table)})"}),
     ho AS (SELECT * FROM {held_once or f"({held_once_registers_sql(input_table)})"}),
     ids AS (SELECT unique_id_l AS unique_id FROM scored UNION SELECT unique_id_r FROM scored),
     n AS (SELECT forename, count(*) AS forename_n FROM {input_table} GROUP BY forename),
     l AS (SELECT i.*, c.cotwins, n.forename_n
           FROM (SELECT * FROM {rows or input_table} WHERE unique_id IN (SELECT unique_id FROM ids)) i
           LEFT JOIN {cotwin_table} c USING (unique_id) LEFT JOIN n USING (forename)),
     r AS (SELECT * FROM l)
SELECT e.*,
{verdict}  AS guarded
FROM scored e
JOIN l ON l.unique_id = e.unique_id_l
JOIN r ON r.unique_id = e.unique_id_r
"""


def _all(*conds: str) -> str:
    """TRUE where every one of ``conds`` is TRUE, else FALSE (never NULL): ``coalesce(a AND b, false)``,
    but a CASE, which DuckDB evaluates lazily (each condition only on the rows the ones before let
    through), where AND in a projection computes every side for every row."""
    tests = " ".join(f"WHEN NOT coalesce({c}, false) THEN false" for c in conds[:-1])
    return f"(CASE {tests} WHEN coalesce({conds[-1]}, false) THEN true ELSE false END)"


def _any(*conds: str) -> str:
    """TRUE where any of ``conds`` is TRUE, else FALSE (never NULL), evaluated lazily (``_all``)."""
    return "(CASE " + " ".join(f"WHEN coalesce({c}, false) THEN true" for c in conds) + " ELSE false END)"


def _guard_lazy(other_middle: str) -> str:
    """The guard's verdict on a pair ``l``, ``r``, each part asked only where the parts before it leave the answer
    open: most pairs asked fail the birthday or the family, or are one name, and need none of the
    costly spelling tests (at a million records the eager form was most of the guard's time)."""
    l, r = "l", "r"
    differ = f"{l}.forename <> {r}.forename"
    any_cotwin = f"({l}.cotwins IS NOT NULL OR {r}.cotwins IS NOT NULL)"
    two_names = _all(differ, f"NOT ({l}.forename = {r}.surname AND {l}.surname = {r}.forename)", _any(
        _all(f"NOT {_same_name(l, r)}", f"NOT {_spelling(l, r, short_abjad=short_abjad_sql(l, r), lazy=True)}"),
        _closer_to_cotwin(l, r), _closer_to_cotwin(r, l),
        _cotwin_written_swapped(l, r), _cotwin_written_swapped(r, l),
        _all(f"NOT {_same_name(l, r)}", _twin_names(l, r)),
        _unstated_middle(l, r), _unstated_middle(r, l)))
    namesakes = _all(any_cotwin, _any(
        _all(_same_name(l, r), _any(_namesake_cotwin(l, r), _namesake_cotwin(r, l))),
        _all(f"{l}.forename = {r}.forename", _any(_swapped_cotwin(l, r), _swapped_cotwin(r, l)))))
    family = (birthday_sql(l, r), _family(l, r), f"NOT {_ids_agree(l, r)}")
    return f"""  CASE WHEN {held_once_sql(l, r, "ho")} THEN {_all(*family)}
  WHEN {differ} OR {any_cotwin} THEN {_all(*family, _any(two_names, other_middle, namesakes))}
  WHEN coalesce({l}.middle_names, '') <> '' AND coalesce({r}.middle_names, '') <> '' THEN {_all(*family, other_middle)}
  ELSE false END
"""


def _unstated_middle(own: str, other: str) -> str:
    """``own`` gives a second given name that ``other``, in a register that states every middle name,
    does not (``middles``), and the whole given names are not one name written two ways (Xiao Ling
    and Xiaoling, Abdul Rahman and Abdelrahman) nor swapped with the surname: the GP's "Leo Jack"
    beside the school's Leon, no middle name (``mr``: the registers that state them)."""
    return _all(given_more_sql(own), silent_sql(other, "mr"), f"NOT {_whole(own, other)}",
                f"NOT {swapped_sql(own, other)}")


def forename_counts_sql(input_table: str) -> str:
    """Each forename of ``input_table``, how many records hold it, and whether that few makes it
    *rare* here (at most ``RARE``: more likely a slip than a name of its own). The one count both
    the guard's hash (``guard_sha``) and ``bridge``'s slips read."""
    return f"SELECT forename, count(*) AS n, count(*) <= {RARE} AS rare FROM {input_table} GROUP BY forename"


# The input columns ``second_child_sql`` reads (its swap, family, identifier, sex and forename tests).
SECOND_CHILD_COLUMNS = ("unique_id, forename, forename_keys, forename_family, forename_abjad, forename_skel, surname, "
                         "surname_all, postcode, dob, upn, nhs_number, former_upn, sex")


def second_child_sql(links: str, input_table: str, clusters: str, siblings_child: bool = True,
                     ends_table: str | None = None) -> str:
    """(record ``y``, its partner ``x``, a sibling ``s``): ``y`` is linked (``links``: pairs
    unique_id_l, unique_id_r) to ``x`` in one child (``clusters``: unique_id, cluster_id) though
    their forenames differ, and another child holds ``s``, born the day ``x`` was (or, at ``x``'s
    postcode, within ``SIBLING_DOB_DAYS``: a twin's record with its date of birth typed days out,
    the GP's Leon born 3 March beside Leo born 22 February), of ``x``'s
    family, of another forename, whose forename fits ``y``'s at least as well as ``x``'s does,
    and no identifier or sex of ``s`` says ``y`` is not ``s``'s. Twins Macy and Maisie at one
    school, each her own child: a GP's Maisie (a date of birth typed wrong) fits either, and is
    linked to neither automatically (issue 11: "ambiguity refused"). A sibling held by no source
    in view (Amelia at school, Amelie only at the GP) leaves nothing to read. A ``y`` with forename
    and surname swapped is read by its surname (the GP's Kalvelis Aidan beside the school's Aiden
    and Aidan). ``s`` outside
    ``clusters`` (an incremental run's kept children) is in another child. Pure SQL.

    ``input_table`` is read twice, not once for each of its seven joins: for the linked records
    (``ends``), then for those born the day a differing partner was or living at its postcode
    (``kin``), each only in the columns the check reads. A month's few links otherwise scanned
    every record of the population nine times in each of the run's three calls.

    ``siblings_child`` False: ``clusters`` need hold only the links' records, and each row carries
    the partner's child ``c`` instead of the test that ``s`` is in another: the caller asks it
    (``vet.second_children``, whose map of a million records' children cost a third of a call of a
    few hundred links to hand to the query as a table).

    ``ends_table``: where the linked records are read instead (a table holding at least every
    record ``links`` names, ``vet.second_children``'s working set); the siblings are in ``input_table``."""
    near = (f"CASE WHEN d.swapped THEN jaro_winkler_similarity(s.forename, y.surname) >= "
            f"jaro_winkler_similarity(x.forename, y.surname) "
            f"ELSE {_sim('s.forename', 's.forename_keys', 'y', _abjad('s', 'y'))} >= "
            f"{_sim('x.forename', 'x.forename_keys', 'y', _abjad('x', 'y'))} END")
    # Materialised one side at a time: else the optimiser, knowing nothing of the registered frames'
    # sizes, joins the clusters with themselves on the child first (every pair of a child's records).
    sql = f"""
WITH left_end AS MATERIALIZED (
  SELECT e.unique_id_l AS a, e.unique_id_r AS b, ca.cluster_id AS c FROM {links} e
  JOIN {clusters} ca ON ca.unique_id = e.unique_id_l),
linked AS MATERIALIZED (
  SELECT e.a, e.b, e.c FROM left_end e JOIN {clusters} cb ON cb.unique_id = e.b WHERE cb.cluster_id = e.c),
-- The columns the check reads, of the links' records (and below, of the siblings found): each read
-- from the whole input once, not by every join (a round's few links joined it nine times).
ends AS MATERIALIZED (
  SELECT {SECOND_CHILD_COLUMNS} FROM {ends_table or input_table}
  WHERE unique_id IN (SELECT a FROM linked UNION ALL SELECT b FROM linked)),
-- What is the same both ways round (a swap, identifiers that agree) asked once per link, not per end;
-- a link of one forename, not swapped, has no end to look at (most links).
pair AS MATERIALIZED (
  SELECT e.a, e.b, e.c, x.forename AS fa, y.forename AS fb, x.surname AS sa, y.surname AS sb,
    x.dob IS NOT NULL AS da, y.dob IS NOT NULL AS db, {swapped_sql('x', 'y')} AS swapped
  FROM linked e JOIN ends x ON x.unique_id = e.a JOIN ends y ON y.unique_id = e.b
  WHERE NOT {_ids_agree('x', 'y')}),
differ AS (
  SELECT a AS x, b AS y, c, swapped FROM pair
  WHERE da AND fa <> CASE WHEN swapped THEN sb ELSE fb END
  UNION ALL
  SELECT b, a, c, swapped FROM pair
  WHERE db AND fb <> CASE WHEN swapped THEN sa ELSE fa END),
-- Every sibling ``born`` can find, read once: of a differing partner's birthday, or of its postcode.
xs AS MATERIALIZED (SELECT DISTINCT x.unique_id, x.dob, x.forename, x.surname, x.surname_all, x.postcode
                    FROM differ d JOIN ends x ON x.unique_id = d.x),
partners AS MATERIALIZED (SELECT DISTINCT dob, postcode FROM xs),
kin AS MATERIALIZED (
  SELECT {SECOND_CHILD_COLUMNS} FROM {input_table}
  WHERE dob IN (SELECT dob FROM partners) OR postcode IN (SELECT postcode FROM partners)),
-- Three equi-joins, not one join on an OR (which would compare every pair): a surname word in
-- common on the birthday, a surname Jaro-Winkler may find alike on the birthday, the home within
-- ``SIBLING_DOB_DAYS``; the answer's own tests then hold for every sibling found. A million
-- records share each birthday with some 150 others, nearly none of them of the family: the words
-- meet by equality, and Jaro-Winkler runs only where the surnames' letters leave it open
-- (``_could_be_alike``), not on all 15 million pairs of a realistic million's birthdays.
xb AS MATERIALIZED (SELECT unique_id, dob, surname, CAST(strlen(surname) AS BIGINT) AS len, {_SURNAME_BITS} AS bits FROM xs),
kb AS MATERIALIZED (SELECT unique_id, dob, surname, CAST(strlen(surname) AS BIGINT) AS len, {_SURNAME_BITS} AS bits
                    FROM kin WHERE dob IN (SELECT dob FROM xs)),
alike AS MATERIALIZED (
  SELECT a.unique_id AS x, b.unique_id AS s, a.surname AS sx, b.surname AS ss FROM xb a JOIN kb b ON b.dob = a.dob
  WHERE {_could_be_alike('a', 'b')}),
born AS MATERIALIZED (
  SELECT x.unique_id AS x, s.unique_id AS s FROM (SELECT unique_id, dob, unnest(surname_all) AS w FROM xs) x
  JOIN (SELECT unique_id, dob, unnest(surname_all) AS w FROM kin) s ON s.dob = x.dob AND s.w = x.w
  UNION
  SELECT x, s FROM alike WHERE jaro_winkler_similarity(ss, sx) >= 0.85
  UNION
  SELECT x.unique_id, s.unique_id FROM xs x
  JOIN kin s ON s.postcode = x.postcode
   AND s.dob BETWEEN x.dob - {SIBLING_DOB_DAYS} AND x.dob + {SIBLING_DOB_DAYS}
  WHERE s.forename <> x.forename)
SELECT DISTINCT d.y, d.x, s.unique_id AS s{", d.c" if not siblings_child else ""}
FROM differ d JOIN ends x ON x.unique_id = d.x JOIN ends y ON y.unique_id = d.y
JOIN born b ON b.x = d.x JOIN kin s ON s.unique_id = b.s AND s.unique_id <> x.unique_id
  AND s.unique_id <> y.unique_id
{f"LEFT JOIN {clusters} cs ON cs.unique_id = s.unique_id" if siblings_child else ""}
WHERE {"cs.cluster_id IS DISTINCT FROM d.c AND" if siblings_child else ""}
  s.forename <> x.forename AND {_family('s', 'x')}
  AND NOT coalesce(s.nhs_number <> y.nhs_number OR s.upn <> y.upn, false) AND NOT {sexes_differ_sql('s', 'y')}
  AND {near}
"""
    return sql
