"""Times striate against PyTorch eager and Keras 3 (torch backend) on the BENCHMARKS.md workloads.

    python benchmarks/run.py                # full: median of 3 alternating pairs per peer
    python benchmarks/run.py --quick        # CI: a 2,000-sample subset, one pair (no timing claims)

Every measurement runs in a fresh subprocess (so each one's peak memory is its own), and the
frameworks alternate A B A B. The table gives seconds (median), the ratio striate / peer and each
run's peak resident memory. Peers that are not installed are listed as missing.
"""

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
WORKLOADS = ("article", "convnet", "predict", "resnet")


def available_peers():
    peers, missing = [], []
    if importlib.util.find_spec("torch"):
        peers.append("torch")
    else:
        missing.append("torch (pip install torch==2.13.0)")
    if importlib.util.find_spec("keras") and importlib.util.find_spec("torch"):
        peers.append("keras")
    else:
        missing.append("keras (pip install keras, with torch)")
    return peers, missing


def measure(framework, workload, samples, threads):
    env = dict(
        os.environ,
        KERAS_BACKEND="torch",
        OMP_NUM_THREADS=str(threads),
        OPENBLAS_NUM_THREADS=str(threads),
        STRIATE_NUM_THREADS=str(threads),
    )
    command = [
        sys.executable,
        os.path.join(HERE, "workloads.py"),
        framework,
        workload,
        "--samples",
        str(samples),
        "--threads",
        str(threads),
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"{framework} {workload} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small subset, one pair (for CI)")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--peers", default=None, help="comma-separated subset of torch,keras")
    args = parser.parse_args()
    samples, pairs = (2000, 1) if args.quick else (60000, args.pairs)
    peers, missing = available_peers()
    if args.peers:
        peers = [p for p in peers if p in args.peers.split(",")]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {args.threads} threads; samples {samples}; "
        f"{pairs} alternating pair(s) per peer",
        flush=True,
    )
    if missing:
        print("missing peers: " + "; ".join(missing), flush=True)
    rows = []
    for workload in args.workloads.split(","):
        times = {name: [] for name in ["striate"] + peers}
        memory = {name: [] for name in times}
        for _ in range(pairs):
            for peer in peers or [None]:
                for name in ("striate", peer):
                    if name is None:
                        continue
                    result = measure(name, workload, samples, args.threads)
                    times[name].append(result["seconds"])
                    memory[name].append(result["peak_rss_mb"])
                    print(
                        f"  {workload:8s} {name:8s} {result['seconds']:7.2f} s  "
                        f"{result['peak_rss_mb']:7.0f} MB",
                        flush=True,
                    )
        rows.append(
            (
                workload,
                {k: statistics.median(v) for k, v in times.items()},
                {k: max(v) for k, v in memory.items()},
            )
        )
    header = (
        ["workload", "striate s"]
        + [f"{p} s" for p in peers]
        + [f"striate/{p}" for p in peers]
        + ["striate MB"]
        + [f"{p} MB" for p in peers]
    )
    print()
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for workload, seconds, peak in rows:
        cells = [workload, f"{seconds['striate']:.2f}"]
        cells += [f"{seconds[p]:.2f}" for p in peers]
        cells += [f"{seconds['striate'] / seconds[p]:.3g}" for p in peers]
        cells += [f"{peak['striate']:.0f}"] + [f"{peak[p]:.0f}" for p in peers]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
