"""Runs one `keel job create ... --wait` against a running `keel server` and
prints JSON: the job's own wall time (from its creation to its end, as the
server recorded them, so the CLI's polling interval does not count), the
CLI's wall time, and the CPU the server process used meanwhile (its worker
processes report theirs in the job's log)."""
import datetime
import json
import os
import subprocess
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def server_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(") ", 1)[1].split()
    # utime and stime are the 12th and 13th fields after the command name.
    return (int(fields[11]) + int(fields[12])) / TICK


def stamp(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


pid = int(sys.argv[1])
before = server_cpu(pid)
t0 = time.perf_counter()
out = subprocess.run(sys.argv[2:], capture_output=True, text=True)
cli_wall = time.perf_counter() - t0
after = server_cpu(pid)
if out.returncode != 0:
    sys.stderr.write(out.stdout + out.stderr)
    sys.exit(out.returncode)
job = json.loads(out.stdout)
wall = (stamp(job["finished_at"]) - stamp(job["created_at"])).total_seconds()
print(json.dumps({"wall": wall, "cli_wall": cli_wall, "cpu": after - before, "stdout": out.stdout}))
