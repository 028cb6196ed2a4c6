"""Fixed-rate load for bench/soak.sh, and its report.

  soak-load.py run URL RATE SECONDS OUT.csv   requests at RATE/s for SECONDS (keep-alive
                                              connections, a pool of workers); one line per
                                              request: start (s), status, latency (ms), predictor
  soak-load.py report OUT.csv EVENTS.csv RSS.csv
                                              per minute: requests, failures, p50/p99, RSS;
                                              failures split into those while the canary (one
                                              replica) was down and the others
"""
import csv
import http.client
import json
import queue
import socket
import sys
import threading
import time
from urllib.parse import urlparse

BODY = json.dumps({"data": {"ndarray": [[1.0, 2.0, 5.0]]}}).encode()


def run(url, rate, seconds, out):
    target = urlparse(url)
    jobs = queue.Queue()
    results = []
    lock = threading.Lock()

    def worker():
        conn = None
        while True:
            due = jobs.get()
            if due is None:
                return
            start = time.monotonic()
            status, served = 0, "-"
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
                    conn.connect()
                    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conn.request("POST", target.path, BODY, {"Content-Type": "application/json"})
                response = conn.getresponse()
                body = response.read()
                status = response.status
                if status == 200:
                    served = json.loads(body)["data"]["names"][0]
                if response.getheader("connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except Exception:
                status = -1
                if conn is not None:
                    conn.close()
                conn = None
            with lock:
                results.append((due, status, (time.monotonic() - start) * 1000, served))

    workers = [threading.Thread(target=worker, daemon=True) for _ in range(32)]
    for w in workers:
        w.start()
    begin = time.monotonic()
    # The events and RSS samples are in wall-clock seconds: where this run's 0 is.
    with open(out + ".start", "w") as f:
        f.write(f"{time.time():.4f}")
    n = int(rate * seconds)
    for i in range(n):
        due = begin + i / rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        jobs.put(due - begin)
    for _ in workers:
        jobs.put(None)
    for w in workers:
        w.join()
    with open(out, "w", newline="") as f:
        writer = csv.writer(f)
        for row in sorted(results):
            writer.writerow([f"{row[0]:.4f}", row[1], f"{row[2]:.3f}", row[3]])


def percentile(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


def report(out, events, rss):
    rows = [(float(t), int(s), float(ms), who) for t, s, ms, who in csv.reader(open(out))]
    zero = float(open(out + ".start").read())
    kills = [(float(t) - zero, what) for t, what in csv.reader(open(events))]
    samples = [(float(t) - zero, float(kib)) for t, kib in csv.reader(open(rss))]
    # The canary is down from its kill to its first answer after it.
    windows = []
    for t, what in kills:
        if what == "kill canary":
            back = next((r[0] for r in rows if r[0] > t and r[3] == "canary"), float("inf"))
            windows.append((t, back))
    minutes = int(max(r[0] for r in rows) // 60) + 1
    print("| minute | requests | failures (canary down) | other failures | p50 ms | p99 ms | RSS MiB |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    totals = [0, 0, 0]
    for m in range(minutes):
        part = [r for r in rows if m * 60 <= r[0] < (m + 1) * 60]
        failed = [r for r in part if r[1] != 200]
        expected = [r for r in failed if any(a <= r[0] <= b for a, b in windows)]
        latencies = [r[2] for r in part if r[1] == 200]
        memory = [kib for t, kib in samples if m * 60 <= t < (m + 1) * 60]
        totals[0] += len(part)
        totals[1] += len(expected)
        totals[2] += len(failed) - len(expected)
        print(
            f"| {m + 1} | {len(part):,} | {len(expected)} | {len(failed) - len(expected)} | "
            f"{percentile(latencies, 50):.2f} | {percentile(latencies, 99):.2f} | "
            f"{max(memory) / 1024 if memory else float('nan'):.1f} |"
        )
    latencies = [r[2] for r in rows if r[1] == 200]
    print(
        f"| all | {totals[0]:,} | {totals[1]} | {totals[2]} | {percentile(latencies, 50):.2f} | "
        f"{percentile(latencies, 99):.2f} | {max(k for _, k in samples) / 1024:.1f} |"
    )
    statuses = {}
    for r in rows:
        if r[1] != 200:
            statuses[r[1]] = statuses.get(r[1], 0) + 1
    print(f"\nfailures by status: {statuses or 'none'}; events: {len(kills)}")


if __name__ == "__main__":
    if sys.argv[1] == "run":
        run(sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), sys.argv[5])
    else:
        report(sys.argv[2], sys.argv[3], sys.argv[4])
