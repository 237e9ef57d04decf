"""The exchange directory between the store's DuckDB and Spark, encrypted with a key per run.

Records cross to Spark, and scored pairs back, as Parquet files there (docs/spark.md). They
are children's names, dates of birth and NHS numbers, so every file is written with Parquet
modular encryption: columns and footer under one master key made for the run and held only
in memory (this process, and the Hadoop configuration of its Spark session). On the linkage
side pyarrow writes and reads them (DuckDB's Parquet encryption is not one Spark reads); on
Spark's side Parquet's ``PropertiesDrivenCryptoFactory`` does, with ``MemoryKms`` (pyspark's
jars hold Parquet's key tools but no KMS client: its in-memory one is a test mock), compiled
here from its Java source at session start. The same settings encrypt Splink's Parquet
checkpoints, since they are the session's.

The exchange may be a local path (a private 0700 directory per run) or a Hadoop URI
(``s3a://``, ``hdfs://``, ``abfs://``, ``file://``) that pyarrow's filesystems reach too.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pyarrow.parquet.encryption as pe
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from linkage.errors import LinkageError

__all__ = ["ExchangeDir", "ExchangeKey", "KMS_CLASS", "crypto_conf", "is_uri", "kms_jar"]

KMS_CLASS = "linkage.spark.MemoryKms"
SECRET_PROPERTY = "linkage.exchange.secret"     # MemoryKms.KEY_PROPERTY; Spark redacts names with "secret"
MASTER_KEY_ID = "linkage-run"
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# Hadoop's names for object stores that pyarrow knows by another.
_PYARROW_SCHEME = {"s3a": "s3", "s3n": "s3"}
_NONCE = 12


def is_uri(where: str) -> bool:
    return bool(_URI.match(where))


def crypto_conf() -> dict[str, str]:
    """The Spark properties that make every Parquet file the session writes encrypted (no secret
    among them: the key goes on the running session's Hadoop configuration, ``ExchangeKey.install``)."""
    return {
        "spark.hadoop.parquet.crypto.factory.class":
            "org.apache.parquet.crypto.keytools.PropertiesDrivenCryptoFactory",
        "spark.hadoop.parquet.encryption.kms.client.class": KMS_CLASS,
        "spark.hadoop.parquet.encryption.uniform.key": MASTER_KEY_ID,     # every column and the footer
        "spark.hadoop.parquet.encryption.plaintext.footer": "false",
        "spark.hadoop.parquet.encryption.key.material.store.internally": "true",   # no key files
    }


# The client's classes, compiled once a process: (javac, jars, source digest): {name: class file}.
_COMPILED: dict[tuple[str, tuple[str, ...], str], dict[str, bytes]] = {}


def kms_jar(out: Path) -> str:
    """``MemoryKms.java`` compiled against pyspark's own Parquet and Hadoop jars, as a jar in ``out``.
    javac runs once a process (about 1 CPU s and 1 to 3 s of wall): a later session in the same
    process (a program that links more than once, the test suite) gets the same classes in a jar
    of its own, in its own scratch."""
    import pyspark

    jars = Path(pyspark.__file__).parent / "jars"
    wanted = [next(iter(sorted(jars.glob(f"{stem}-*.jar"))), None)
              for stem in ("parquet-hadoop", "parquet-column", "parquet-common", "hadoop-client-api")]
    javac = shutil.which("javac", path=os.pathsep.join(
        p for p in (os.path.join(os.environ.get("JAVA_HOME", ""), "bin"), os.environ.get("PATH", "")) if p))
    if javac is None or None in wanted:
        raise LinkageError("the spark engine encrypts its exchange files with a KMS client it compiles: "
                           "it needs a JDK (javac) and pyspark's Parquet jars" + ("" if javac else "; no javac found"))
    source = Path(__file__).with_name("MemoryKms.java")
    key = (javac, tuple(map(str, wanted)), hashlib.sha256(source.read_bytes()).hexdigest())
    if key not in _COMPILED:
        classes = out / "kms-classes"
        # One small file: javac's JVM exits before C2-compiled code or a parallel collector pays back
        # (about 1.7 s of CPU with the defaults, 1.0 s with these).
        done = subprocess.run([javac, "-J-XX:TieredStopAtLevel=1", "-J-XX:+UseSerialGC", "--release", "17",
                               "-nowarn", "-cp", os.pathsep.join(map(str, wanted)), "-d", str(classes), str(source)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise LinkageError(f"could not compile the exchange's KMS client: {(done.stderr or done.stdout).strip()[:200]}")
        _COMPILED[key] = {path.relative_to(classes).as_posix(): path.read_bytes()
                          for path in sorted(classes.rglob("*.class"))}
    jar = out / "linkage-kms.jar"
    with zipfile.ZipFile(jar, "w") as z:        # a jar is a zip of the classes
        for name, data in _COMPILED[key].items():
            z.writestr(name, data)
    return str(jar)


class ExchangeKey:
    """One run's master key (AES-256), in memory only, and the key tools' settings around it."""

    def __init__(self) -> None:
        self._aead = AESGCM(key := secrets.token_bytes(32))
        self._encoded = base64.b64encode(key).decode()
        # Parquet's key tools cache KMS clients and wrapped keys per access token for the JVM's life:
        # a token per run, so a later session in the same JVM never wraps with this run's key.
        self.token = secrets.token_hex(16)
        self._factory = pe.CryptoFactory(lambda _config: _Kms(self._aead))
        self._kms = pe.KmsConnectionConfig(key_access_token=self.token)

    def install(self, spark) -> None:
        """Put the key on the running session's Hadoop configuration (the executors get it with
        their tasks' configuration), never in SparkConf: that reaches command lines and staged files."""
        conf = spark.sparkContext._jsc.hadoopConfiguration()
        conf.set(SECRET_PROPERTY, self._encoded)
        conf.set("parquet.encryption.key.access.token", self.token)

    def encryption(self) -> pe.FileEncryptionProperties:
        return self._factory.file_encryption_properties(self._kms, pe.EncryptionConfiguration(
            footer_key=MASTER_KEY_ID, uniform_encryption=True, plaintext_footer=False))

    def decryption(self) -> pe.FileDecryptionProperties:
        return self._factory.file_decryption_properties(self._kms)


class _Kms(pe.KmsClient):
    """pyarrow's side of ``MemoryKms``: the same wrapping (nonce, AES-GCM, the key's id as AAD)."""

    def __init__(self, aead: AESGCM) -> None:
        super().__init__()
        self._aead = aead

    def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> str:
        nonce = secrets.token_bytes(_NONCE)
        return base64.b64encode(nonce + self._aead.encrypt(nonce, key_bytes, master_key_identifier.encode())).decode()

    def unwrap_key(self, wrapped_key: str, master_key_identifier: str) -> bytes:
        raw = base64.b64decode(wrapped_key)
        return self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], master_key_identifier.encode())


class ExchangeDir:
    """A run's private directory in the exchange: Spark names its files by URI, pyarrow by path."""

    def __init__(self, where: str | None, fallback: Path, key: ExchangeKey) -> None:
        self.key = key
        local = None if where is None else (where if not is_uri(where) else
                                            urlparse(where).path if urlparse(where).scheme == "file" else None)
        if where is None or local is not None:
            base = (fallback if where is None else Path(local)).resolve()    # a file URI is absolute
            base.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._local: Path | None = Path(tempfile.mkdtemp(prefix="linkage-", dir=base))     # 0700
            self.fs: pafs.FileSystem = pafs.LocalFileSystem()
            self._path, self._uri = str(self._local), self._local.as_uri()
            return
        # A remote store: no local modes there; its files are ciphertext to whoever can list them.
        scheme = urlparse(where).scheme
        try:
            self.fs, base_path = pafs.FileSystem.from_uri(_PYARROW_SCHEME.get(scheme, scheme) + where[len(scheme):])
        except (pa.ArrowException, ValueError, OSError) as exc:
            raise LinkageError(f"LINKAGE_SPARK_EXCHANGE_DIR {where}: {str(exc).splitlines()[0][:200]}") from None
        name = f"linkage-{secrets.token_hex(8)}"
        self._local = None
        self._path = f"{base_path.rstrip('/')}/{name}"
        self._uri = f"{where.rstrip('/')}/{name}"
        self.fs.create_dir(self._path)

    def uri(self, name: str) -> str:
        """Where Spark reads or writes ``name``."""
        return f"{self._uri}/{name}"

    def names(self) -> list[str]:
        return sorted(info.base_name for info in self.fs.get_file_info(pafs.FileSelector(self._path)))

    def write(self, batches: pa.RecordBatchReader, name: str) -> None:
        """``batches`` as one encrypted Parquet file, a row group per batch."""
        path = f"{self._path}/{name}"
        with pq.ParquetWriter(path, batches.schema, filesystem=self.fs, compression="zstd",
                              encryption_properties=self.key.encryption()) as writer:
            for batch in batches:
                writer.write_batch(batch)

    def read(self, name: str) -> pa.RecordBatchReader:
        """The Parquet files Spark wrote under ``name``, decrypted batch by batch as they are read."""
        root = f"{self._path}/{name}"
        files = sorted(i.path for i in self.fs.get_file_info(pafs.FileSelector(root))
                       if i.type == pafs.FileType.File and i.base_name.endswith(".parquet"))
        if not files:
            raise LinkageError(f"Spark wrote no Parquet file in the exchange at {self.uri(name)}")
        decryption = self.key.decryption()

        def opened(path: str) -> pq.ParquetFile:
            return pq.ParquetFile(self.fs.open_input_file(path), decryption_properties=decryption)

        schema = opened(files[0]).schema_arrow

        def batches() -> Iterator[pa.RecordBatch]:
            for path in files:
                yield from opened(path).iter_batches(batch_size=65536)

        return pa.RecordBatchReader.from_batches(schema, batches())

    def remove(self, name: str) -> None:
        path = f"{self._path}/{name}"
        if self.fs.get_file_info(path).type == pafs.FileType.Directory:
            self.fs.delete_dir(path)
        else:
            self.fs.delete_file(path)

    def close(self) -> None:
        try:
            if self._local is not None:
                shutil.rmtree(self._local, ignore_errors=True)
            else:
                self.fs.delete_dir(self._path)
        except OSError:
            pass
