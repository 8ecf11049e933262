"""Soak benchmark: many concurrent conversations for a long time against the real stack.

Starts our Rasa server + action server (tests/faults/stack.py: the same processes and secrets
as `supportbot run`, a fresh SQLite demo database) and keeps `--conversations` (default 50)
conversations in flight for `--minutes` (default 10). Each conversation follows one of a few
scripts drawn at random (small talk, FAQ, a refund up to the code, a subscription question, an
unknown charge, a person) with a new conversation id each time. Counted as an error: a failed
request, any HTTP status but 200, an empty reply, or a reply that says a step failed.
Resident memory (RSS) of the Rasa and action-server processes is sampled every
`--sample-seconds`; the report gives start (after a warm-up) -> end and the growth.

    .venv/bin/python benchmarks/soak_bench.py                      # 50 x 10 min (make bench)
    .venv/bin/python benchmarks/soak_bench.py --minutes 2          # a shorter run

Writes docs/benchmarks/soak_results.json and renders docs/benchmarks/soak.md
(benchmarks/templates/soak.md.j2, benchmarks/report.py).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import save_results, write_report  # noqa: E402
from supportbot.rasa_server.failures import ACTION_FAILED_REPLY, STORE_UNAVAILABLE_REPLY  # noqa: E402
from tests.faults.stack import rss_kib, start_stack  # noqa: E402

DOCS = REPO / "docs" / "benchmarks"
ORDERS = [("100000001", "alice@example.com"), ("100000002", "bob@example.com"),
          ("100000010", "ivan@example.com"), ("100000014", "mia@example.com"),
          ("100000017", "paul@example.com"), ("100000020", "sam@example.com")]


# orders whose refund is automatic: the bot asks for the one-time code (never typed here)
CODE_ORDERS = [("100000001", "alice@example.com"), ("100000014", "mia@example.com"),
               ("100000017", "paul@example.com")]


def scripts(rng: random.Random) -> list[str]:
    """One conversation (after a handoff the bot is paused and rightly answers nothing)."""
    reference, email = rng.choice(ORDERS)
    code_ref, code_email = rng.choice(CODE_ORDERS)
    return rng.choice([
        ["hello there", "how do I add a staff account?", "thanks", "bye"],
        ["I would like a refund for my purchase", code_email, code_ref,
         '/inform{"refund_reason": "no_longer_needed"}', "thanks"],
        ["when does my subscription renew?", email, reference, "thank you"],
        ["what is this charge on my statement?", "49.00 EUR", "no", "bye"],
        ["I never got my order confirmation", email, reference, "thanks"],
        ["am I talking to a bot?", "what's the weather like?", "goodbye"],
        ["my card was declined", "how can I pay by wire transfer?", "thanks"],
    ])


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def latency_ms(values: list[float]) -> dict[str, Any]:
    return {"n": len(values), "p50_ms": _ms(percentile(values, 0.5)),
            "p95_ms": _ms(percentile(values, 0.95)), "p99_ms": _ms(percentile(values, 0.99)),
            "max_ms": _ms(max(values) if values else None)}


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


class Soak:
    def __init__(self, stack, conversations: int, seconds: float, seed: int):
        self.stack, self.workers, self.seconds, self.seed = stack, conversations, seconds, seed
        self.lock = threading.Lock()
        self.latencies: list[tuple[float, float]] = []  # (time since start, seconds)
        self.errors: list[str] = []
        self.conversations = 0
        self.start = 0.0

    def worker(self, index: int) -> None:
        rng = random.Random(self.seed * 7919 + index)
        while time.monotonic() - self.start < self.seconds:
            sender = self.stack.new_sender(f"soak{index}")
            handed_off = False  # a conversation handed to a person is paused: silence is right
            for text in scripts(rng):
                if time.monotonic() - self.start >= self.seconds:
                    return
                t0 = time.monotonic()
                error = None
                try:
                    response = self.stack.post(sender, text, timeout=120)
                    if response.status_code != 200:
                        error = f"HTTP {response.status_code}"
                    else:
                        replies = " ".join(str(m.get("text") or "") for m in response.json())
                        if not response.json() and not handed_off:
                            error = "no reply"
                        elif ACTION_FAILED_REPLY in replies or STORE_UNAVAILABLE_REPLY in replies:
                            error = "a step failed"
                        handed_off = handed_off or "(case #" in replies
                except Exception as exc:  # noqa: BLE001 - every failure is counted
                    error = f"{exc.__class__.__name__}: {exc}"
                elapsed = time.monotonic() - t0
                with self.lock:
                    self.latencies.append((t0 - self.start, elapsed))
                    if error:
                        self.errors.append(f"{sender}: {text!r}: {error}")
            with self.lock:
                self.conversations += 1

    def sample(self, samples: list[dict[str, Any]], every: float, stop: threading.Event) -> None:
        while not stop.wait(every):
            samples.append(self.rss(time.monotonic() - self.start))

    def rss(self, at: float) -> dict[str, Any]:
        return {"t_s": round(at, 1), "rasa_mib": _mib(rss_kib(self.stack.rasa.pid)),
                "actions_mib": _mib(rss_kib(self.stack.actions.pid))}

    def run(self, sample_seconds: float) -> dict[str, Any]:
        self.start = time.monotonic()
        samples = [self.rss(0.0)]
        stop = threading.Event()
        sampler = threading.Thread(target=self.sample, args=(samples, sample_seconds, stop), daemon=True)
        sampler.start()
        threads = [threading.Thread(target=self.worker, args=(i,)) for i in range(self.workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stop.set()
        wall = time.monotonic() - self.start
        samples.append(self.rss(wall))
        all_latencies = [s for _, s in self.latencies]
        minute = min(60.0, self.seconds / 4)
        first = [s for at, s in self.latencies if at < minute]
        last = [s for at, s in self.latencies if at >= wall - minute]
        start, end = samples[0], samples[-1]
        return {
            "wall_s": round(wall, 1), "turns": len(all_latencies), "conversations": self.conversations,
            "turns_per_s": round(len(all_latencies) / wall, 2) if wall else None,
            "errors": len(self.errors), "error_examples": self.errors[:10],
            "error_kinds": dict(Counter(e.rsplit(": ", 1)[-1] for e in self.errors)),
            "latency": latency_ms(all_latencies), "latency_first": latency_ms(first),
            "latency_last": latency_ms(last), "window_s": round(minute, 1),
            "memory": {
                "samples": samples,
                **{f"{name}_start_mib": start[f"{name}_mib"] for name in ("rasa", "actions")},
                **{f"{name}_end_mib": end[f"{name}_mib"] for name in ("rasa", "actions")},
                **{f"{name}_growth_mib": _growth(start[f"{name}_mib"], end[f"{name}_mib"])
                   for name in ("rasa", "actions")},
                **{f"{name}_growth_pct": _pct(start[f"{name}_mib"], end[f"{name}_mib"])
                   for name in ("rasa", "actions")},
                **{f"{name}_max_mib": max((s[f"{name}_mib"] or 0) for s in samples)
                   for name in ("rasa", "actions")},
            },
        }


def _mib(kib: int | None) -> float | None:
    return None if kib is None else round(kib / 1024, 1)


def _growth(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(b - a, 1)


def _pct(a: float | None, b: float | None) -> float | None:
    return None if not a or b is None else round(100 * (b - a) / a, 1)


def warm_up(stack, n: int = 20) -> None:
    rng = random.Random(0)
    for i in range(n):
        sender = stack.new_sender(f"warm{i}")
        for text in scripts(rng)[:3]:
            stack.post(sender, text, timeout=120)


def machine() -> dict[str, Any]:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    mem_gb = None
    try:
        mem_gb = round(int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return {"cpu_count": os.cpu_count(), "cpu": platform.processor() or platform.machine(),
            "mem_gb": mem_gb, "python": platform.python_version(), "commit": commit}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--conversations", type=int, default=50, help="conversations in flight")
    ap.add_argument("--minutes", type=float, default=10.0, help="how long (default 10)")
    ap.add_argument("--sample-seconds", type=float, default=15.0, help="RSS sampling interval")
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--out", type=Path, default=DOCS / "soak_results.json")
    ap.add_argument("--report", type=Path, default=DOCS / "soak.md")
    args = ap.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="soak-"))
    print(f"soak: starting the stack in {work}", flush=True)
    stack = start_stack(work, database="sqlite")
    try:
        warm_up(stack)
        print(f"soak: {args.conversations} conversations for {args.minutes:g} min", flush=True)
        soak = Soak(stack, args.conversations, args.minutes * 60, args.seed)
        measured = soak.run(args.sample_seconds)
    finally:
        stack.stop()
    results = {
        "meta": {"date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                 "command": "benchmarks/soak_bench.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                 "machine": machine(), "conversations": args.conversations, "minutes": args.minutes,
                 "sample_seconds": args.sample_seconds, "seed": args.seed,
                 "stack": "Rasa server + action server (supportbot.runtime.action_server), SQLite, "
                          "REST channel with the token, one process each"},
        "soak": measured,
    }
    print(json.dumps({k: v for k, v in measured.items() if k != "memory"}, indent=2))
    print(f"soak: results {save_results(results, args.out)}")
    print(f"soak: report {write_report('soak.md.j2', results, args.report)}")
    return 0 if measured["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
