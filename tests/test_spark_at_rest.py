"""A Spark link leaves no record readable on disk, and collects no term frequencies to the driver."""

from __future__ import annotations

import csv
import importlib.util
import json
import re
from datetime import date
from pathlib import Path

import pytest
from sparkjvm import CONF as JVM_CONF

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(importlib.util.find_spec("pyspark") is None,
                                                  reason="pyspark is not installed")]

SOURCES = ("education", "social_care", "health")
# The columns of the extracts that hold children's names and NHS numbers.
_NAMES = {"education": ("Forename", "Surname"), "social_care": ("Forename", "Surname", "NHSNumber"),
          "health": ("name.given", "name.family", "nhsNumber")}


def _needles(extracts: Path) -> re.Pattern:
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
    return re.compile(b"|".join(re.escape(n) for n in sorted(found)))


class _Files:
    """Reads every file under some directories, again and again, remembering each file seen and
    any input value found in its bytes."""

    def __init__(self, roots: list[Path], needles: re.Pattern, secrets: list[bytes]) -> None:
        self.roots, self.needles, self.secrets = roots, needles, secrets
        self.seen: set[str] = set()
        self.plaintext: dict[str, bytes] = {}

    def scan(self) -> None:
        for root in self.roots:
            for path in root.rglob("*"):
                try:
                    data = path.read_bytes() if path.is_file() else None
                except OSError:          # gone meanwhile
                    continue
                if data is None:
                    continue
                self.seen.add(str(path))
                hit = self.needles.search(data)
                if hit:
                    self.plaintext[str(path)] = hit.group()
                if any(s in data for s in self.secrets):
                    self.plaintext[str(path)] = b"<the run's key>"


def test_a_spark_link_writes_no_record_in_plaintext_and_collects_no_term_frequencies(tmp_path, monkeypatch):
    """A real link on Spark (local[2]; the exchange a directory of its own, Parquet lineage breaking in the
    checkpoint directory, Spark's event log on): every file in the exchange, the checkpoint
    directory, Spark's scratch and the event log is read while the run goes (before each exchange
    file is deleted, and before the session ends), and no name or NHS number of the input, nor the
    run's key, is in any of them. No Spark frame of records or term frequencies is collected to
    the driver, and the term frequencies saved and the pairs scored are DuckDB's."""
    from pyspark.sql.classic.dataframe import DataFrame

    from linkage.connectors import ingest_file
    from linkage.link import run_link
    from linkage.link.backends.spark import SparkBackend
    from linkage.store import Store
    from linkage.store.schema import t
    from linkage.synth import synthesise

    extracts = tmp_path / "m1"
    synthesise(300, 7, extracts, month=1)
    when = date.fromisoformat(json.loads((extracts / "manifest.json").read_text())["extract_date"])
    store = Store(tmp_path / "home", memory_limit="1GB")
    try:
        for source in SOURCES:
            ingest_file(store, source, extracts / f"{source}.csv", extract_date=when)
        run_link(store)               # DuckDB trains the model and links: the answer Spark must give
        duck_tf = store.df(f"SELECT column_name, value, tf FROM {t('term_frequencies')} ORDER BY 1, 2")
        duck_edges = store.df(f"SELECT record_key_l, record_key_r, match_probability FROM {t('link_edges')} "
                              "ORDER BY 1, 2")
        assert len(duck_tf) > 100 and len(duck_edges) > 50

        collected: list[tuple[str, tuple[str, ...]]] = []
        for method in ("collect", "toLocalIterator", "tail", "toArrow", "toPandas", "_collect_as_arrow"):
            original = getattr(DataFrame, method)

            def watched(self, *args, _original=original, _method=method, **kwargs):
                collected.append((_method, tuple(self.columns)))
                return _original(self, *args, **kwargs)
            monkeypatch.setattr(DataFrame, method, watched)

        events = tmp_path / "events"
        events.mkdir()
        exchange = tmp_path / "exchange"
        files = _Files([exchange, tmp_path / "home" / "tmp", events], _needles(extracts), [])

        class Watched(SparkBackend):
            """The real backend; its exchange files are read once more before each is deleted."""

            def _discard(self, name):
                files.scan()
                super()._discard(name)

        backend = Watched(tmp_path / "home", shuffle_partitions=2, driver_memory="1g",
                          exchange_dir=str(exchange),
                          extra_conf={"spark.eventLog.enabled": "true", "spark.eventLog.dir": events.as_uri(),
                                      **JVM_CONF})
        try:
            result = run_link(store, full=True, backend=backend)
            key = getattr(getattr(backend, "_exchange", None), "key", None)
            if key is not None:      # the run's key, as it is set on Spark's configuration and raw
                import base64

                files.secrets = [key._encoded.encode(), base64.b64decode(key._encoded)]
            files.scan()
        finally:
            backend.close()
        assert not result.trained
        assert files.plaintext == {}
        # The scan read the input, Splink's checkpoints and the scored pairs Spark wrote.
        assert any(Path(p).name.endswith(".parquet") and "-in_" in Path(p).name and str(exchange) in p
                   for p in files.seen), files.seen
        assert any("checkpoints" in p and p.endswith(".parquet") for p in files.seen), files.seen
        assert any("link_scored" in p and p.endswith(".parquet") for p in files.seen), files.seen
        # Neither the records nor any term-frequency table came to the driver.
        fetched = [(m, cols) for m, cols in collected
                   if {"forename", "surname", "nhs_number"} & set(cols) or any(c.startswith("tf_") for c in cols)]
        assert fetched == []
        spark_tf = store.df(f"SELECT column_name, value, tf FROM {t('term_frequencies')} ORDER BY 1, 2")
        assert spark_tf.equals(duck_tf)
        spark_edges = store.df(f"SELECT record_key_l, record_key_r, match_probability FROM {t('link_edges')} "
                               "ORDER BY 1, 2")
        assert spark_edges[["record_key_l", "record_key_r"]].equals(duck_edges[["record_key_l", "record_key_r"]])
        assert (spark_edges["match_probability"] - duck_edges["match_probability"]).abs().max() < 1e-6
    finally:
        store.close()
    assert not list(exchange.iterdir()) and not list((tmp_path / "home" / "tmp").glob("spark-*"))
