"""CPU seconds of the database server's backends serving one bench database, while a run goes on.

    python bench/server_cpu.py KEPT_DIR STOP_FILE &   # then run the stage; touch STOP_FILE when done

Polls `pg_stat_activity` for the database of KEPT_DIR/bench.json (a `bench_scale.py --keep`
directory) every 0.25 s and reads each backend's user + system CPU from /proc (the server must run
on this machine); prints their sum when STOP_FILE exists. A backend's CPU in its last 0.25 s before
it exits is missed. Other databases' work (other benches, tests) is not counted, unlike the
server's whole CPU.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import psycopg2


def main() -> None:
    kept, stop = Path(sys.argv[1]), Path(sys.argv[2])
    url = json.loads((kept / "bench.json").read_text())["DATABASE_URL"].replace("postgresql+psycopg2://",
                                                                                "postgresql://")
    name = url.rsplit("/", 1)[1]
    conn = psycopg2.connect(url.rsplit("/", 1)[0] + "/postgres")
    conn.autocommit = True
    tick = os.sysconf("SC_CLK_TCK")
    seen: dict[int, float] = {}  # backend pid → its CPU seconds when last seen
    while not stop.exists():
        with conn.cursor() as cur:
            cur.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (name,))
            for (pid,) in cur.fetchall():
                try:
                    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                except (FileNotFoundError, ProcessLookupError):
                    continue
                seen[pid] = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
        time.sleep(0.25)
    print(f"server CPU s {sum(seen.values()):.2f} ({len(seen)} backends)")


if __name__ == "__main__":
    main()
