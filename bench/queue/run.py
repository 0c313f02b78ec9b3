"""Drives bench/queue.sh: makes a database, starts an API-only server and
workers, submits jobs over REST, and reports claim latency and throughput
from the jobs' own timestamps."""
import datetime
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

KEEL, OUT, PY = sys.argv[1], sys.argv[2], sys.argv[3]
JOBS = int(os.environ.get("JOBS", "60"))
LATENCY_JOBS = int(os.environ.get("LATENCY_JOBS", "30"))
ADMIN = os.environ.get("KEEL_BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
DB = f"keel_bench_{os.getpid()}"
DB_URL = ADMIN.rsplit("/", 1)[0] + "/" + DB


def psql(sql):
    subprocess.run(["psql", "-X", "-q", "-d", ADMIN, "-c", sql], check=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def stamp(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


class Keel:
    def __init__(self):
        self.home = os.path.join(OUT, "home")
        self.env = dict(os.environ, KEEL_HOME=self.home, KEEL_PYTHON=PY, KEEL_DATABASE_URL=DB_URL)
        self.env.pop("KEEL_URL", None)
        self.procs = []

    def start(self, *args, log):
        p = subprocess.Popen([KEEL, *args], env=self.env, cwd=OUT, stdout=subprocess.DEVNULL,
                             stderr=open(os.path.join(OUT, log), "w"))
        self.procs.append(p)
        return p

    def stop(self, p):
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)
        self.procs.remove(p)

    def stop_all(self):
        for p in list(self.procs):
            self.stop(p)


def api(base, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())


def submit(base, data):
    return api(base, "POST", "/api/v1/jobs", {
        "kind": "scoring", "model": "tiny", "workers": 1,
        "input": {"kind": "path", "uri": os.path.join(data, "ids.csv")},
        "output": {"kind": "embedded", "name": "out.csv"},
    })["id"]


def wait_all(base, ids, limit=600):
    deadline = time.time() + limit
    jobs = {}
    while time.time() < deadline:
        for i in ids:
            if i not in jobs:
                j = api(base, "GET", f"/api/v1/jobs/{i}")
                if j["status"] in ("COMPLETED", "FAILED", "STOPPED"):
                    jobs[i] = j
        if len(jobs) == len(ids):
            return [jobs[i] for i in ids]
        time.sleep(0.05)
    raise SystemExit(f"only {len(jobs)} of {len(ids)} jobs ended within {limit}s")


def main():
    psql(f"CREATE DATABASE {DB}")
    keel = Keel()
    try:
        data = os.path.join(OUT, "data")
        model = os.path.join(OUT, "tiny")
        os.makedirs(data)
        os.makedirs(model)
        with open(os.path.join(data, "ids.csv"), "w") as f:
            f.write("id\n" + "".join(f"{i}\n" for i in range(1, 11)))
        with open(os.path.join(model, "tiny.py"), "w") as f:
            f.write("# modelop.score\ndef score(r):\n    return {'id': r['id'], 'double': r['id'] * 2}\n")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        keel.start("server", "--bind", f"127.0.0.1:{port}", "--jobs", "0", "--data-root", data,
                   log="server.log")
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port)).close()
                break
            except OSError:
                time.sleep(0.1)
        subprocess.run([KEEL, "model", "register", model, "-o", "json"], env=keel.env, cwd=OUT,
                       check=True, stdout=subprocess.DEVNULL)

        # Claim latency: one idle worker, one job at a time (the first warms
        # its Python workers and is not counted).
        w = keel.start("worker", "--jobs", "1", log="latency-worker.log")
        time.sleep(2)
        latencies = []
        for n in range(LATENCY_JOBS + 1):
            job = wait_all(base, [submit(base, data)])[0]
            assert job["status"] == "COMPLETED", job
            if n:
                latencies.append((stamp(job["started_at"]) - stamp(job["created_at"])).total_seconds() * 1000)
            time.sleep(0.2)
        keel.stop(w)

        results = {"claim_latency_ms": {
            "median": statistics.median(latencies),
            "p90": sorted(latencies)[int(0.9 * len(latencies)) - 1],
            "max": max(latencies), "jobs": len(latencies)}}
        for workers in (1, 3):
            ws = [keel.start("worker", log=f"worker-{workers}-{i}.log") for i in range(workers)]
            # One job per worker first, so each has warm Python workers.
            wait_all(base, [submit(base, data) for _ in ws])
            ids = [submit(base, data) for _ in range(JOBS)]
            jobs = wait_all(base, ids)
            bad = [j for j in jobs if j["status"] != "COMPLETED"]
            assert not bad, bad[0]
            first = min(stamp(j["created_at"]) for j in jobs)
            last = max(stamp(j["finished_at"]) for j in jobs)
            secs = (last - first).total_seconds()
            results[f"throughput_{workers}_workers"] = {
                "jobs": JOBS, "seconds": round(secs, 2), "jobs_per_minute": round(JOBS / secs * 60, 1),
                "runners": len({j["runner"] for j in jobs})}
            for p in ws:
                keel.stop(p)
        print(json.dumps(results, indent=2))
    finally:
        keel.stop_all()
        psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")


main()
