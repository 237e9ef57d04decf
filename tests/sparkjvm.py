"""The JVM options the suite's Spark runs start with.

A test's Spark run links a few hundred records in a fresh JVM, which spends about half its CPU
compiling hot code with C2 and collecting with several GC threads before either pays back
(measured: one 300-child ``link --engine spark`` in local[2], 90 s of JVM CPU with Spark's defaults,
46 s with these; docs/benchmarks.md "Suite time (s25-suite)"). The client compiler alone and the
serial collector compute the same answers (Java's floating point is strict since 17): the
results the tests compare are unchanged, only the JVM's own work is less. A real link keeps
Spark's defaults: these are the suite's, never the product's.

Beside those (docs/benchmarks.md "Session 35: spark"): the heap and young generation sized up front
(by default the first 365 MB of heap, a young generation of about 120 MB, collected ~90 times in one
link), metaspace let grow to its ~140 MB without the four full collections that its default
threshold triggers at start, and the bytecode verifier off for the class path's ~26,000 classes
(Spark's and pyspark's own jars, not code the tests compile): the JVM's start-up, the first Spark
test, took about 3 CPU s less. ``-Xms1g`` needs a driver memory of at least 1g in whichever session
a process starts first (every test's is 1g or the default 2g).
"""
from __future__ import annotations

# Any short JVM of the suite (Spark's, the key tools' in tests/test_spark_kms.py).
JAVA_OPTIONS = ("-XX:TieredStopAtLevel=1 -XX:CICompilerCount=1 -XX:+UseSerialGC "
                "-XX:+UnlockDiagnosticVMOptions -XX:-BytecodeVerificationRemote")

# For a backend made in the test's own process (``SparkBackend(extra_conf=...)``, or the setting
# LINKAGE_SPARK_CONF); it applies to the JVM a process starts first, which its later sessions reuse.
# Spark sets that JVM's -Xmx from the session's driver memory.
CONF = {"spark.driver.extraJavaOptions": f"{JAVA_OPTIONS} -Xms1g -Xmn320m -XX:MetaspaceSize=192m"}
