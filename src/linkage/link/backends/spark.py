"""Splink on Apache Spark (``pip install 'linkage[spark]'``, Java 17 with javac).

Records are prepared in the store's DuckDB and written, once per table Splink needs, as
encrypted Parquet into the *exchange directory* (``exchange.py``); Spark's executors read
those files themselves, so the records never pass through the driver (nor its heap: an Arrow
or pandas hand-over is built in the driver and, in local mode, held there). The scored pairs
come back the same way: the executors write encrypted Parquet, which is decrypted batch by
batch into DuckDB's in-memory catalog, where the twin guard, clustering and the
one-transaction save run exactly as for DuckDB. Term frequencies are counted in DuckDB and
sent to Spark the same way; none comes back.

The exchange directory (``LINKAGE_SPARK_EXCHANGE_DIR``) is a path or a Hadoop URI the
``linkage`` host and every executor reach: unset, a private directory under the data
directory's ``tmp`` (enough for ``local[N]``). Every Parquet file of the session (exchange,
Splink's checkpoints) is encrypted under a key made for the run and held only in memory;
shuffle and spill files are encrypted by Spark (``spark.io.encryption.enabled``). Each
session's files are in its own subdirectory, removed when the session ends (docs/spark.md,
"Data at rest").
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import sqlglot
import sqlglot.expressions as exp
from splink.internals.splink_dataframe import SplinkDataFrame

from linkage.errors import LinkageError
from linkage.link.backends.base import MODEL_DIALECT, LinkBackend
from linkage.link.backends.exchange import ExchangeDir, ExchangeKey, crypto_conf, kms_jar
from linkage.store import registered

__all__ = ["BREAK_LINEAGE", "SparkBackend", "damerau_levenshtein_batch", "jaro_winkler_batch", "spark_conf"]

# String distances are ours, not Splink's jar's: its Jaro-Winkler differs from DuckDB's
# (jaro_winkler('cater', 'carter') is 0.902 in DuckDB, below 0.9 in the jar), so one
# model would link differently on each engine. These are the functions ``conditions.py``
# uses, which a property test holds equal to DuckDB's; executors need linkage installed.
_UDFS = {"jaro_winkler_similarity": "linkage_jaro_winkler", "damerau_levenshtein": "linkage_damerau_levenshtein"}
_RENAMED = {exp.ArrayOverlaps: "arrays_overlap", exp.JarowinklerSimilarity: _UDFS["jaro_winkler_similarity"]}


def _strict(name: str, args: list[exp.Expression]) -> exp.Expression:
    """A call of ``name``; our UDFs are wrapped so that NULL in is NULL out, as in DuckDB."""
    call = exp.Anonymous(this=name, expressions=args)
    if name not in _UDFS.values():
        return call
    is_null = exp.or_(*(exp.Is(this=a.copy(), expression=exp.Null()) for a in args))
    return exp.Case(ifs=[exp.If(this=is_null, true=exp.Null())], default=call)


def _to_spark(node: exp.Expression) -> exp.Expression:
    if type(node) in _RENAMED:
        return _strict(_RENAMED[type(node)], [node.this, node.expression])
    if isinstance(node, exp.Anonymous) and node.name.lower() in _UDFS:
        return _strict(_UDFS[node.name.lower()], list(node.expressions))
    return node


def _batch(a: pd.Series, b: pd.Series, scorer, empty_pair: float | None) -> pd.Series:
    """``scorer`` over two columns at once (rapidfuzz ``cpdist``, one call per Arrow batch, not one
    Python call per pair), on UTF-8 bytes as ``conditions.py`` and DuckDB measure them. A NULL
    argument gives NaN; ``empty_pair`` is the value for two empty strings where DuckDB's differs."""
    import numpy as np
    from rapidfuzz import process

    both = (a.map(type) == str) & (b.map(type) == str)
    out = np.full(len(a), np.nan)
    if both.any():
        left = [x.encode() for x in a[both]]
        right = [y.encode() for y in b[both]]
        scores = process.cpdist(left, right, scorer=scorer, dtype=np.float64, workers=1)
        if empty_pair is not None:
            scores[[not x and not y for x, y in zip(left, right)]] = empty_pair
        out[both.to_numpy()] = scores
    return pd.Series(out, dtype="float64")


def jaro_winkler_batch(a: pd.Series, b: pd.Series) -> pd.Series:
    """``conditions.jaro_winkler`` over two columns (two empty strings: 0.0, as in DuckDB)."""
    from rapidfuzz.distance import JaroWinkler

    return _batch(a, b, JaroWinkler.similarity, 0.0)


def damerau_levenshtein_batch(a: pd.Series, b: pd.Series) -> pd.Series:
    """``conditions.damerau_levenshtein`` over two columns."""
    from rapidfuzz.distance import DamerauLevenshtein

    return _batch(a, b, DamerauLevenshtein.distance, None)


def _register_udfs(spark) -> None:
    """Vectorised (Arrow) Python UDFs for the model's string distances. A NULL argument
    gives NaN here; the SQL around each call (``_strict``) turns it into NULL."""
    from pyspark.sql.functions import pandas_udf

    spark.udf.register(_UDFS["jaro_winkler_similarity"], pandas_udf(jaro_winkler_batch, "double"))
    spark.udf.register(_UDFS["damerau_levenshtein"], pandas_udf(damerau_levenshtein_batch, "double"))


def spark_conf(*, master: str, home: Path, shuffle_partitions: int, driver_memory: str,
               executor_memory: str | None, jar: str, extra: Mapping[str, str]) -> dict[str, str]:
    """The session's configuration; a local master binds to the loopback interface only."""
    conf = {
        "spark.app.name": "linkage",
        "spark.master": master,
        "spark.jars": jar,
        "spark.sql.shuffle.partitions": str(shuffle_partitions),
        "spark.default.parallelism": str(shuffle_partitions),
        "spark.driver.memory": driver_memory,
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.io.encryption.enabled": "true",
        # Every Parquet file the session writes (the exchange, Splink's checkpoints) is encrypted.
        **crypto_conf(),
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.log.level": "ERROR",
        # The model's comparisons make one stage's generated Java exceed the JVM's 64 KB method
        # limit; Spark would log a page of compiler errors and fall back to this anyway.
        "spark.sql.codegen.wholeStage": "false",
        # No automatic broadcast joins. Spark broadcasts a join side its estimate puts under 10 MB:
        # it collects that side into the driver, builds a hash table there (at least one memory
        # page, 32-64 MB, whatever the table's size) and keeps it while the plan lives. Splink's
        # checkpointed tables and our Arrow input carry estimates, not sizes, and in local mode
        # the driver is the executor too: measured, the driver's live heap held 0.45-0.64 GiB of
        # such pages at 5,494 records and none without them (docs/scaling.md, "Spark's driver
        # memory"). Sort-merge joins spill instead; LINKAGE_SPARK_CONF may set a threshold back.
        "spark.sql.autoBroadcastJoinThreshold": "-1",
        # Our input is read from Parquet (``upload``), but should anything hand Spark a local frame:
        # under this threshold (48 MB by default) Spark turns it into rows inside the query plan (a
        # LocalRelation) in the driver, and every plan over it keeps its own copies as Java objects
        # (170 MiB live at 5,494 records when the input came that way; docs/scaling.md).
        "spark.sql.execution.arrow.localRelationThreshold": "0",
    }
    if executor_memory:
        conf["spark.executor.memory"] = executor_memory
    if master.startswith("local"):
        # Python workers (the string-distance UDFs) run in this interpreter, with linkage's dependencies.
        conf.update({"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1",
                     "spark.local.dir": str(home), "spark.pyspark.python": sys.executable})
    conf.update(extra)
    return conf


# How Splink cuts Spark's lineage after each of its larger steps. ``local_checkpoint`` (ours)
# keeps the table in the executors' block managers (memory, spilling to encrypted local disk):
# computed once, no files, and the next step's plan starts from it. ``parquet`` (the default)
# writes each table to the checkpoint directory as Parquet, encrypted like the exchange, and reads
# it back; ``checkpoint`` is taken as ``parquet``: Splink's RDD checkpoint writes Java-serialised
# rows that Spark never encrypts. ``persist`` keeps the whole plan, which Spark analyses again at
# every later step. ``local_checkpoint`` does not survive a lost executor: on a cluster use
# ``parquet`` on shared storage.
BREAK_LINEAGE = ("local_checkpoint", "checkpoint", "persist", "parquet")

# Pipelines whose last step reads the step before it many times: EM's new parameters are a
# UNION of one aggregation per comparison (and one for the prior) over the iteration's
# predictions. DuckDB computes such a CTE once; Spark inlines it, so each EM iteration scored
# every training pair nine times. Run as two queries, the predictions are computed once (and
# cut as Splink cuts ``__splink__df_predict``).
_SPLIT_BEFORE_LAST = ("__splink__m_u_counts",)


def _forget_local_dirs(jvm) -> None:
    """After ``stop()``: the JVM outlives the session (PySpark keeps its gateway), and Spark keeps
    the local directories it first made for the rest of the JVM's life (``Utils.localRootDirs``).
    A later session in this process (its own ``spark.local.dir``) would put its userFiles and
    PySpark's broadcast files under the first session's scratch, removed by then: made again,
    and never removed. Forgetting them makes the next session read its own setting."""
    try:
        getattr(jvm.org.apache.spark.util, "Utils$").__getattr__("MODULE$").clearLocalRootDirs()
    except Exception:      # a cleanup: the run's result stands
        pass


def _splink_api(spark, break_lineage: str, partitions: int):
    """Splink's ``SparkAPI``, taught ``local_checkpoint`` and to split ``_SPLIT_BEFORE_LAST``."""
    from splink.backends.spark import SparkAPI
    from splink.internals.pipeline import CTEPipeline

    class _SparkAPI(SparkAPI):
        def __init__(self) -> None:
            self._cuts: dict[str, bool] = {}
            self._local_rdds: dict[str, Any] = {}     # physical name: its local checkpoint's RDD
            super().__init__(spark_session=spark, num_partitions_on_repartition=partitions,
                             break_lineage_method="persist" if break_lineage == "local_checkpoint" else break_lineage)
            self.local = break_lineage == "local_checkpoint"

        def _splink_cuts(self, templated_name: str) -> bool:
            """Whether Splink breaks lineage after ``templated_name``: its list is inside its method,
            which refuses an unknown method exactly when the name is on it."""
            if templated_name not in self._cuts:
                method, self.break_lineage_method = self.break_lineage_method, "?"
                try:
                    SparkAPI._break_lineage_and_repartition(self, self.spark.range(0), templated_name, "_probe")
                    self._cuts[templated_name] = False
                except ValueError:
                    self._cuts[templated_name] = True
                finally:
                    self.break_lineage_method = method
            return self._cuts[templated_name]

        def sql_pipeline_to_splink_dataframe(self, pipeline):
            if pipeline.output_table_name not in _SPLIT_BEFORE_LAST or len(pipeline.queue) < 2:
                return super().sql_pipeline_to_splink_dataframe(pipeline)
            last = pipeline.queue.pop()
            inner = super().sql_pipeline_to_splink_dataframe(pipeline)
            rest = CTEPipeline([inner])
            rest.enqueue_sql(last.sql, last.output_table_name)
            try:
                return super().sql_pipeline_to_splink_dataframe(rest)
            finally:
                inner.drop_table_from_database_and_remove_from_cache()

        def delete_table_from_database(self, name):
            """Splink drops a table it is done with: its local checkpoint's blocks go too (else
            they stay until the JVM's garbage collector reaches them)."""
            rdd = self._local_rdds.pop(name, None)
            if rdd is not None:
                rdd.unpersist(False)
            super().delete_table_from_database(name)

        def _break_lineage_and_repartition(self, spark_df, templated_name, physical_name):
            if not self.local:
                return super()._break_lineage_and_repartition(spark_df, templated_name, physical_name)
            spark_df = self._repartition_if_needed(spark_df, templated_name)
            if self._splink_cuts(templated_name):
                spark_df = spark_df.localCheckpoint(eager=True)
                self._local_rdds[physical_name] = spark_df._jdf.queryExecution().analyzed().rdd()
            if templated_name == "__splink__blocked_id_pairs":    # as Splink does after cutting it
                spark_df = spark_df.repartition(self.num_partitions_on_repartition)
            return spark_df

    return _SparkAPI()


class SparkBackend(LinkBackend):
    """A Spark session, started on first ``bind`` and stopped by ``close``."""

    name = "spark"
    sql_dialect = "spark"

    def __init__(self, home: Path, *, master: str = "local[2]", shuffle_partitions: int = 8,
                 driver_memory: str = "2g", executor_memory: str | None = None,
                 break_lineage: str | None = None, checkpoint_dir: str | None = None,
                 exchange_dir: str | None = None, extra_conf: Mapping[str, str] | None = None) -> None:
        self.home = Path(home)
        self.master = master
        self.shuffle_partitions = shuffle_partitions
        self.driver_memory = driver_memory
        self.executor_memory = executor_memory
        # Not local_checkpoint by default: at 37,023 records in local[2] with a 2g driver its blocks
        # left too little heap for a broadcast join in predict (docs/scaling.md, "Linking on Spark").
        if (break_lineage or "parquet") not in BREAK_LINEAGE:
            raise ValueError(f"unknown Spark lineage breaking {break_lineage!r}: one of {', '.join(BREAK_LINEAGE)}")
        self.break_lineage = "parquet" if break_lineage in (None, "checkpoint") else break_lineage
        self.checkpoint_dir = checkpoint_dir
        self.exchange_dir = exchange_dir
        self.extra_conf = dict(extra_conf or {})
        self._spark: Any = None
        self._scratch: Path | None = None
        self._exchange: ExchangeDir | None = None      # this session's private directory in the exchange
        self._checkpoints: str | None = None           # and in the checkpoint directory (Spark's own)
        self._written = 0

    @classmethod
    def from_settings(cls, settings: Any, home: Path) -> SparkBackend:
        return cls(home, master=settings.spark_master, shuffle_partitions=settings.spark_shuffle_partitions,
                   driver_memory=settings.spark_driver_memory, executor_memory=settings.spark_executor_memory,
                   break_lineage=settings.spark_break_lineage, checkpoint_dir=settings.spark_checkpoint_dir,
                   exchange_dir=settings.spark_exchange_dir, extra_conf=settings.spark_conf)

    # -- session -----------------------------------------------------------------
    def session(self):
        if self._spark is not None:
            return self._spark
        try:
            from pyspark.sql import SparkSession
            from splink.backends.spark import similarity_jar_location
        except ImportError:
            raise LinkageError("the spark engine needs pyspark: pip install 'linkage[spark]'") from None
        tmp = self.home / "tmp"
        tmp.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._scratch = Path(tempfile.mkdtemp(prefix="spark-", dir=tmp))  # 0700
        exchange_key = ExchangeKey()
        try:
            jars = f"{similarity_jar_location()},{kms_jar(self._scratch)}"
            self._exchange = ExchangeDir(self.exchange_dir, self._scratch, exchange_key)
        except BaseException:
            self._remove_scratch()
            raise
        if self.master.startswith("local"):
            # Read by the JVM as it starts: without it Spark picks the first non-loopback address.
            os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
            # PySpark starts its Python workers with this (not spark.pyspark.python) once the driver runs.
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = SparkSession.builder
        for key, value in spark_conf(master=self.master, home=self._scratch / "local",
                                     shuffle_partitions=self.shuffle_partitions, driver_memory=self.driver_memory,
                                     executor_memory=self.executor_memory, jar=jars,
                                     extra=self.extra_conf).items():
            builder = builder.config(key, value)
        try:
            spark = builder.getOrCreate()
        except Exception as exc:  # py4j/Java start-up failures carry pages of JVM output
            self._remove_scratch()
            raise LinkageError(f"could not start Spark ({self.master}): {str(exc).splitlines()[0][:200]}") from None
        spark.sparkContext.setLogLevel("ERROR")
        exchange_key.install(spark)
        spark.sparkContext.setCheckpointDir(self.checkpoint_dir or str(self._scratch / "checkpoints"))
        self._checkpoints = spark.sparkContext._jsc.sc().getCheckpointDir().get()   # a new subdirectory
        self._spark = spark
        return spark

    def bind(self, con: duckdb.DuckDBPyConnection):
        api = _splink_api(self.session(), self.break_lineage, self.shuffle_partitions)
        _register_udfs(self.session())
        return api

    def close(self) -> None:
        if self._spark is not None:
            self._remove_checkpoints()
            jvm = self._spark.sparkContext._jvm
            self._spark.stop()
            self._spark = None
            _forget_local_dirs(jvm)
        self._remove_scratch()

    def _remove_checkpoints(self) -> None:
        """This session's subdirectory of the checkpoint directory (ciphertext whose key dies with
        the run, but a shared directory should not fill up), through Hadoop: it may be remote."""
        if self._checkpoints is None:
            return
        try:
            jvm = self._spark.sparkContext._jvm
            path = jvm.org.apache.hadoop.fs.Path(self._checkpoints)
            path.getFileSystem(self._spark.sparkContext._jsc.hadoopConfiguration()).delete(path, True)
        except Exception:      # a cleanup: the run's result stands
            pass
        self._checkpoints = None

    def explain(self, exc: BaseException) -> LinkageError | None:
        """Spark and the JVM fail with pages of Java stack; the user gets its first line."""
        try:
            from py4j.protocol import Py4JError
            from pyspark.errors import PySparkException
        except ImportError:
            return None
        if not isinstance(exc, (Py4JError, PySparkException)):
            return None
        return LinkageError(self.failure_line(str(exc) or type(exc).__name__))

    def failure_line(self, text: str) -> str:
        """The line of a Spark failure a user can act on. py4j's own first line ("An error occurred
        while calling o962.checkpoint.") names no cause; the Java exception after it does, and running
        out of heap says which memory setting to raise (in local mode the driver holds every partition)."""
        lines = [line.strip().lstrip(": ").strip() for line in text.splitlines() if line.strip()]
        java = next((line for line in lines if line.startswith(("java.", "org.apache.spark.", "scala."))), None)
        first = java if java and lines[0].startswith("An error occurred while calling") else lines[0]
        if "OutOfMemoryError" in text:
            which = ("LINKAGE_SPARK_DRIVER_MEMORY (now " + self.driver_memory + "): in local mode the driver holds "
                     "all the data" if self.master.startswith("local") else
                     "LINKAGE_SPARK_EXECUTOR_MEMORY or the number of partitions")
            return f"Spark ({self.master}) ran out of memory ({first[:120]}): raise {which}; see docs/spark.md"
        return f"Spark ({self.master}) failed: {first[:300]}"

    def _remove_scratch(self) -> None:
        if self._exchange is not None:
            self._exchange.close()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
        self._scratch = self._exchange = None

    # -- crossing between DuckDB and Spark ---------------------------------------
    def _name(self, name: str) -> str:
        """A new name in the exchange directory (names are never reused: Spark caches file listings)."""
        self.session()
        self._written += 1
        return f"{self._written:05d}-{name}"

    def upload(self, db_api, con: duckdb.DuckDBPyConnection, table: str, physical_name: str) -> SplinkDataFrame:
        """DuckDB's ``memory.<table>`` written as encrypted Parquet, batch by batch; Spark plans a
        scan of the file, which the executors read. The driver holds only the file's footer."""
        name = self._name(f"{physical_name}.parquet")
        self._exchange.write(con.execute(f"SELECT * FROM memory.{table}").fetch_record_batch(65536), name)
        return db_api.register(self.session().read.parquet(self._exchange.uri(name)), table_name=physical_name)

    def download(self, con: duckdb.DuckDBPyConnection, frame: SplinkDataFrame, columns: str, table: str) -> str:
        """The executors write ``columns`` of ``frame`` as encrypted Parquet; DuckDB reads them,
        decrypted batch by batch, into ``memory.<table>``, and the files are deleted."""
        name = self._name(table)
        self.session().sql(f"SELECT {columns} FROM {frame.physical_name}").write.parquet(self._exchange.uri(name))
        view = f"_exchange_{uuid.uuid4().hex[:8]}"
        try:
            with registered(con, **{view: self._exchange.read(name)}):
                con.execute(f"CREATE OR REPLACE TABLE memory.{table} AS SELECT * FROM {view}")
        finally:
            self._discard(name)
        return f"memory.{table}"

    def _discard(self, name: str) -> None:
        """Delete a file or directory of the exchange once read."""
        self._exchange.remove(name)

    def translate(self, sql: str) -> str:
        if sql.strip().upper() == "ELSE":
            return sql
        return sqlglot.parse_one(sql, read=MODEL_DIALECT).transform(_to_spark).sql(dialect="spark")
