"""The JVM options the suite's Spark runs start with.

A test's Spark run links a few hundred records in a fresh JVM, which spends about half its CPU
compiling hot code with C2 and collecting with several GC threads before either pays back
(measured: one 300-child ``link --engine spark`` in local[2], 90 s of JVM CPU with Spark's defaults,
46 s with these; docs/benchmarks.md "Suite time (s25-suite)"). The client compiler alone and the
serial collector compute the same answers (Java's floating point is strict since 17): the
results the tests compare are unchanged, only the JVM's own work is less. A real link keeps
Spark's defaults: these are the suite's, never the product's.
"""
from __future__ import annotations

JAVA_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:CICompilerCount=1 -XX:+UseSerialGC"

# For a backend made in the test's own process (``SparkBackend(extra_conf=...)``, or the setting
# LINKAGE_SPARK_CONF); it applies to the JVM a process starts first, which its later sessions reuse.
CONF = {"spark.driver.extraJavaOptions": JAVA_OPTIONS}
