#!/usr/bin/env python3
"""Which step of a run holds the process's memory: samples the RSS of a `siyu run` every
20 ms and, when it ends, prints each step's peak RSS (the largest sample taken while the
step ran, from the manifest's start_seconds and seconds) next to its pool peak
(peak_memory_bytes, what DataFusion's pool counted) — the difference is what the pool
does not see.

    python3 bench/rss_by_step.py OUT -- SIYU run JOB --out OUT [args...]

OUT is the run's --out directory (the manifest is read from there after the run). Steps
that ran together share their samples; run with --concurrent-steps 1 (the default) for a
clean attribution. Prints the steps sorted by peak RSS, largest first.
"""
import glob
import json
import os
import subprocess
import sys
import time


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def main():
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        sys.exit(__doc__)
    out, cmd = sys.argv[1], sys.argv[3:]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    samples = []
    while True:
        # wait4 reaps the child itself and reports its exact peak RSS (ru_maxrss).
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            break
        kib = rss_kib(proc.pid)
        if kib is not None:
            samples.append((time.monotonic() - t0, kib))
        time.sleep(0.02)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"siyu exited with {code}")
    manifests = glob.glob(f"{out}/*/as_of=*/_manifest.json")
    if len(manifests) != 1:
        sys.exit(f"expected one manifest under {out}, found {manifests}")
    steps = json.load(open(manifests[0]))["steps"]
    rows = []
    for s in steps:
        lo, hi = s["start_seconds"], s["start_seconds"] + s["seconds"]
        inside = [kib for t, kib in samples if lo <= t <= hi + 0.05]
        peak = max(inside) if inside else 0
        rows.append((peak // 1024, s["peak_memory_bytes"] // 2**20, s["seconds"], s["name"], s["kind"]))
    rows.sort(reverse=True)
    print(f"process peak RSS {usage.ru_maxrss // 1024} MiB (sampled: {max(k for _, k in samples) // 1024} MiB) over {samples[-1][0]:.1f} s")
    print(f"{'step':<28} {'kind':<13} {'seconds':>8} {'peak RSS MiB':>13} {'pool peak MiB':>14}")
    for rss, pool, secs, name, kind in rows:
        print(f"{name:<28} {kind:<13} {secs:8.1f} {rss:13} {pool:14}")


if __name__ == "__main__":
    main()
