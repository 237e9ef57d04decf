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
    classpath = f"{jars}/*:{jar}:{tmp_path / 'cls'}"
    java = JAVA_OPTIONS.split()         # short JVMs: see tests/sparkjvm.py
    subprocess.run(["javac", *(f"-J{o}" for o in java), "-nowarn", "-cp", classpath, "-d", str(tmp_path / "cls"),
                    str(source)], check=True, capture_output=True)
    key = ExchangeKey()
    exchange = ExchangeDir(None, tmp_path, key)
    con = duckdb.connect()
    con.execute("CREATE TABLE memory.recs AS SELECT i AS unique_id, 'forename-' || i AS forename, "
                "DATE '2015-01-01' + CAST(i AS INTEGER) AS dob, [i % 3] AS tokens FROM range(1000) t(i)")
    exchange.write(con.execute("SELECT * FROM memory.recs").fetch_record_batch(300), "in.parquet")
    written = Path(exchange._path)
    assert b"forename-" not in (written / "in.parquet").read_bytes()
    props = [f"{k.removeprefix('spark.hadoop.')}={v}" for k, v in crypto_conf().items()]
    run = subprocess.run(["java", *java, "-cp", classpath, "KmsInterop", key._encoded, key.token,
                          str(written / "in.parquet"), str(written / "out" / "part-0.parquet"), *props],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "rows=1000" in run.stdout
    assert b"JAVASECRET" not in (written / "out" / "part-0.parquet").read_bytes()
    assert exchange.read("out").read_all().to_pylist() == [{"id": 7, "name": "JAVASECRET"}]
    # Another run's key opens neither file.
    other = ExchangeKey()
    with pytest.raises(Exception):
        pq.ParquetFile(str(written / "out" / "part-0.parquet"), decryption_properties=other.decryption()).read()
    wrong = subprocess.run(["java", *java, "-cp", classpath, "KmsInterop", other._encoded, other.token,
                            str(written / "in.parquet"), str(tmp_path / "x.parquet"), *props],
                           capture_output=True, text=True, timeout=120)
    assert wrong.returncode != 0
    exchange.close()
