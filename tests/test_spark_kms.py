"""The exchange's two ends agree on encryption without a Spark session: Parquet's own Java key
tools with ``MemoryKms`` (what Spark's executors run) read what linkage's pyarrow side wrote, and
write what it reads, under the session's own properties; without the key nothing is readable."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest
from sparkjvm import JAVA_OPTIONS

pytestmark = pytest.mark.skipif(importlib.util.find_spec("pyspark") is None or shutil.which("javac") is None,
                                reason="needs pyspark's jars and a JDK")


def test_java_key_tools_and_pyarrow_read_each_others_encrypted_parquet(tmp_path):
    import duckdb
    import pyarrow.parquet as pq
    import pyspark

    from linkage.link.backends.exchange import ExchangeDir, ExchangeKey, crypto_conf, kms_jar

    jar = kms_jar(tmp_path)
    jars = Path(pyspark.__file__).parent / "jars"
    source = Path(__file__).parent / "java" / "KmsInterop.java"
    java = ["java", *JAVA_OPTIONS.split(), "-cp", f"{jars}/*:{jar}", str(source)]   # short JVM: tests/sparkjvm.py
    key, other = ExchangeKey(), ExchangeKey()
    exchange = ExchangeDir(None, tmp_path, key)
    con = duckdb.connect()
    con.execute("CREATE TABLE memory.recs AS SELECT i AS unique_id, 'forename-' || i AS forename, "
                "DATE '2015-01-01' + CAST(i AS INTEGER) AS dob, [i % 3] AS tokens FROM range(1000) t(i)")
    exchange.write(con.execute("SELECT * FROM memory.recs").fetch_record_batch(300), "in.parquet")
    written = Path(exchange._path)
    assert b"forename-" not in (written / "in.parquet").read_bytes()
    props = [f"{k.removeprefix('spark.hadoop.')}={v}" for k, v in crypto_conf().items()]
    # One JVM (the source run as it is compiled): the run's key reads and writes; another run's key
    # opens nothing, in a fresh JVM and in one whose key tools have cached the run's client and keys.
    run = subprocess.run([*java, key._encoded, key.token, str(written / "in.parquet"),
                          str(written / "out" / "part-0.parquet"), other._encoded, other.token, *props],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["other=KeyAccessDeniedException", "rows=1000", "other=KeyAccessDeniedException"], \
        run.stdout + run.stderr[-2000:]
    assert b"JAVASECRET" not in (written / "out" / "part-0.parquet").read_bytes()
    assert exchange.read("out").read_all().to_pylist() == [{"id": 7, "name": "JAVASECRET"}]
    # Nor does it in pyarrow.
    with pytest.raises(Exception):
        pq.ParquetFile(str(written / "out" / "part-0.parquet"), decryption_properties=other.decryption()).read()
    exchange.close()


def test_the_kms_client_is_compiled_once_a_process(tmp_path, monkeypatch):
    """javac runs for a process's first session only (about 1 CPU s and 2 s of wall each): a later
    session's jar holds the same classes, and each session's jar is its own file."""
    import zipfile

    from linkage.link.backends import exchange

    (tmp_path / "a").mkdir()
    first = exchange.kms_jar(tmp_path / "a")
    started = []

    def run(args, *more, _original=subprocess.run, **kwargs):
        started.append(args[0])
        return _original(args, *more, **kwargs)
    monkeypatch.setattr(exchange.subprocess, "run", run)
    (tmp_path / "b").mkdir()
    second = exchange.kms_jar(tmp_path / "b")
    assert started == [] and first != second

    def classes(jar):
        with zipfile.ZipFile(jar) as z:
            return {name: z.read(name) for name in z.namelist()}
    assert classes(first) == classes(second) and "linkage/spark/MemoryKms.class" in classes(first)
