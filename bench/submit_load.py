"""Submit N jobs to a running service as fast as possible from T threads
with keep-alive connections; print {"jobs", "seconds", "jobs_per_second"}.
usage: submit_load.py PORT SPEC_JSON [N] [THREADS]"""
import http.client
import json
import sys
import threading
import time

port, spec = int(sys.argv[1]), sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
threads = int(sys.argv[4]) if len(sys.argv) > 4 else 8
failures = []


def worker(count):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for _ in range(count):
        conn.request("POST", "/v1/jobs", spec, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        if resp.status != 201:
            failures.append(resp.status)


start = time.perf_counter()
ts = [threading.Thread(target=worker, args=(n // threads + (i < n % threads),)) for i in range(threads)]
for t in ts:
    t.start()
for t in ts:
    t.join()
secs = time.perf_counter() - start
print(json.dumps({"jobs": n, "failures": len(failures), "seconds": secs, "jobs_per_second": n / secs}))
