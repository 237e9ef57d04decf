"""CPU of one ``linkage serve`` start, to its first ``/healthz`` 200: the user + system time of the
server's process group (the supervisor and any workers), as a snapshot switch or a test's server
pays it. Usage: ``python benchmarks/bench_serve_start.py HOME [WORKERS]`` (run under the heavy-job
lock for a large home; give the load average beside it)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx


def _group_cpu(pgid: int) -> float:
    tick, total = os.sysconf("SC_CLK_TCK"), 0.0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def main(home: str, workers: str = "1") -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.time()
    proc = subprocess.Popen([sys.executable, "-m", "linkage.cli", "serve", "--port", str(port), "--data-dir", home,
                             "--workers", workers], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, env={**os.environ, "LINKAGE_HOME": home})
    try:
        while True:
            if proc.poll() is not None:
                sys.exit("the server ended before it answered")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        wall, cpu = time.time() - started, _group_cpu(proc.pid)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait()
    print(f"serve start: cpu {cpu:.2f} s wall {wall:.2f} s load {open('/proc/loadavg').read().split()[0]}")


if __name__ == "__main__":
    main(*sys.argv[1:])
