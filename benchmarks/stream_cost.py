"""Streaming cost: publishing a frame, and the pub→sub latency on loopback.

1. Publish cost: ``PosePublisher.handle_frame`` per frame (header, msgpack, payload frames, the
   non-blocking send, the check for subscriptions), with one subscriber connected and reading,
   for the demo's size (K=2, J=5, 1 rule, 1 output) and a bigger rig (K=8, J=32, 4 rules, 4
   outputs).
2. Latency: a subscriber in another process (zmq, msgpack only) receives every message and
   computes ``perf_counter_ns() - t_publish_ns`` (the clock is system-wide on Linux), at a paced
   rate; it reports p50 and p99.

Run:  python benchmarks/stream_cost.py [--frames 5000] [--rate-hz 500] [--write]
With --write the figures are appended to benchmarks/results/stream_cost.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np
from report import append_result, heading

from rtpose.core.clock import now_ns
from rtpose.stream import PosePublisher

LATENCY_SUBSCRIBER = r"""
import json, sys, time
import msgpack, zmq
sub = zmq.Context().socket(zmq.SUB)
sub.setsockopt(zmq.RCVHWM, 100000)
sub.connect(sys.argv[1])
sub.setsockopt(zmq.SUBSCRIBE, b"pose.")
print("ready", flush=True)
latencies, wanted = [], int(sys.argv[2])
while len(latencies) < wanted and sub.poll(5000):
    parts = sub.recv_multipart()
    received = time.perf_counter_ns()
    latencies.append(received - msgpack.unpackb(parts[1])["t_publish_ns"])
print(json.dumps(latencies), flush=True)
"""

SIZES = {"demo (K=2, J=5, R=1, O=1)": (2, 5, 1, 1), "big (K=8, J=32, R=4, O=4)": (8, 32, 4, 4)}


def make_publisher(k: int, j: int, rules: int, outputs: int) -> PosePublisher:
    return PosePublisher(
        "tcp://127.0.0.1:*",
        "cam0",
        node_names=[f"n{i}" for i in range(j)],
        animal_names=["a", "b"],
        rule_names=[f"r{i}" for i in range(rules)],
        output_names=[f"o{i}" for i in range(outputs)],
        edges=[],
        max_instances=k,
    )


def a_record(publisher: PosePublisher) -> np.ndarray:
    record = np.zeros((), publisher.dtype)
    record["points"] = np.random.default_rng(0).random(record["points"].shape, np.float32) * 256
    record["valid"] = True
    return record


def start_subscriber(endpoint: str, wanted: int) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", LATENCY_SUBSCRIBER, endpoint, str(wanted)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    return process


def wait_joined(publisher: PosePublisher) -> None:
    deadline = time.monotonic() + 10
    while publisher.subscriptions == 0 and time.monotonic() < deadline:
        publisher.flush_if_due()
        time.sleep(0.01)
    time.sleep(0.1)


def measure(size: tuple[int, int, int, int], frames: int, rate_hz: float) -> dict[str, float]:
    with make_publisher(*size) as publisher:
        record = a_record(publisher)
        subscriber = start_subscriber(publisher.endpoint, frames)
        wait_joined(publisher)
        costs = np.empty(frames)
        period_ns = round(1e9 / rate_hz)
        next_ns = now_ns()
        for index in range(frames):
            while now_ns() < next_ns:
                pass  # paced like a camera; spinning keeps the timing honest on 2 cores
            next_ns += period_ns
            start = time.perf_counter_ns()
            publisher.handle_frame(record)
            costs[index] = time.perf_counter_ns() - start
        stdout, _ = subscriber.communicate(timeout=60)
        latencies = np.array(json.loads(stdout.splitlines()[-1]), float)
    message_bytes = publisher.dtype.itemsize  # the frame record; the message adds ~0.4 kB of header
    return {
        "payload_bytes": float(message_bytes),
        "publish_us_p50": float(np.percentile(costs, 50) / 1e3),
        "publish_us_p99": float(np.percentile(costs, 99) / 1e3),
        "received": float(len(latencies)),
        "latency_us_p50": float(np.percentile(latencies, 50) / 1e3),
        "latency_us_p99": float(np.percentile(latencies, 99) / 1e3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=5000)
    parser.add_argument("--rate-hz", type=float, default=500.0)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    results = {name: measure(size, args.frames, args.rate_hz) for name, size in SIZES.items()}
    lines = [
        *heading(
            __file__, f"{args.frames} frames at {args.rate_hz:g} Hz, one subscriber process on loopback"
        ),
        "| size | record bytes | publish p50 µs | publish p99 µs | received "
        "| pub→sub p50 µs | pub→sub p99 µs |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['payload_bytes']:.0f} | {r['publish_us_p50']:.1f} | {r['publish_us_p99']:.1f} | "
            f"{r['received']:.0f} | {r['latency_us_p50']:.1f} | {r['latency_us_p99']:.1f} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        append_result("stream_cost", text, "Stream cost (method: benchmarks/stream_cost.py)")


if __name__ == "__main__":
    main()
