#!/usr/bin/python3
"""Training scales out: the same 4 Fashion-MNIST CNN jobs on one --role api
process and 1, then 2, --role worker processes (one training thread, one
BLAS thread each) sharing a data dir and a PostgreSQL store; the wall time
from the first submit to the last success. Two workers should take about
half the time of one (each job is CPU-bound on one core).

usage: bench/scale_bench.py [ROWS] [EPOCHS]   (default 12000 rows, 2 epochs)
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "api"))
from harness import PgCluster, Server, upload_fashion, wait_for  # noqa: E402

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 12000
EPOCHS = int(sys.argv[2]) if len(sys.argv) > 2 else 2
CNN = {"input": [1, 28, 28], "layers": [
    {"type": "conv2d", "filters": 16, "kernel": 3, "padding": 1, "activation": "relu"},
    {"type": "maxpool2d", "size": 2},
    {"type": "conv2d", "filters": 32, "kernel": 3, "padding": 1, "activation": "relu"},
    {"type": "maxpool2d", "size": 2},
    {"type": "flatten"},
    {"type": "dense", "units": 128, "activation": "relu"},
    {"type": "dense", "units": 10, "activation": "softmax"}]}


def run(workers):
    api = Server("--role", "api", store="postgres")
    procs = [Server("--role", "worker", "--blas-threads", "1", "--feature-store-limit", "0",
                    data_dir=api.data_dir, store="postgres") for _ in range(workers)]
    try:
        ds = upload_fashion(api, ROWS)
        started = time.time()
        ids = [api.post("/v1/jobs", {"dataset": ds["id"], "architecture": CNN, "epochs": EPOCHS, "batch_size": 64,
                                     "seed": i}).json()["id"] for i in range(4)]
        wait_for(lambda: all(api.get("/v1/jobs/" + j).json()["status"] == "succeeded" for j in ids),
                 timeout=3600, interval=0.2, what="the 4 jobs")
        return time.time() - started
    finally:
        for p in procs + [api]:
            p.close()


def main():
    PgCluster.conninfo_shared()
    one = run(1)
    two = run(2)
    print("4 CNN jobs (%d rows, %d epochs): 1 worker process %.1f s, 2 worker processes %.1f s, speed-up %.2fx"
          % (ROWS, EPOCHS, one, two, one / two))


if __name__ == "__main__":
    main()
