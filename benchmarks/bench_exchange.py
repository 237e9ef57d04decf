"""CPU of one crossing of the Spark exchange: the input written and the pairs read back, in plaintext
Parquet through DuckDB (before session 23) and encrypted through pyarrow (now). No Spark: only the
linkage host's side, which is what changed. Usage: python benchmarks/bench_exchange.py 50000"""

from __future__ import annotations

import argparse
import pathlib
import resource
import tempfile

import duckdb

from linkage.link.backends.exchange import ExchangeDir, ExchangeKey


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("rows", type=int)
    parser.add_argument("--repeats", type=int, default=3)
    n = parser.parse_args().rows
    con = duckdb.connect()
    con.execute("SET threads = 1")       # one core each way: CPU seconds compare like with like
    con.execute(f"""CREATE TABLE memory.t AS SELECT i AS unique_id, 'forename' || (i % 5000) AS forename,
        'surname' || (i % 20000) AS surname, lpad(CAST(i * 7919 % 9999999999 AS VARCHAR), 10, '0') AS nhs_number,
        DATE '2010-01-01' + CAST(i % 5000 AS INTEGER) AS dob, [i % 3, i % 5] AS tokens,
        'AB' || (i % 900) || ' 1CD' AS postcode FROM range({n}) t(i)""")
    work = pathlib.Path(tempfile.mkdtemp())
    for rep in range(parser.parse_args().repeats):
        plain = work / f"plain{rep}.parquet"
        c = _cpu()
        con.execute(f"COPY (SELECT * FROM memory.t) TO '{plain}' (FORMAT parquet, COMPRESSION zstd, "
                    "ROW_GROUP_SIZE 65536)")
        write_plain = _cpu() - c
        exchange = ExchangeDir(None, work, ExchangeKey())
        exchange.fs.create_dir(f"{exchange._path}/pairs")      # read() takes a directory of parts, as Spark writes
        c = _cpu()
        exchange.write(con.execute("SELECT * FROM memory.t").fetch_record_batch(65536), "pairs/part-0.parquet")
        write_enc = _cpu() - c
        c = _cpu()
        con.execute(f"CREATE OR REPLACE TABLE memory.back_plain AS SELECT * FROM read_parquet('{plain}')")
        read_plain = _cpu() - c
        c = _cpu()
        con.register("crossed", exchange.read("pairs"))
        con.execute("CREATE OR REPLACE TABLE memory.back_enc AS SELECT * FROM crossed")
        con.unregister("crossed")
        read_enc = _cpu() - c
        same = con.execute("SELECT count(*) FROM (SELECT * FROM memory.back_plain EXCEPT ALL "
                           "SELECT * FROM memory.back_enc)").fetchone()[0] == 0
        exchange.close()
        print(f"{n} rows: write plaintext (DuckDB) {write_plain:.3f} s CPU, encrypted (pyarrow) {write_enc:.3f} s; "
              f"read back plaintext {read_plain:.3f} s, encrypted {read_enc:.3f} s; same rows: {same}")


if __name__ == "__main__":
    main()
