"""Linking on Spark: the backend seam, its settings, and DuckDB/Spark equivalence."""

from __future__ import annotations

import csv
import importlib.util
import json
import re
from datetime import date
from pathlib import Path

import pytest
import sqlglot
from hypothesis import given
from hypothesis import strategies as st

import incli
from linkage.config import Settings
from linkage.link import spec
from linkage.link.backends import MODEL_DIALECT, DuckDBBackend, make_backend
from linkage.link.backends.spark import SparkBackend, spark_conf
from sparkjvm import CONF as JVM_CONF

SOURCES = ("education", "social_care", "health")


def _model() -> dict:
    return spec.settings().get_settings(MODEL_DIALECT).as_dict()


def test_model_sql_said_in_spark_and_back(tmp_path):
    backend = SparkBackend(tmp_path)
    model = _model()
    spark = backend.model_for_backend(model)
    levels = [lv["sql_condition"] for c in spark["comparisons"] for lv in c["comparison_levels"]]
    text = " ".join(levels).lower()
    # DuckDB-only spellings are gone; Spark's and Splink's jar functions stand in.
    assert "list_has_any" not in text and "jaro_winkler_similarity" not in text
    assert "arrays_overlap(" in text and "linkage_jaro_winkler(" in text and "linkage_damerau_levenshtein(" in text
    for sql in levels:
        if sql != "ELSE":
            sqlglot.parse_one(sql, read="spark")
    for rule in spark["blocking_rules_to_generate_predictions"]:
        assert "sql_dialect" not in rule and '"' not in rule["blocking_rule"]
    # A model trained on Spark comes back with the store's SQL and the learnt parameters.
    spark["comparisons"][0]["comparison_levels"][1]["m_probability"] = 0.123
    back = backend.model_from_backend(spark, model)
    assert back["sql_dialect"] == MODEL_DIALECT
    assert back["comparisons"][0]["comparison_levels"][1]["m_probability"] == 0.123
    assert [lv["sql_condition"] for c in back["comparisons"] for lv in c["comparison_levels"]] == \
        [lv["sql_condition"] for c in model["comparisons"] for lv in c["comparison_levels"]]
    assert back["blocking_rules_to_generate_predictions"] == model["blocking_rules_to_generate_predictions"]
    # DuckDB is the store's own dialect: nothing to translate.
    assert DuckDBBackend().model_for_backend(model) is model


def test_string_distances_are_null_strict(tmp_path):
    """Spark's UDFs need not return NULL on NULL input; DuckDB's functions do, and a level such as
    ``damerau_levenshtein(a, b) <= 1`` must not be met when a value is missing."""
    sql = SparkBackend(tmp_path).translate('damerau_levenshtein("postcode_l", "postcode_r") <= 1')
    case = sqlglot.parse_one(sql, read="spark").find(sqlglot.exp.Case)
    assert case is not None and "IS NULL" in case.sql("spark") and case.args["ifs"][0].args["true"].sql() == "NULL"


def test_local_session_binds_to_loopback(tmp_path):
    conf = spark_conf(master="local[2]", home=tmp_path, shuffle_partitions=4, driver_memory="1g",
                      executor_memory=None, jar="x.jar", extra={})
    assert conf["spark.driver.host"] == conf["spark.driver.bindAddress"] == "127.0.0.1"
    assert conf["spark.io.encryption.enabled"] == "true" and conf["spark.jars"] == "x.jar"
    # Every Parquet file the session writes is encrypted, and no key is among the properties.
    assert conf["spark.hadoop.parquet.crypto.factory.class"].endswith("PropertiesDrivenCryptoFactory")
    assert conf["spark.hadoop.parquet.encryption.kms.client.class"] == "linkage.spark.MemoryKms"
    assert not any("secret" in k or "key.list" in k for k in conf)
    cluster = spark_conf(master="spark://head:7077", home=tmp_path, shuffle_partitions=400, driver_memory="4g",
                         executor_memory="8g", jar="x.jar", extra={"spark.executor.cores": "4"})
    assert "spark.driver.bindAddress" not in cluster and cluster["spark.executor.cores"] == "4"


def test_lineage_breaking_defaults_by_master(tmp_path):
    """Unset: Parquet in the checkpoint directory (encrypted), locally and on a cluster
    (local_checkpoint holds its blocks in the driver's heap in local mode, and failed a broadcast
    join at 37k records with 2g); Splink's RDD checkpoint, which Spark never encrypts, is taken as it."""
    assert SparkBackend(tmp_path).break_lineage == "parquet"
    assert SparkBackend(tmp_path, master="yarn").break_lineage == "parquet"
    assert SparkBackend(tmp_path, break_lineage="checkpoint").break_lineage == "parquet"
    assert SparkBackend(tmp_path, break_lineage="local_checkpoint").break_lineage == "local_checkpoint"
    assert SparkBackend(tmp_path, master="yarn", break_lineage="parquet").break_lineage == "parquet"
    assert SparkBackend.from_settings(Settings(spark_break_lineage="persist"), tmp_path).break_lineage == "persist"
    with pytest.raises(ValueError):
        SparkBackend(tmp_path, break_lineage="delta_lake_table")
    with pytest.raises(ValueError):
        Settings(spark_break_lineage="delta_lake_table")


@pytest.mark.parametrize("conf", [{"spark.io.encryption.enabled": "false"}, {"spark.driver.bindAddress": "0.0.0.0"},
                                  {"spark.driver.host": "10.0.0.5"},
                                  {"spark.hadoop.parquet.encryption.kms.client.class": "x.Kms"},
                                  {"spark.hadoop.parquet.crypto.factory.class": "x.Factory"}])
def test_unsafe_spark_settings_refused(conf):
    with pytest.raises(ValueError):
        Settings(engine="spark", spark_conf=conf)


@pytest.mark.parametrize("where", ["exchange", "x/../exchange", "s3a:bucket", "://bucket"])
def test_exchange_directory_is_an_absolute_path_or_a_hadoop_uri(where, tmp_path):
    """A relative path (which would land wherever the process was started) is refused; a shared
    mount's path and any Hadoop URI (object stores, HDFS, file://) are taken."""
    with pytest.raises(ValueError, match="LINKAGE_SPARK_EXCHANGE_DIR"):
        Settings(engine="spark", spark_exchange_dir=where)
    for taken in (str(tmp_path / "shared"), "s3a://bucket/exchange", "hdfs:///linkage/x",
                  "abfss://c@account.dfs.core.windows.net/x", (tmp_path / "shared").as_uri()):
        settings = Settings(engine="spark", spark_exchange_dir=taken)
        assert SparkBackend.from_settings(settings, tmp_path).exchange_dir == taken


def test_engine_setting_and_unknown_engine(tmp_path):
    assert Settings().engine == "duckdb"
    assert isinstance(make_backend("duckdb", tmp_path), DuckDBBackend)
    assert isinstance(make_backend("spark", tmp_path, Settings(engine="spark")), SparkBackend)
    with pytest.raises(ValueError):
        Settings(engine="oracle")
    out = incli.run("link", "--engine", "oracle", "--data-dir", str(tmp_path / "home"))
    assert out.returncode == 2 and "unknown engine 'oracle'" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.skipif(importlib.util.find_spec("pyspark") is None, reason="pyspark is not installed")
def test_spark_failures_are_one_line(tmp_path):
    from pyspark.errors import PySparkException

    backend = SparkBackend(tmp_path)
    said = backend.explain(PySparkException("[CANNOT_CONNECT] no master at spark://x:7077\n\tat org.apache..."))
    assert str(said) == "Spark (local[2]) failed: [CANNOT_CONNECT] no master at spark://x:7077"
    assert backend.explain(KeyError("a bug of ours")) is None  # ours keep their traceback
    assert DuckDBBackend().explain(PySparkException("x")) is None


def test_spark_out_of_memory_names_the_setting_to_raise(tmp_path):
    # py4j's first line names no cause; the text is a real Py4JJavaError's (0.25M records, 4g driver)
    text = ("An error occurred while calling o962.checkpoint.\n: java.lang.OutOfMemoryError: Java heap space\n"
            "\tat java.base/java.util.Arrays.copyOf(Arrays.java:3537)")
    said = SparkBackend(tmp_path, driver_memory="4g").failure_line(text)
    assert said.startswith("Spark (local[2]) ran out of memory (java.lang.OutOfMemoryError: Java heap space)")
    assert "LINKAGE_SPARK_DRIVER_MEMORY (now 4g)" in said and "\n" not in said
    cluster = SparkBackend(tmp_path, master="spark://h:7077").failure_line(text)
    assert "LINKAGE_SPARK_EXECUTOR_MEMORY" in cluster
    other = SparkBackend(tmp_path).failure_line("An error occurred while calling o1.sql.\n: "
                                                "org.apache.spark.SparkException: Job aborted\n\tat x")
    assert other == "Spark (local[2]) failed: org.apache.spark.SparkException: Job aborted"


@pytest.mark.skipif(importlib.util.find_spec("pyspark") is None, reason="pyspark is not installed")
def test_uploaded_records_stay_out_of_the_driver_plan_and_joins_do_not_broadcast(tmp_path):
    """The driver's heap in local mode (docs/scaling.md, "Spark's driver memory"): records handed
    over as Arrow must not become rows inside the query plan (a LocalRelation: Java objects in the
    driver, copied into each plan), and a join of two small tables must not be broadcast (a hash
    table of at least one memory page built and kept in the driver), not even when adaptive
    execution re-plans it with the sizes it has measured."""
    import duckdb

    con = duckdb.connect()
    con.execute("CREATE TABLE memory.recs AS SELECT i AS unique_id, 'name ' || (i % 50) AS forename, "
                "i % 50 AS k FROM range(1000) t(i)")
    backend = SparkBackend(tmp_path, shuffle_partitions=2, driver_memory="1g", extra_conf=JVM_CONF)
    try:
        api = backend.bind(con)
        frame = backend.upload(api, con, "recs", "recs_up")
        spark = backend.session()
        plan = spark.sql(f"SELECT * FROM {frame.physical_name}")._jdf.queryExecution().optimizedPlan().toString()
        assert "LocalRelation" not in plan
        joined = spark.sql(f"SELECT l.unique_id, r.unique_id FROM {frame.physical_name} l "
                           f"JOIN {frame.physical_name} r ON l.k = r.k AND l.unique_id < r.unique_id")
        assert joined.count() == 50 * (20 * 19 // 2)
        rows = joined.collect()
        assert len(rows) == 9500
        executed = joined._jdf.queryExecution().executedPlan().toString()
        assert "SortMergeJoin" in executed and "Broadcast" not in executed
    finally:
        backend.close()
        con.close()


@pytest.mark.skipif(importlib.util.find_spec("pyspark") is None, reason="pyspark is not installed")
@pytest.mark.parametrize("as_uri", [False, True], ids=["path", "file-uri"])
def test_records_reach_spark_as_files_the_executors_read_not_through_the_driver(tmp_path, as_uri):
    """The input crosses to Spark as encrypted Parquet written into the exchange directory (a path,
    or a Hadoop URI) and Spark's tasks scan (the driver plans a file scan: no rows of it in the
    driver, no RDD the driver filled), types intact; the scored pairs come back the same way,
    leaving no file. No value is readable in the files without the run's key."""
    import duckdb
    import pyarrow.parquet as pq

    con = duckdb.connect()
    con.execute("CREATE TABLE memory.recs AS SELECT i AS unique_id, 'forename-' || (i % 50) AS forename, "
                "DATE '2015-01-01' + CAST(i AS INTEGER) AS dob, [i % 3, i % 5] AS tokens, "
                "CASE WHEN i % 7 = 0 THEN NULL ELSE i / 4 END AS score FROM range(1000) t(i)")
    exchange = tmp_path / "shared"
    backend = SparkBackend(tmp_path / "home", shuffle_partitions=2, driver_memory="1g",
                           exchange_dir=exchange.as_uri() if as_uri else str(exchange), extra_conf=JVM_CONF)
    try:
        api = backend.bind(con)
        frame = backend.upload(api, con, "recs", "recs_up")
        spark = backend.session()
        scan = spark.sql(f"SELECT * FROM {frame.physical_name}")
        plan = scan._jdf.queryExecution().executedPlan().toString()
        assert "FileScan parquet" in plan, plan
        # Spark shortens the location in the plan: the files it reads, from the scan itself.
        files = list(scan.inputFiles())
        assert files and all(f.startswith(f"file://{exchange}/") for f in files), files
        for driver_side in ("LocalTableScan", "Scan ExistingRDD", "LocalRelation", "Arrow"):
            assert driver_side not in plan, plan
        # The session's files are in a private directory of the exchange directory.
        (mine,) = exchange.iterdir()
        assert mine.stat().st_mode & 0o077 == 0 and list(mine.glob("*recs_up.parquet"))
        (upload,) = mine.glob("*recs_up.parquet")
        assert b"forename-" not in upload.read_bytes()
        with pytest.raises(Exception, match="(?i)encrypt|decrypt"):
            pq.read_table(upload)       # nor its footer: not without the key
        # What comes back is what went: every value and type, through Spark and back.
        back = backend.download(con, frame, "*", "recs_back")
        assert con.execute(f"SELECT count(*) FROM (SELECT * FROM memory.recs EXCEPT ALL SELECT * FROM {back}) "
                           f"UNION ALL SELECT count(*) FROM (SELECT * FROM {back} EXCEPT ALL SELECT * FROM memory.recs)"
                           ).fetchall() == [(0,), (0,)]
        assert [r[1] for r in con.execute(f"DESCRIBE {back}").fetchall()] == \
            [r[1] for r in con.execute("DESCRIBE memory.recs").fetchall()]
        # No pairs is an answer too (Spark writes a file of no rows).
        none = api.register(spark.sql(f"SELECT * FROM {frame.physical_name} WHERE unique_id < 0"), table_name="recs_0")
        assert con.execute(f"SELECT count(*) FROM {backend.download(con, none, 'unique_id', 'none_back')}"
                           ).fetchone() == (0,)
        assert [p.name for p in mine.iterdir()] == [next(mine.glob("*recs_up.parquet")).name]
    finally:
        backend.close()
        con.close()
    assert not list(exchange.iterdir()) and not list((tmp_path / "home" / "tmp").iterdir())


@pytest.mark.skipif(importlib.util.find_spec("pyspark") is None, reason="pyspark is not installed")
def test_a_later_session_in_one_process_keeps_to_its_own_scratch(tmp_path):
    """The JVM outlives a session, and Spark kept the local directories it first made for the JVM's
    life: a second session (another data directory) put its userFiles and PySpark's files under the
    first session's scratch, removed by then: made again there, and left behind."""
    first = SparkBackend(tmp_path / "first", shuffle_partitions=2, driver_memory="1g", extra_conf=JVM_CONF)
    first.session()
    first.close()
    second = SparkBackend(tmp_path / "second", shuffle_partitions=2, driver_memory="1g", extra_conf=JVM_CONF)
    try:
        spark = second.session()
        assert spark.range(100).repartition(2).count() == 100
        local = second._scratch / "local"
        assert list(local.glob("spark-*/userFiles-*")) and list(local.glob("spark-*/pyspark-*")), \
            sorted(str(p) for p in tmp_path.rglob("*"))
        assert not list((tmp_path / "first" / "tmp").iterdir())
    finally:
        second.close()
    assert not list((tmp_path / "first" / "tmp").iterdir()) and not list((tmp_path / "second" / "tmp").iterdir())


_TEXT = st.one_of(st.none(), st.text(alphabet="abcé Zø-'", max_size=8))


@given(st.lists(st.tuples(_TEXT, _TEXT), max_size=30))
def test_spark_string_distances_are_the_scalar_ones_in_batches(pairs):
    """The UDFs Spark runs (one rapidfuzz call per Arrow batch) give, pair by pair, what
    ``conditions.py`` gives (which a property test holds equal to DuckDB's), NULL as NaN,
    two empty strings included."""
    import math

    import pandas as pd

    from linkage.link.backends.spark import damerau_levenshtein_batch, jaro_winkler_batch
    from linkage.link.conditions import damerau_levenshtein, jaro_winkler

    a = pd.Series([x for x, _ in pairs], dtype=object)
    b = pd.Series([y for _, y in pairs], dtype=object)
    for batch, scalar in ((jaro_winkler_batch, jaro_winkler), (damerau_levenshtein_batch, damerau_levenshtein)):
        got = batch(a, b).tolist()
        assert len(got) == len(pairs)
        for (x, y), value in zip(pairs, got):
            if x is None or y is None:
                assert math.isnan(value)
            else:
                assert value == scalar(x, y), (batch.__name__, x, y)


# The columns of the extracts that hold children's names and NHS numbers.
_NAMES = {"education": ("Forename", "Surname"), "social_care": ("Forename", "Surname", "NHSNumber"),
          "health": ("name.given", "name.family", "nhsNumber")}


def _needles(extracts: Path) -> set[bytes]:
    """Every name (6 characters or more, as written, lower and upper case) and NHS number of the
    input: shorter strings could turn up by chance in a few hundred kilobytes of ciphertext."""
    found: set[bytes] = set()
    for source, columns in _NAMES.items():
        with open(extracts / f"{source}.csv", newline="") as f:
            for row in csv.DictReader(f):
                for col in columns:
                    for word in (row[col] or "").split():
                        if len(word) >= 6:
                            found |= {word.encode(), word.lower().encode(), word.upper().encode()}
    assert len(found) > 200
    return found


def _any_of(words: set[bytes]) -> re.Pattern:
    """A pattern that matches where any of ``words`` does, written as a trie (words sharing a prefix
    share its branch). ``re`` tries each branch of an alternation at every byte: the test's 1,239
    names as ``a|b|c...`` read 0.5 to 1.8 CPU s a megabyte, as a trie 0.1, for the same matches."""
    trie: dict = {}
    for word in words:
        node = trie
        for byte in word:
            node = node.setdefault(byte, {})
        node[None] = {}

    def branch(node: dict) -> bytes:
        alts = [re.escape(bytes([b])) + branch(sub) for b, sub in sorted((k, v) for k, v in node.items()
                                                                           if k is not None)]
        if not alts:
            return b""
        body = alts[0] if len(alts) == 1 else b"(?:" + b"|".join(alts) + b")"
        return b"(?:" + body + b")?" if None in node else body

    return re.compile(branch(trie))


class _Files:
    """Reads every file under some directories, again and again, remembering each file seen and
    any input value (or the run's key, once known) found in its bytes.

    A file read before is searched for input values again only from where its earlier bytes end
    (less a name's length), once those bytes are seen to be the same (their digest): Spark's event
    log grows all through a run and was searched whole at each of the run's many scans. The key
    is looked for in every file's every byte at every scan."""

    def __init__(self, roots: list[Path], needles: set[bytes], events: Path | None = None) -> None:
        self.roots, self.needles, self.secrets, self.events = roots, _any_of(needles), [], events
        self.event_kinds: set[bytes] = set()    # the event log's events read ("SparkListenerJobStart", ...)
        self.seen: set[str] = set()
        self.plaintext: dict[str, bytes] = {}
        self._read: dict[str, tuple[int, bytes]] = {}      # path: (bytes searched, their digest)
        self._overlap = max(map(len, needles)) - 1      # a name begun in the bytes searched before

    def scan(self) -> None:
        import hashlib

        for root in self.roots:
            for path in root.rglob("*"):
                try:
                    data = path.read_bytes() if path.is_file() else None
                except OSError:          # gone meanwhile
                    continue
                if data is None:
                    continue
                name = str(path)
                self.seen.add(name)
                if self.events is not None and path.is_relative_to(self.events):
                    data = self._events_read(data)
                start = 0
                if name in self._read:
                    done, digest = self._read[name]
                    if len(data) >= done and hashlib.sha256(data[:done]).digest() == digest:
                        start = max(0, done - self._overlap)
                hit = self.needles.search(data, start)
                self._read[name] = (len(data), hashlib.sha256(data).digest())
                if hit:
                    self.plaintext[name] = hit.group()
                if any(s in data for s in self.secrets):
                    self.plaintext[name] = b"<the run's key>"


    def _events_read(self, data: bytes) -> bytes:
        """An event log (JSON lines, uncompressed for the test) without Spark's environment event:
        the JVM's class path and properties (``jackson-core-2.15.jar`` holds a test surname), which
        no record reaches. Every other event (job and stage names, SQL text and plans) is searched."""
        import re

        self.event_kinds.update(re.findall(rb'"Event":"([\w.]+)"', data))
        return b"\n".join(line for line in data.split(b"\n")
                           if b'"Event":"SparkListenerEnvironmentUpdate"' not in line)


def _fresh_local_dirs() -> None:
    """Spark keeps the local directories of a JVM's first session for the JVM's life
    (``Utils.localRootDirs``): a later session in this process (an earlier test's JVM) would write
    its shuffle files under that session's scratch, removed with it, outside the one watched here.
    ``linkage link`` starts a JVM of its own, with none kept; so does each session here."""
    from pyspark import SparkContext

    if SparkContext._jvm is not None:
        utils = SparkContext._jvm.java.lang.Class.forName("org.apache.spark.util.Utils$")
        utils.getField("MODULE$").get(None).clearLocalRootDirs()


def _watch_spark(monkeypatch, files: _Files) -> list[tuple[str, tuple[str, ...], str, int | None]]:
    """Every Spark run of this process, watched: ``files`` read before each exchange file is
    deleted and, with the run's key, before the session ends. Returns the list that each frame the
    driver collects is added to: (method, columns, "training" or "link", rows fetched)."""
    import base64

    from pyspark.sql.classic.dataframe import DataFrame

    from linkage.link.engine_training import Training

    collected: list[tuple[str, tuple[str, ...], str, int | None]] = []
    phase = ["link"]
    for method in ("collect", "toLocalIterator", "tail", "toArrow", "toPandas", "_collect_as_arrow"):
        def watched(self, *args, _original=getattr(DataFrame, method), _method=method, **kwargs):
            out = _original(self, *args, **kwargs)
            collected.append((_method, tuple(self.columns), phase[0],
                              len(out) if _method in ("collect", "tail", "toPandas") else None))
            return out
        monkeypatch.setattr(DataFrame, method, watched)

    def train(self, *args, _original=Training.train, **kwargs):
        phase[0] = "training"
        try:
            return _original(self, *args, **kwargs)
        finally:
            phase[0] = "link"

    def discard(self, name, _original=SparkBackend._discard):
        files.scan()
        _original(self, name)

    def close(self, _original=SparkBackend.close):
        key = getattr(getattr(self, "_exchange", None), "key", None)
        if key is not None:          # the run's key, as it is set on Spark's configuration and raw
            files.secrets = [key._encoded.encode(), base64.b64decode(key._encoded)]
        files.scan()
        _original(self)
        _fresh_local_dirs()
    _fresh_local_dirs()
    monkeypatch.setattr(Training, "train", train)
    monkeypatch.setattr(SparkBackend, "_discard", discard)
    monkeypatch.setattr(SparkBackend, "close", close)
    return collected


def _edges_and_children(store):
    from linkage.store.schema import t

    edges = store.df(f"SELECT record_key_l, record_key_r, match_probability, guarded FROM {t('link_edges')}")
    groups: dict[str, set] = {}
    for key, child in store.rows(f"SELECT record_key, child_id FROM {t('identity')}"):
        groups.setdefault(child, set()).add(key)
    return edges, {child: frozenset(keys) for child, keys in groups.items()}


def _parameters(store, tmp_path, name) -> dict:
    """Every learnt number of the saved model, by comparison, level and kind."""
    from linkage.link.run import export_model

    (tmp_path / name).mkdir(exist_ok=True)
    model = json.loads(export_model(store, tmp_path / name).read_text())
    out = {"prior": model["probability_two_random_records_match"]}
    for c in model["comparisons"]:
        for i, level in enumerate(c["comparison_levels"]):
            for kind in ("m_probability", "u_probability"):
                if kind in level:
                    out[f"{c['output_column_name']}/{i}/{kind}"] = level[kind]
    return out


def _same(duck, spark, tmp_path, month) -> dict:
    """DuckDB and Spark stores after one month's run: the same pairs to 1e-6, the same twin-guard
    flags, the same children, the same term frequencies. Returns each engine's children (child id:
    record keys)."""
    from linkage.store.schema import t

    (d_edges, d_children), (s_edges, s_children) = _edges_and_children(duck), _edges_and_children(spark)
    assert len(d_edges) > 100
    both = d_edges.merge(s_edges, on=["record_key_l", "record_key_r"], how="outer", indicator=True)
    assert (both["_merge"] == "both").all(), (month, both[both["_merge"] != "both"].head())
    assert (both["match_probability_x"] - both["match_probability_y"]).abs().max() < 1e-6, month
    assert (both["guarded_x"] == both["guarded_y"]).all(), month
    assert set(d_children.values()) == set(s_children.values()), month
    tf = f"SELECT column_name, value, tf FROM {t('term_frequencies')} ORDER BY 1, 2"
    assert len(duck.df(tf)) > 100 and spark.df(tf).equals(duck.df(tf)), month
    return {"duckdb": d_children, "spark": s_children}


@pytest.mark.e2e
@pytest.mark.skipif(importlib.util.find_spec("pyspark") is None,
                    reason="pyspark is not installed: pip install -e '.[spark]' to test the Spark engine")
def test_spark_and_duckdb_give_the_same_model_pairs_children_and_ids(tmp_path, monkeypatch):
    """The whole pipeline on the same records, on DuckDB and by `linkage link --engine spark` in
    local[2], each training its own model: the same model (to 1e-9), the same pairs to 1e-6, the
    same twin-guard flags, term frequencies and children; then a second month linked on each keeps
    the same children under their identifiers (the stable ids carry over alike).

    Both Spark runs, the training among them, are watched for data at rest (the exchange a
    directory of its own, Parquet lineage breaking in the checkpoint directory, Spark's event log
    on): every file in the exchange, the checkpoint directory, Spark's scratch and the event log
    is read while the run goes (each exchange file before it is deleted, the rest before the
    session ends), and no name or NHS number of the input, nor the run's key, is in any of them;
    no Spark frame of records or term frequencies is collected to the driver, but for the one row
    Splink's EM fetches per training session (below).

    The command runs in this process (``incli``): the second month's session starts in the JVM the
    first one started, as the first Spark test of the module's does for the others (a JVM of its
    own for each run cost the suite ~10 s of wall each, and ~25 s for the watch's own link)."""
    from linkage.connectors import ingest_file
    from linkage.link import run_link
    from linkage.store import Store
    from linkage.synth import synthesise

    # Seed 42 has a pair ('cater', 'carter', same postcode) that Splink's jar's Jaro-Winkler scores
    # below 0.9 and DuckDB's above: it tells the engines apart unless they share one function.
    for month in (1, 2):
        synthesise(300, 42, tmp_path / f"m{month}", month=month)
    exchange, events = tmp_path / "exchange", tmp_path / "events"
    events.mkdir()
    for name, value in {"LINKAGE_SPARK_MASTER": "local[2]", "LINKAGE_SPARK_SHUFFLE_PARTITIONS": "2",
                        "LINKAGE_SPARK_DRIVER_MEMORY": "1g", "LINKAGE_SPARK_EXCHANGE_DIR": str(exchange),
                        # Uncompressed: Spark 4 writes the log as zstd by default, where no name is
                        # readable to the watch whatever the log holds.
                        "LINKAGE_SPARK_CONF": json.dumps({"spark.eventLog.enabled": "true",
                                                          "spark.eventLog.compress": "false",
                                                          "spark.eventLog.dir": events.as_uri(), **JVM_CONF})
                        }.items():
        monkeypatch.setenv(name, value)
    files = _Files([exchange, tmp_path / "spark" / "tmp", events], _needles(tmp_path / "m1"), events=events)
    collected = _watch_spark(monkeypatch, files)
    duck = Store(tmp_path / "duckdb", memory_limit="1GB")
    children: dict[int, dict] = {}
    try:
        for month in (1, 2):
            extracts = tmp_path / f"m{month}"
            when = date.fromisoformat(json.loads((extracts / "manifest.json").read_text())["extract_date"])
            spark = Store(tmp_path / "spark", memory_limit="1GB")
            try:
                for store in (duck, spark):
                    for source in SOURCES:
                        ingest_file(store, source, extracts / f"{source}.csv", extract_date=when)
            finally:
                spark.close()
            result = run_link(duck)
            assert result.trained == (month == 1) and result.children > 250
            on_spark = incli.run("link", "--engine", "spark", "--data-dir", str(tmp_path / "spark"))
            assert on_spark.returncode == 0, on_spark.stdout + on_spark.stderr
            assert ("model trained" in on_spark.stdout) == (month == 1)  # trained on Spark, then kept
            spark = Store(tmp_path / "spark", memory_limit="1GB")
            try:
                if month == 1:
                    d_model, s_model = _parameters(duck, tmp_path, "d"), _parameters(spark, tmp_path, "s")
                    assert d_model.keys() == s_model.keys() and len(d_model) > 20
                    assert max(abs(d_model[k] - s_model[k]) for k in d_model) < 1e-9
                children[month] = _same(duck, spark, tmp_path, month)
            finally:
                spark.close()
    finally:
        duck.close()
    # Stable identifiers: which month-1 child each month-2 child continues is the same on both.
    carried = {}
    for engine in ("duckdb", "spark"):
        first, second = children[1][engine], children[2][engine]
        carried[engine] = {second[c]: first[c] for c in second if c in first}
    assert carried["duckdb"] == carried["spark"] and len(carried["duckdb"]) > 250
    # Nothing readable at rest, and no records nor term frequencies fetched to the driver.
    assert files.plaintext == {}
    # The scan read the input, Splink's checkpoints and the scored pairs Spark wrote, and the event log.
    assert any(Path(p).name.endswith(".parquet") and "-in_" in Path(p).name and str(exchange) in p
               for p in files.seen), files.seen
    assert any("checkpoints" in p and p.endswith(".parquet") for p in files.seen), files.seen
    assert any("link_scored" in p and p.endswith(".parquet") for p in files.seen), files.seen
    assert any(str(events) in p for p in files.seen), files.seen
    # ... as text: the events that name jobs, stages and SQL were read, not compressed bytes.
    assert {b"SparkListenerJobStart", b"SparkListenerStageSubmitted",
            b"org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionStart"} <= files.event_kinds, files.event_kinds
    fetched = [(m, phase, rows, cols) for m, cols, phase, rows in collected
               if {"forename", "surname", "nhs_number"} & set(cols) or any(c.startswith("tf_") for c in cols)]
    assert collected
    # Only Splink's EM, which asks each training session's comparison vectors for one row to
    # check that its rule gave pairs (em_training_session.py: ``cvv.as_record_list(limit=1)``):
    # one pair's values in the driver, once a session. Scoring fetches nothing.
    assert {(m, phase) for m, phase, *_ in fetched} <= {("collect", "training")}, fetched
    assert {rows for _, _, rows, _ in fetched} <= {0, 1}, fetched
    assert len(fetched) <= len(spec.TRAINING_SESSIONS) + len(spec.FALLBACK_SESSIONS), fetched
    # Spark's scratch (local dir, checkpoints) and the exchange are gone with the session.
    assert not list(exchange.iterdir()) and not list((tmp_path / "spark" / "tmp").glob("spark-*"))


def test_a_relative_data_directory_gives_the_exchange_an_absolute_uri(tmp_path, monkeypatch):
    """`linkage link --engine spark --data-dir data` (relative): the exchange falls back to a
    directory under it, and Spark names files by URI, which must be absolute (it raised
    "relative path can't be expressed as a file URI")."""
    from linkage.link.backends.exchange import ExchangeDir, ExchangeKey

    monkeypatch.chdir(tmp_path)
    exchange = ExchangeDir(None, Path("data") / "scratch", ExchangeKey())
    assert exchange._uri.startswith("file:///") and Path(exchange._path).is_absolute()
    assert Path(exchange._path).parent == tmp_path / "data" / "scratch"


@given(st.sets(st.text("abc.", min_size=1, max_size=5).map(str.encode), min_size=1, max_size=40), st.data())
def test_the_watchs_one_pattern_finds_a_name_wherever_any_is(words, data):
    """``_any_of``'s trie matches where a plain alternation of the words does, and only there: words
    of a small alphabet (sharing prefixes, and ``.``, which the pattern must escape), searched in bytes
    made of pieces of them (near misses: a prefix, a word less its first byte)."""
    ordered = sorted(words)
    pieces = st.one_of(st.text("abcd.", max_size=3).map(str.encode), st.sampled_from(ordered).flatmap(
        lambda w: st.sampled_from([w, w[:-1], w[1:], w[: len(w) // 2]])))
    text = b"".join(data.draw(st.lists(pieces, max_size=8)))
    plain = re.compile(b"|".join(re.escape(w) for w in ordered))
    found = _any_of(words).search(text)
    assert bool(found) == bool(plain.search(text)), text
    assert not found or found.group() in words


def test_the_watch_reads_again_what_changed_and_the_key_everywhere(tmp_path):
    """A file searched before: a name written across the end of what was searched, a file rewritten
    at its old length with a name early in it, and the run's key in a file unchanged since: each
    found at the next scan."""
    grown, rewritten, still = tmp_path / "events", tmp_path / "part.parquet", tmp_path / "kept"
    grown.write_bytes(b"x" * 5000 + b"Ale")
    rewritten.write_bytes(b"y" * 3000)
    still.write_bytes(b"z" * 100 + b"k3y-of-the-run" + b"z" * 100)
    files = _Files([tmp_path], {b"Alexandra", b"Mohammed"})
    files.scan()
    assert files.plaintext == {} and len(files.seen) == 3
    with open(grown, "ab") as f:
        f.write(b"xandra" + b"x" * 100)
    rewritten.write_bytes(b"y" * 10 + b"MOHAMMED".lower().capitalize() + b"y" * 2982)
    files.secrets = [b"k3y-of-the-run"]
    files.scan()
    assert files.plaintext == {str(grown): b"Alexandra", str(rewritten): b"Mohammed",
                               str(still): b"<the run's key>"}
