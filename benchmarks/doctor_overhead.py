"""What the training doctor costs: one epoch of the article and the convnet workloads
(workloads.py) with the default doctor on and with `fit(..., doctor=False)`, alternating
(on, off, on, off...) in this process, the same seed each time (the same numbers: the doctor
only reads). Prints a Markdown table: median seconds on and off, their ratio, the process's
CPU seconds on and off, and the share of the epoch the doctor itself measured
(`history.health["overhead"]`: its checks' time over the training time), the steadiest of
these numbers on a busy machine.

    .venv/bin/python benchmarks/doctor_overhead.py                  # 60,000 samples, 3 pairs
    .venv/bin/python benchmarks/doctor_overhead.py --samples 10000 --pairs 2
"""

import argparse
import statistics
import time

import numpy as np
import workloads


def one_epoch(workload, x, y, doctor):
    import striate
    from striate import zoo

    striate.utils.set_random_seed(0)
    model = zoo.article() if workload == "article" else zoo.convnet()
    batch = 32 if workload == "article" else 128
    if workload == "convnet":
        x = x / np.float32(255)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["acc"])
    start, cpu = time.perf_counter(), time.process_time()
    history = model.fit(x, y, batch_size=batch, epochs=1, verbose=0, doctor=doctor)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    health = history.health or {}
    return seconds, cpu, health.get("overhead"), len(health.get("checks", []))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=60000)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--workloads", default="article,convnet")
    args = parser.parse_args()
    x, y, _ = workloads.load(args.samples)
    print(
        "| workload | doctor on s | doctor off s | on / off | CPU s on / off | "
        "doctor's own share | checks |"
    )
    print("|---|---|---|---|---|---|---|")
    for workload in args.workloads.split(","):
        on, off, cpu_on, cpu_off, shares, checks = [], [], [], [], [], 0
        for _ in range(args.pairs):
            seconds, cpu, share, checks = one_epoch(workload, x, y, True)
            on.append(seconds)
            cpu_on.append(cpu)
            shares.append(share)
            seconds, cpu, _, _ = one_epoch(workload, x, y, False)
            off.append(seconds)
            cpu_off.append(cpu)
        median = statistics.median
        print(
            f"| {workload} | {median(on):.2f} ({min(on):.2f}-{max(on):.2f}) | "
            f"{median(off):.2f} ({min(off):.2f}-{max(off):.2f}) | "
            f"{median(on) / median(off):.3f} | {median(cpu_on):.1f} / {median(cpu_off):.1f} | "
            f"{median(shares):.1%} | {checks} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
