"""The file audit log's cost per entry as two server workers append: CPU and bytes, off the API.

    PYTHONPATH=src python benchmarks/bench_audit_append.py --home /tmp/x --entries 8000 --processes 2

``--processes`` processes (as ``linkage serve --workers``) of 8 threads each append lookup-like
entries to one ``audit/log.jsonl`` with the server's settings (a checkpoint every 10 entries, the
seal timer at 5 s), then wait one timer period so their index syncs are counted. Each process
prints, per entry it wrote: its CPU (user + system), its sealing thread's CPU (seals and the DPO's
index sync), and what it passed to read and write calls (``rchar``, ``wchar``, ``syscw`` of
/proc/self/io). The whole request is not in it: the API's own share is ``bench_api.py``'s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path


def _io() -> dict[str, int]:
    pairs = (line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
    return {k: int(v) for k, v in pairs}


def _thread_cpu(tid: int) -> float:
    fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def worker(home: Path, entries: int, threads: int) -> None:
    from linkage.audit.log import AuditLog

    log = AuditLog(home, checkpoint_every=10, checkpoint_seconds=5.0)
    each = entries // threads

    def run(t: int) -> None:
        for _ in range(each):
            log.append({"request_id": uuid.uuid4().hex, "client_id": f"cl-{t % 3}", "agency": "Bench AP Academy",
                        "agency_type": "school", "role": "admissions", "purpose": "admission", "action": "lookup",
                        "children": [f"child-{uuid.uuid4().hex[:12]}"],
                        "fields": ["date_of_birth", "forename", "surname"], "lawful_basis": ["public task"],
                        "decision": "allow", "policy_version": "2024-09"})
    ts = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    io0, cpu0, seal0 = _io(), os.times(), _thread_cpu(log._timer.native_id)
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    time.sleep(5.5)         # one timer period: this process's index sync of these entries
    io1, cpu1, seal1 = _io(), os.times(), _thread_cpu(log._timer.native_id)
    n = each * threads
    cpu = cpu1.user + cpu1.system - cpu0.user - cpu0.system
    print(json.dumps({"pid": os.getpid(), "entries": n, "cpu_us": round(1e6 * cpu / n),
                      "seal_thread_us": round(1e6 * (seal1 - seal0) / n),
                      **{k: round((io1[k] - io0[k]) / n) for k in ("rchar", "wchar", "syscw")}}), flush=True)
    log.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", type=Path, required=True, help="a new directory (the log is made there)")
    ap.add_argument("--entries", type=int, default=8000, help="entries each process appends")
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args.home, args.entries, args.threads)
    from linkage.audit.log import AuditLog

    AuditLog(args.home).close()     # the keys, made once, as a deployment's are
    procs = [subprocess.Popen([sys.executable, __file__, "--worker", "--home", str(args.home), "--entries",
                               str(args.entries), "--threads", str(args.threads)]) for _ in range(args.processes)]
    for p in procs:
        p.wait()
    print("load average", " / ".join(f"{x:.1f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
