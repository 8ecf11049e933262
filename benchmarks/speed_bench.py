#!/usr/bin/env python
"""Speed benchmark: our stack against a `rasa init` bot, in the same run, on the same machine.

--turns     starts the real stack (Rasa + action server, a fresh SQLite database with the demo
            data, free ports) AND a `rasa init` bot (same venv, its own free port, REST channel,
            Rasa's default in-memory tracker store, no action server: its stories only utter).
            Both get the same scripted small-talk conversations at concurrency 1 and 8; ours also
            gets order-task conversations ("I want a refund" -> email -> order reference ->
            reason; orders whose refund is never automatic, so nothing is refunded and every run
            is repeatable) and long conversations (65 turns: turn 5 against turn 60). Warm-up
            conversations are excluded. Per kind of turn: p50/p95; at concurrency 8: messages/s;
            ratios ours / rasa-init from this run only. The load average, the machine's CPU use,
            the servers' CPU time per turn and the load generator's own CPU time are recorded.
--trace     one order conversation against our Rasa started with --debug and millisecond log
            timestamps: where the time of the order-lookup turn goes.
--training  `rasa train` from scratch (temporary output and cache dirs), then again after one
            NLU example changed in a temporary copy of data/ (data/ itself is never touched);
            `rasa init`'s training from scratch for the ratio.
--ready     `supportbot run` on a temporary var dir and free ports: time until Rasa, the action
            server, the web server and the email bridge all answer; plus the `db` step of
            `make run` on a fresh database.
--all       all of the above.

The `rasa init` bot is created once under var/bench/rasa_init (a copy of the template Rasa
ships, rasa/cli/initial_project) and trained once; its model is cached in var/bench/ under a
hash of its config, domain and data and reused by later runs.

Results: docs/benchmarks/speed_results.json (each section keeps its own date and machine load;
a partial run replaces only its sections), report docs/benchmarks/speed.md rendered from it
(benchmarks/templates/speed.md.j2), plot docs/benchmarks/speed_latency.png.

Usage: .venv/bin/python benchmarks/speed_bench.py --all [--quick]
       .venv/bin/python benchmarks/speed_bench.py --turns [--rounds N] [--c1-conversations N] ...
       .venv/bin/python benchmarks/speed_bench.py --report      (re-render from the JSON)
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

BIN = Path(sys.executable).parent
MODEL = REPO / "models" / "supportbot.tar.gz"
# the tracker store `make run` uses (endpoints.yml)
TRACKER_STORE = yaml.safe_load((REPO / "endpoints.yml").read_text())["tracker_store"]["type"]
BENCH_VAR = REPO / "var" / "bench"
RASA_INIT_DIR = BENCH_VAR / "rasa_init"
REPORT_DIR = REPO / "docs" / "benchmarks"
RESULTS_JSON = REPORT_DIR / "speed_results.json"
REPORT_MD = REPORT_DIR / "speed.md"
PLOT_PNG = REPORT_DIR / "speed_latency.png"
TEMPLATES = Path(__file__).resolve().parent / "templates"
TEMPLATE = "speed.md.j2"

# the REST channel's internal-caller secret (supportbot/channels/masking.py): given to our Rasa
# in SUPPORTBOT_REST_TOKEN and sent with every turn (rasa init's plain REST channel ignores it)
REST_TOKEN = uuid.uuid4().hex + uuid.uuid4().hex
REST_HEADERS = {"Authorization": f"Bearer {REST_TOKEN}"}
BASE_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "RASA_TELEMETRY_ENABLED": "false",
            "SQLALCHEMY_SILENCE_UBER_WARNING": "1", "PYTHONUNBUFFERED": "1"}

# targets of the issue (checked in the report)
ACTION_DB_P95_MS = 100.0
THROUGHPUT_RATIO = 1.5
LONG_SLOWDOWN = 1.20


def log(message: str) -> None:
    print(f"[speed_bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def url_ok(url: str, timeout: float = 2.0) -> bool:
    import requests

    try:
        return requests.get(url, timeout=timeout).status_code < 500
    except requests.RequestException:
        return False


def smtp_ok(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.settimeout(2)
            return s.recv(64).startswith(b"220")
    except OSError:
        return False


# ---------------------------------------------------------------------------------------
# machine load, CPU time
# ---------------------------------------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _proc_stat_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine from /proc/stat."""
    with open("/proc/stat") as f:
        parts = [float(x) for x in f.readline().split()[1:]]
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0.0)  # idle + iowait
    total = sum(parts[:8])  # user nice system idle iowait irq softirq steal
    return total - idle, total


def process_cpu_s(pid: int | None) -> float | None:
    """user + system CPU seconds of a live process (all its threads)."""
    if not pid:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (float(fields[11]) + float(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


def self_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class LoadMonitor:
    """Samples the 1-minute load average and the machine's CPU use once a second."""

    def __init__(self, interval: float = 1.0):
        self.interval = interval
        self.samples: list[tuple[float, float, float]] = []  # (t, load1, busy fraction)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        prev = _proc_stat_cpu()
        while not self._stop.wait(self.interval):
            cur = _proc_stat_cpu()
            busy = (cur[0] - prev[0]) / max(1e-9, cur[1] - prev[1])
            prev = cur
            self.samples.append((time.time(), os.getloadavg()[0], busy))

    def __enter__(self) -> LoadMonitor:
        self.t0 = time.time()
        self.cpu0 = _proc_stat_cpu()
        self.self0 = self_cpu_s()
        self.load_start = os.getloadavg()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.cpu1 = _proc_stat_cpu()
        self.t1 = time.time()
        self.load_end = os.getloadavg()
        self.self1 = self_cpu_s()

    def summary(self) -> dict[str, Any]:
        loads = [s[1] for s in self.samples] or [self.load_end[0]]
        busy = (self.cpu1[0] - self.cpu0[0]) / max(1e-9, self.cpu1[1] - self.cpu0[1])
        return {
            "cpu_count": os.cpu_count(),
            "wall_s": round(self.t1 - self.t0, 2),
            "loadavg_start": [round(x, 2) for x in self.load_start],
            "loadavg_end": [round(x, 2) for x in self.load_end],
            "load1_mean": round(sum(loads) / len(loads), 2),
            "load1_max": round(max(loads), 2),
            "machine_cpu_busy_pct": round(100 * busy, 1),
            "bench_process_cpu_s": round(self.self1 - self.self0, 2),
        }


# ---------------------------------------------------------------------------------------
# statistics
# ---------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    xs = sorted(values)
    k = (len(xs) - 1) * q / 100.0
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def stats_ms(latencies_s: Sequence[float]) -> dict[str, Any]:
    ms = [1000 * x for x in latencies_s]
    if not ms:
        return {"n": 0}
    return {"n": len(ms), "p50_ms": round(percentile(ms, 50), 1), "p95_ms": round(percentile(ms, 95), 1),
            "mean_ms": round(sum(ms) / len(ms), 1), "max_ms": round(max(ms), 1)}


def ratio(a: float | None, b: float | None, digits: int = 2) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return round(a / b, digits)


# ---------------------------------------------------------------------------------------
# the bots
# ---------------------------------------------------------------------------------------


@dataclass
class Bot:
    name: str
    url: str
    token: str
    supervisor: Any
    log_path: Path
    log_file: Any
    info: dict[str, Any] = field(default_factory=dict)

    def pid(self, process: str) -> int | None:
        child = self.supervisor._children.get(process)
        return child.process.pid if child and child.process.poll() is None else None

    def server_cpu(self) -> dict[str, float | None]:
        return {name: process_cpu_s(self.pid(name)) for name in self.supervisor._children}

    def stop(self) -> None:
        try:
            self.supervisor.stop()
        finally:
            self.log_file.close()


def _start(name: str, specs, url: str, token: str, log_path: Path, info: dict,
           timeout: float = 300) -> Bot:
    from supportbot.runtime.supervisor import Supervisor

    log_file = open(log_path, "w")
    supervisor = Supervisor(specs, out=log_file, grace_period=15)
    t0 = time.monotonic()
    supervisor.start()
    bot = Bot(name, url, token, supervisor, log_path, log_file, info)
    if not supervisor.wait_ready(timeout=timeout):
        bot.stop()
        raise RuntimeError(f"{name} did not start:\n" + log_path.read_text()[-3000:])
    bot.info["start_to_ready_s"] = round(time.monotonic() - t0, 1)
    return bot


def _rasa_argv(model: Path, port: int, token: str, endpoints: Path | None,
               credentials: Path, extra: Sequence[str] = ()) -> list[str]:
    argv = [str(BIN / "rasa"), "run", "--model", str(model), "--credentials", str(credentials),
            "--port", str(port), "--enable-api", "--auth-token", token]
    if endpoints:
        argv += ["--endpoints", str(endpoints)]
    return argv + list(extra)


def prepare_database(work: Path) -> tuple[str, dict[str, str]]:
    db_file = work / "supportbot.db"
    env = {**BASE_ENV, "SUPPORTBOT_DATABASE_URL": f"sqlite:///{db_file}",
           "SUPPORTBOT_VAR_DIR": str(work), "SUPPORTBOT_OUTBOX_DIR": str(work / "outbox")}
    full = {**os.environ, **env}
    for argv in ([str(BIN / "supportbot"), "db", "upgrade"], [str(BIN / "supportbot"), "db", "demo"]):
        subprocess.run(argv, check=True, env=full, cwd=REPO, stdout=subprocess.DEVNULL)
    return str(db_file), env


def start_ours(work: Path, debug_logs: dict[str, Path] | None = None) -> Bot:
    """Our Rasa + action server; with `debug_logs` ({"rasa": path, "actions": path}) both run
    with --debug and write millisecond-stamped logs there."""
    from supportbot.runtime.supervisor import ProcessSpec

    db_file, env = prepare_database(work)
    rasa_port, action_port = free_port(), free_port()
    token = uuid.uuid4().hex
    env.update({"SUPPORTBOT_RASA_PORT": str(rasa_port), "SUPPORTBOT_ACTION_PORT": str(action_port),
                "SUPPORTBOT_RASA_URL": f"http://127.0.0.1:{rasa_port}", "SUPPORTBOT_REST_TOKEN": REST_TOKEN})
    action_token = uuid.uuid4().hex + uuid.uuid4().hex  # as `supportbot run` does: Rasa sends it
    endpoints = work / "endpoints.yml"
    endpoints.write_text(json.dumps({
        "action_endpoint": {"url": f"http://127.0.0.1:{action_port}/webhook",
                            "headers": {"Authorization": f"Bearer {action_token}"}},
        "tracker_store": {"type": TRACKER_STORE, "dialect": "sqlite", "db": db_file},
    }))
    credentials = work / "credentials.yml"
    credentials.write_text((REPO / "credentials.yml").read_text())
    extra: list[str] = []
    action_extra: list[str] = []
    if debug_logs:
        extra = ["--debug", "--logging-config-file",
                 str(_write_logging_config(work / "logging_rasa.yml", debug_logs["rasa"]))]
        action_extra = ["--logging-config-file",
                        str(_write_logging_config(work / "logging_actions.yml", debug_logs["actions"]))]
    url = f"http://127.0.0.1:{rasa_port}"
    specs = [
        ProcessSpec("actions", [sys.executable, "-m", "supportbot.runtime.action_server",
                                "--host", "127.0.0.1", "--port", str(action_port), *action_extra],
                    env={**env, "SUPPORTBOT_ACTION_TOKEN": action_token}, cwd=str(REPO),
                    ready_check=lambda: url_ok(f"http://127.0.0.1:{action_port}/health")),
        ProcessSpec("rasa", _rasa_argv(MODEL, rasa_port, token, endpoints, credentials, extra),
                    env=env, cwd=str(REPO), ready_check=lambda: url_ok(f"{url}/status?token={token}")),
    ]
    info = {"model": str(MODEL.relative_to(REPO)), "model_sha256": file_sha256(MODEL)[:12],
            "tracker_store": f"{TRACKER_STORE} (SQLite file, fresh database with the demo data)",
            "lock_store": "in-memory",
            "action_server": "yes (supportbot.runtime.action_server with its secret, one process)",
            "channel": "REST (supportbot.channels.masking.MaskingRestInput)",
            "rasa_processes": 1}
    return _start("ours", specs, url, token, work / "ours.log", info)


def _write_logging_config(path: Path, debug_log: Path) -> Path:
    path.write_text(json.dumps({
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"ms": {"format": "%(created).6f %(levelname)s %(name)s - %(message)s"}},
        "handlers": {"file": {"class": "logging.FileHandler", "filename": str(debug_log),
                              "formatter": "ms", "level": "DEBUG"}},
        "root": {"handlers": ["file"], "level": "DEBUG"},
    }))
    return path


def start_rasa_init(work: Path, model: Path, model_info: dict) -> Bot:
    from supportbot.runtime.supervisor import ProcessSpec

    port = free_port()
    token = uuid.uuid4().hex
    credentials = work / "rasa_init_credentials.yml"
    credentials.write_text("rest:\n")
    url = f"http://127.0.0.1:{port}"
    specs = [ProcessSpec("rasa", _rasa_argv(model, port, token, RASA_INIT_DIR / "endpoints.yml",
                                            credentials),
                         env=dict(BASE_ENV), cwd=str(RASA_INIT_DIR),
                         ready_check=lambda: url_ok(f"{url}/status?token={token}"))]
    info = {"model": str(model.relative_to(REPO)), "model_key": model_info.get("key"),
            "tracker_store": "in-memory (Rasa's default; rasa init's endpoints.yml sets none)",
            "lock_store": "in-memory", "action_server": "none (its stories only utter responses)",
            "channel": "REST (rasa's RestInput)", "rasa_processes": 1,
            "config": "rasa init's config.yml: empty pipeline/policies, auto-configured by Rasa"}
    return _start("rasa_init", specs, url, token, work / "rasa_init.log", info)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------
# the rasa init bot: created and trained once, cached under var/bench/
# ---------------------------------------------------------------------------------------


def rasa_version() -> str:
    from importlib.metadata import version

    return version("rasa")


def rasa_init_project() -> Path:
    """var/bench/rasa_init: what `rasa init --no-prompt` writes (without its training)."""
    if not (RASA_INIT_DIR / "domain.yml").exists():
        import rasa.cli.initial_project as template

        src = Path(template.__file__).parent if template.__file__ else Path(list(template.__path__)[0])
        shutil.copytree(src, RASA_INIT_DIR, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__"))
        log(f"created the rasa init bot in {RASA_INIT_DIR.relative_to(REPO)}")
    return RASA_INIT_DIR


def rasa_init_key(project: Path) -> str:
    """Hash of the bot's config, domain and data as YAML values + the Rasa version. Comments and
    the `assistant_id` do not count: Rasa's auto-configuration rewrites config.yml on the first
    training (a generated assistant_id, commented defaults)."""
    import yaml

    h = hashlib.sha256(rasa_version().encode())
    files = [project / "config.yml", project / "domain.yml"] + sorted((project / "data").rglob("*.yml"))
    for f in files:
        value = yaml.safe_load(f.read_text())
        if f.name == "config.yml" and isinstance(value, dict):
            value.pop("assistant_id", None)
        h.update(str(f.relative_to(project)).encode())
        h.update(json.dumps(value, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def rasa_train(cwd: Path, config: Path, domain: Path, data: Path, out: Path, name: str,
               cache: Path, log_path: Path) -> dict[str, Any]:
    """One `rasa train`, timed; counts the components trained vs restored from the cache."""
    argv = [str(BIN / "rasa"), "train", "--config", str(config), "--domain", str(domain),
            "--data", str(data), "--out", str(out), "--fixed-model-name", name,
            "--skip-validation"]  # as `make train` does
    # both of the project's training caches: Rasa's and the sentence-embedding cache
    env = {**os.environ, **BASE_ENV, "RASA_CACHE_DIRECTORY": str(cache),
           "SUPPORTBOT_EMBEDDING_CACHE": str(cache / "sentence-embeddings.sqlite")}
    with LoadMonitor() as monitor, open(log_path, "w") as out_file:
        t0 = time.monotonic()
        proc = subprocess.run(argv, cwd=cwd, env=env, stdout=out_file, stderr=subprocess.STDOUT)
        seconds = time.monotonic() - t0
    text = log_path.read_text(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"rasa train failed ({proc.returncode}):\n{text[-3000:]}")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"seconds": round(seconds, 1),
            "components_trained": len(re.findall(r"Starting to train component", text)),
            "components_restored": len(re.findall(r"Restored component", text)),
            "load": monitor.summary(),
            "children_cpu_s_cumulative": round(usage.ru_utime + usage.ru_stime, 1)}


def rasa_init_model() -> tuple[Path, dict[str, Any]]:
    project = rasa_init_project()
    key = rasa_init_key(project)
    model = BENCH_VAR / f"rasa_init-{key}.tar.gz"
    meta_path = BENCH_VAR / f"rasa_init-{key}.json"
    if model.exists() and meta_path.exists():
        return model, json.loads(meta_path.read_text())
    log("training the rasa init bot once (cached for later runs) ...")
    result = rasa_train(project, project / "config.yml", project / "domain.yml", project / "data",
                        BENCH_VAR, model.name[:-len(".tar.gz")], BENCH_VAR / "rasa_init_cache",
                        BENCH_VAR / "rasa_init_train.log")
    meta = {"key": key, "rasa_version": rasa_version(), "trained_at": now_iso(), "train": result}
    meta_path.write_text(json.dumps(meta, indent=2))
    log(f"rasa init bot trained in {result['seconds']} s")
    return model, meta


# ---------------------------------------------------------------------------------------
# scripted conversations
# ---------------------------------------------------------------------------------------


@dataclass
class Turn:
    kind: str
    text: str
    expect: str | None = None  # a substring of our bot's reply (checked for ours only)


@dataclass
class Conversation:
    kind: str
    turns: list[Turn]
    sender: str = field(default_factory=lambda: f"bench-{uuid.uuid4().hex[:12]}")


SMALLTALK = [
    ("greet", ["hello there", "hi", "good morning", "hey"], "support assistant"),
    ("bot_challenge", ["am I talking to a bot?", "are you a human?", "are you a real person?",
                       "am I talking to a robot?"], "virtual assistant"),
    ("thanks", ["thank you so much", "thanks", "ok thanks for your help", "thanks a lot"], "welcome"),
    ("goodbye", ["bye", "goodbye", "bye for now", "see you later"], "Goodbye"),
]

# Orders whose refund is never automatic (docs/demo-data.md): the conversation ends at a
# hand-off ticket, nothing is refunded, so the same script works on every run.
ORDER_CASES = [("bob@example.com", "100000002"), ("carol@example.com", "100000003"),
               ("liam@example.com", "100000013"), ("noah@example.com", "100000015")]
ACTION_DB_KINDS = ("order_lookup", "refund_decision")


def smalltalk_conversation(i: int) -> Conversation:
    return Conversation("smalltalk", [Turn(kind, texts[i % len(texts)], expect)
                                      for kind, texts, expect in SMALLTALK])


def order_conversation(i: int) -> Conversation:
    email, ref = ORDER_CASES[i % len(ORDER_CASES)]
    opening = ["I want a refund", "I would like a refund for my purchase", "refund my order please",
               "I'd like my money back"][i % 4]
    return Conversation("order", [
        Turn("task_start", opening, "email address"),
        Turn("email", email, "order reference"),
        Turn("order_lookup", ref, f"I found order {ref}"),
        Turn("refund_decision", '/inform{"refund_reason": "no_longer_needed"}', "(case #"),
    ])


# A cycle of five: turn 5, 10, ..., 60, 65 is the same action turn (the FAQ answer: the action
# server gets the whole tracker), turn 2, 7, ..., 57 the same small-talk turn.
LONG_CYCLE_OURS = [
    Turn("greet", "hello there", "support assistant"),
    Turn("bot_challenge", "am I talking to a bot?", "virtual assistant"),
    Turn("thanks", "thank you so much", "welcome"),
    Turn("card_declined", "my card keeps getting rejected when I try to pay", "decline"),
    Turn("faq", "how do I give a colleague access to our console", None),
]
LONG_CYCLE_RASA_INIT = [
    Turn("greet", "hello there"), Turn("bot_challenge", "am I talking to a bot?"),
    Turn("mood_great", "I am great"), Turn("goodbye", "bye"),
    Turn("bot_challenge", "are you a human?"),
]


def long_conversation(cycle: Sequence[Turn], turns: int) -> Conversation:
    return Conversation("long", [cycle[i % len(cycle)] for i in range(turns)])


# ---------------------------------------------------------------------------------------
# load generator
# ---------------------------------------------------------------------------------------


@dataclass
class Sample:
    conv_kind: str
    conv_sender: str
    kind: str
    index: int  # 1-based turn number in its conversation
    start: float
    latency: float
    ok: bool
    as_expected: bool | None
    reply: str = ""


async def _run_conversations(url: str, conversations: list[Conversation], concurrency: int,
                             time_cap: float, check: bool) -> tuple[list[Sample], float]:
    import aiohttp

    queue: asyncio.Queue = asyncio.Queue()
    for conv in conversations:
        queue.put_nowait(conv)
    samples: list[Sample] = []
    deadline = time.monotonic() + time_cap
    webhook = f"{url}/webhooks/rest/webhook"

    async def worker(session) -> None:
        while time.monotonic() < deadline:
            try:
                conv = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            for index, turn in enumerate(conv.turns, start=1):
                if time.monotonic() >= deadline:
                    return
                t0 = time.perf_counter()
                ok, text = False, ""
                try:
                    async with session.post(webhook, json={"sender": conv.sender, "message": turn.text},
                                            headers=REST_HEADERS) as resp:
                        body = await resp.json(content_type=None)
                        ok = resp.status == 200
                    text = " ".join(m.get("text") or "" for m in body or [])
                except Exception as exc:  # noqa: BLE001 - counted as an error
                    text = f"ERROR {type(exc).__name__}: {exc}"
                latency = time.perf_counter() - t0
                expected = None
                if check and ok and turn.expect:
                    expected = turn.expect.lower() in text.lower()
                samples.append(Sample(conv.kind, conv.sender, turn.kind, index, t0, latency, ok, expected,
                                      text[:160]))

    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=concurrency * 2)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    return samples, wall


def run_phase(bot: Bot, conversations: list[Conversation], concurrency: int, time_cap: float,
              check: bool) -> dict[str, Any]:
    cpu0 = bot.server_cpu()
    with LoadMonitor() as monitor:
        samples, wall = asyncio.run(_run_conversations(bot.url, conversations, concurrency,
                                                       time_cap, check))
    cpu1 = bot.server_cpu()
    ok = [s for s in samples if s.ok]
    server_cpu = {}
    for name in cpu0:
        if cpu0[name] is not None and cpu1.get(name) is not None:
            server_cpu[name] = round(cpu1[name] - cpu0[name], 3)
    return {"samples": samples, "wall_s": wall, "n": len(samples), "errors": len(samples) - len(ok),
            "server_cpu_s": server_cpu, "load": monitor.summary()}


def summarize_phase(parts: list[dict[str, Any]], concurrency: int) -> dict[str, Any]:
    """Merges the rounds of one phase of one bot."""
    samples = [s for p in parts for s in p["samples"]]
    ok = [s for s in samples if s.ok]
    wall = sum(p["wall_s"] for p in parts)
    kinds: dict[str, list[float]] = {}
    for s in ok:
        kinds.setdefault(s.kind, []).append(s.latency)
    cpu: dict[str, float] = {}
    for p in parts:
        for name, secs in p["server_cpu_s"].items():
            cpu[name] = cpu.get(name, 0.0) + secs
    unexpected = [s for s in ok if s.as_expected is False]
    load = [p["load"] for p in parts]
    out = {
        "concurrency": concurrency,
        "turns": len(samples),
        "errors": len(samples) - len(ok),
        "wall_s": round(wall, 2),
        "msg_per_s": round(len(ok) / wall, 2) if wall else None,
        "all": stats_ms([s.latency for s in ok]),
        "kinds": {k: stats_ms(v) for k, v in sorted(kinds.items())},
        "server_cpu_ms_per_turn": {k: round(1000 * v / max(1, len(ok)), 1) for k, v in cpu.items()},
        "checked_replies": sum(1 for s in ok if s.as_expected is not None),
        "unexpected_replies": len(unexpected),
        "unexpected_examples": [f"{s.kind}: {s.reply}" for s in unexpected[:3]],
        "load1_mean": round(sum(x["load1_mean"] for x in load) / len(load), 2),
        "machine_cpu_busy_pct": round(sum(x["machine_cpu_busy_pct"] for x in load) / len(load), 1),
        "bench_process_cpu_s": round(sum(x["bench_process_cpu_s"] for x in load), 2),
    }
    if out["msg_per_s"] and cpu.get("rasa"):
        # what the Rasa process would do with a whole core to itself
        out["rasa_cpu_bound_msg_per_s"] = round(len(ok) / cpu["rasa"], 1)
    return out


def long_summary(samples: list[Sample], turns: int, first: int, late: int) -> dict[str, Any]:
    by_index: dict[int, list[float]] = {}
    for s in samples:
        if s.ok:
            by_index.setdefault(s.index, []).append(1000 * s.latency)
    median = {i: round(percentile(v, 50), 1) for i, v in sorted(by_index.items())}
    early = by_index.get(first, [])
    later = by_index.get(late, [])

    def window(lo: int, hi: int) -> float | None:
        xs = [x for i in range(lo, hi + 1) for x in by_index.get(i, [])]
        return round(percentile(xs, 50), 1) if xs else None

    w_early, w_late = window(first, first + 9), window(late - 4, late + 5)
    return {
        "turns_per_conversation": turns,
        "conversations": max((len(v) for v in by_index.values()), default=0),
        f"turn{first}_ms": round(percentile(early, 50), 1) if early else None,
        f"turn{late}_ms": round(percentile(later, 50), 1) if later else None,
        "turn_kind": next((s.kind for s in samples if s.index == first), None),
        "late_over_early": ratio(percentile(later, 50), percentile(early, 50)),
        "first_turn": first, "late_turn": late,
        "window_early_ms": w_early, "window_late_ms": w_late,
        "window_ratio": ratio(w_late, w_early),
        "windows": f"turns {first}-{first + 9} vs {late - 4}-{late + 5} (every kind of turn, median)",
        "median_ms_by_turn": median,
        "unexpected_replies": sum(1 for s in samples if s.as_expected is False),
    }


def count_events(bot: Bot, sender: str) -> dict[str, int]:
    import requests

    resp = requests.get(f"{bot.url}/conversations/{sender}/tracker",
                        params={"token": bot.token, "include_events": "ALL"}, timeout=60)
    resp.raise_for_status()
    events = resp.json().get("events") or []
    return {"events": len(events), "user_events": sum(1 for e in events if e.get("event") == "user")}


def count_sql_events(db_file: Path, sender: str) -> int | None:
    import sqlite3

    try:
        with contextlib.closing(sqlite3.connect(str(db_file))) as conn:
            return conn.execute("select count(*) from events where sender_id = ?", (sender,)).fetchone()[0]
    except sqlite3.Error:
        return None


# ---------------------------------------------------------------------------------------
# --turns
# ---------------------------------------------------------------------------------------


def bench_turns(args) -> dict[str, Any]:
    if not MODEL.exists():
        raise SystemExit(f"no trained model at {MODEL.relative_to(REPO)}: run `make train` first")
    init_model, init_meta = rasa_init_model()
    work = Path(tempfile.mkdtemp(prefix="speed_bench_"))
    bots: dict[str, Bot] = {}
    phases: dict[str, dict[str, list[dict]]] = {"ours": {}, "rasa_init": {}}
    long_samples: dict[str, list[Sample]] = {"ours": [], "rasa_init": []}
    events: dict[str, dict] = {}
    try:
        with LoadMonitor() as overall:
            log("starting our stack and the rasa init bot ...")
            bots["ours"] = start_ours(work)
            bots["rasa_init"] = start_rasa_init(work, init_model, init_meta)
            for name, bot in bots.items():
                log(f"{name} ready after {bot.info['start_to_ready_s']} s")
                warm = [smalltalk_conversation(i) for i in range(args.warmup)]
                if name == "ours":
                    warm += [order_conversation(i) for i in range(args.warmup)]
                # one cycle of the long conversation: the action server loads the FAQ knowledge
                # base on its first question (about 2 s), which is not what turn 5 measures
                cycle = LONG_CYCLE_OURS if name == "ours" else LONG_CYCLE_RASA_INIT
                warm.append(long_conversation(cycle, len(cycle)))
                run_phase(bot, warm, 1, args.time_cap, check=False)
            order = ["ours", "rasa_init"]
            counter = 0
            for rnd in range(args.rounds):
                for name in (order if rnd % 2 == 0 else order[::-1]):
                    bot = bots[name]
                    plan = [("smalltalk_c1", [smalltalk_conversation(counter + i)
                                              for i in range(args.c1_conversations)], 1),
                            ("smalltalk_c8", [smalltalk_conversation(counter + i)
                                              for i in range(args.c8_conversations)], 8)]
                    if name == "ours":
                        plan += [("order_c1", [order_conversation(counter + i)
                                               for i in range(args.c1_conversations)], 1),
                                 ("order_c8", [order_conversation(counter + i)
                                               for i in range(args.c8_conversations)], 8)]
                    for phase, convs, conc in plan:
                        result = run_phase(bot, convs, conc, args.time_cap, check=name == "ours")
                        phases[name].setdefault(phase, []).append(result)
                        s = summarize_phase([result], conc)
                        log(f"round {rnd + 1} {name} {phase}: {s['turns']} turns, p50 "
                            f"{s['all'].get('p50_ms')} ms, p95 {s['all'].get('p95_ms')} ms, "
                            f"{s['msg_per_s']} msg/s, errors {s['errors']}, unexpected "
                            f"{s['unexpected_replies']}")
                counter += max(args.c1_conversations, args.c8_conversations)
            for name in order:
                bot = bots[name]
                cycle = LONG_CYCLE_OURS if name == "ours" else LONG_CYCLE_RASA_INIT
                convs = [long_conversation(cycle, args.long_turns) for _ in range(args.long_conversations)]
                result = run_phase(bot, convs, 1, max(args.time_cap, 600), check=name == "ours")
                long_samples[name] = result["samples"]
                stored = count_events(bot, convs[0].sender)
                if name == "ours":
                    stored["sql_rows"] = count_sql_events(work / "supportbot.db", convs[0].sender)
                stored["turns_sent"] = sum(1 for s in result["samples"] if s.ok and s.conv_sender == convs[0].sender)
                events[name] = stored
                log(f"{name} long conversations done; tracker of the first: {stored}")
    finally:
        for bot in bots.values():
            bot.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"kept {work}")

    results: dict[str, Any] = {"date": now_iso(), "load": overall.summary(), "settings": {
        "rounds": args.rounds, "warmup_conversations": args.warmup,
        "c1_conversations_per_round": args.c1_conversations,
        "c8_conversations_per_round": args.c8_conversations,
        "long_conversations": args.long_conversations, "long_turns": args.long_turns,
        "time_cap_s_per_phase": args.time_cap}, "bots": {}, "phases": {}, "long": {}}
    for name, bot in bots.items():
        results["bots"][name] = bot.info
        results["phases"][name] = {phase: summarize_phase(parts, 8 if phase.endswith("c8") else 1)
                                   for phase, parts in phases[name].items()}
    for name in bots:
        summary = long_summary(long_samples[name], args.long_turns, 5, 60)
        summary["small_talk_turn2_vs_57"] = {
            "turn2_ms": summary["median_ms_by_turn"].get(2),
            "turn57_ms": summary["median_ms_by_turn"].get(57),
            "ratio": ratio(summary["median_ms_by_turn"].get(57), summary["median_ms_by_turn"].get(2))}
        summary["stored"] = events.get(name, {})
        results["long"][name] = summary
    results["bots"]["rasa_init"]["train"] = init_meta.get("train")
    results["bots"]["rasa_init"]["trained_at"] = init_meta.get("trained_at")
    results["action_db_c1"] = action_db_stats(phases["ours"].get("order_c1", []))
    results["ratios"] = compute_ratios(results)
    results["targets"] = compute_targets(results)
    return results


def action_db_stats(parts: list[dict]) -> dict[str, Any]:
    lat = [s.latency for p in parts for s in p["samples"] if s.ok and s.kind in ACTION_DB_KINDS]
    return {"kinds": list(ACTION_DB_KINDS), **stats_ms(lat)}


def _get(d: dict, *keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def compute_ratios(r: dict) -> dict[str, Any]:
    p = r["phases"]
    out = {}
    for conc in ("c1", "c8"):
        for q in ("p50_ms", "p95_ms"):
            out[f"smalltalk_{conc}_{q[:3]}_ours_over_rasa_init"] = ratio(
                _get(p, "ours", f"smalltalk_{conc}", "all", q), _get(p, "rasa_init", f"smalltalk_{conc}", "all", q))
        out[f"smalltalk_{conc}_throughput_ours_over_rasa_init"] = ratio(
            _get(p, "ours", f"smalltalk_{conc}", "msg_per_s"), _get(p, "rasa_init", f"smalltalk_{conc}", "msg_per_s"))
    out["smalltalk_c8_rasa_cpu_per_turn_ours_over_rasa_init"] = ratio(
        _get(p, "ours", "smalltalk_c8", "server_cpu_ms_per_turn", "rasa"),
        _get(p, "rasa_init", "smalltalk_c8", "server_cpu_ms_per_turn", "rasa"))
    out["order_c8_throughput_over_rasa_init_smalltalk_c8"] = ratio(
        _get(p, "ours", "order_c8", "msg_per_s"), _get(p, "rasa_init", "smalltalk_c8", "msg_per_s"))
    return out


def compute_targets(r: dict) -> list[dict[str, Any]]:
    p = r["phases"]
    ad = r["action_db_c1"].get("p95_ms")
    ours_st = _get(p, "ours", "smalltalk_c1", "all", "p50_ms")
    init_st = _get(p, "rasa_init", "smalltalk_c1", "all", "p50_ms")
    thr = r["ratios"].get("smalltalk_c8_throughput_ours_over_rasa_init")
    long_ratio = _get(r, "long", "ours", "late_over_early")

    def ok(cond) -> bool | None:
        return None if cond is None else bool(cond)

    return [
        {"name": "REST turn with an action and the database (order lookup, refund decision), "
                 "concurrency 1: p95", "value": f"{ad} ms", "target": f"<= {ACTION_DB_P95_MS:.0f} ms",
         "met": ok(None if ad is None else ad <= ACTION_DB_P95_MS)},
        {"name": "small-talk turn, concurrency 1: p50 ours vs rasa init",
         "value": f"{ours_st} ms vs {init_st} ms", "target": "ours faster",
         "met": ok(None if ours_st is None or init_st is None else ours_st < init_st)},
        {"name": "throughput at concurrency 8 (small talk), one Rasa process: ours / rasa init",
         "value": f"{thr}", "target": f">= {THROUGHPUT_RATIO}",
         "met": ok(None if thr is None else thr >= THROUGHPUT_RATIO)},
        {"name": "long conversation: turn 60 / turn 5 (same action turn, median)",
         "value": f"{long_ratio}", "target": f"<= {LONG_SLOWDOWN:.2f}",
         "met": ok(None if long_ratio is None else long_ratio <= LONG_SLOWDOWN)},
    ]


# ---------------------------------------------------------------------------------------
# --trace: where the time of one action turn goes (Rasa debug log, ms timestamps)
# ---------------------------------------------------------------------------------------


def bench_trace(args) -> dict[str, Any]:
    import requests

    if not MODEL.exists():
        raise SystemExit(f"no trained model at {MODEL.relative_to(REPO)}: run `make train` first")
    work = Path(tempfile.mkdtemp(prefix="speed_trace_"))
    debug_logs = {"rasa": work / "rasa_debug.log", "actions": work / "actions_debug.log"}
    bot = start_ours(work, debug_logs=debug_logs)
    traced: dict[str, Any] = {}
    try:
        warm = [order_conversation(i) for i in range(2)] + [smalltalk_conversation(0),
                                                              long_conversation(LONG_CYCLE_OURS, 5)]
        run_phase(bot, warm, 1, 120, check=False)
        windows = []  # (label, t0, t1, latency)

        def send(sender: str, text: str, label: str | None) -> None:
            t0, p0 = time.time(), time.perf_counter()
            requests.post(f"{bot.url}/webhooks/rest/webhook", headers=REST_HEADERS,
                          json={"sender": sender, "message": text}, timeout=60)
            if label:
                windows.append((label, t0, time.time(), time.perf_counter() - p0))

        for conv in (order_conversation(0), smalltalk_conversation(1)):
            for turn in conv.turns:
                send(conv.sender, turn.text,
                     turn.kind if conv.kind == "order" else f"small talk: {turn.kind}")
        long = long_conversation(LONG_CYCLE_OURS, 60)
        for index, turn in enumerate(long.turns, start=1):
            send(long.sender, turn.text,
                 f"long conversation turn {index} ({turn.kind})" if index in (5, 60) else None)
        time.sleep(0.5)
    finally:
        bot.stop()
    traced["validate_action_result_ms"] = time_validate_action_result()
    lines = []  # both servers' logs merged by time (same machine clock)
    for source, path in debug_logs.items():
        if not path.exists():
            continue
        for raw in path.read_text(errors="replace").splitlines():
            m = re.match(r"^(\d+\.\d+) (\w+) (\S+) - (.*)$", raw)
            if m:
                lines.append((float(m.group(1)), f"{source}:{m.group(3)}", m.group(4)))
    lines.sort(key=lambda line: line[0])
    traced["turns"] = {}
    for kind, t0, t1, latency in windows:
        inside = [(t, name, msg) for t, name, msg in lines if t0 <= t <= t1]
        steps = []
        for n, (t, name, msg) in enumerate(inside):
            until = inside[n + 1][0] if n + 1 < len(inside) else t1
            steps.append({"at_ms": round(1000 * (t - t0), 1), "dur_ms": round(1000 * (until - t), 1),
                          "logger": name, "message": msg[:140], "phase": trace_phase(name, msg)})
        first = max(0.0, round(1000 * (inside[0][0] - t0), 1)) if inside else None
        traced["turns"][kind] = {
            "latency_ms": round(1000 * latency, 1), "log_lines": len(steps),
            "before_first_log_line_ms": first,
            "phases": phase_totals(steps, first),
            "detail": phase_totals(steps, first, group=False),
            "largest_steps": sorted(steps, key=lambda s: -s["dur_ms"])[:8]}
    traced["date"] = now_iso()
    traced["note"] = ("Rasa and the action server started with --debug and a logging config with "
                      "microsecond timestamps, their logs merged by time (debug logging itself adds "
                      "time, so the turn is slower than in --turns). Each step lasts from its log "
                      "line to the next line of either server.")
    if args.keep:
        log(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return traced


def time_validate_action_result() -> dict[str, float] | None:
    """Median time of Rasa's jsonschema check of one action server reply (RemoteAction.
    _validate_action_result, run on every custom action call), in a separate process."""
    code = (
        "import time, statistics\n"
        "from rasa.core.actions.action import RemoteAction\n"
        "a = RemoteAction('x', None)\n"
        "r = {'events': [{'event': 'slot', 'name': 'order_ref', 'value': '100000002'},"
        " {'event': 'slot', 'name': 'requested_slot', 'value': 'refund_reason'}],"
        " 'responses': [{'text': 'Thanks, I found order 100000002.', 'buttons': []}]}\n"
        "import jsonschema\n"
        "schema = a.action_response_format_spec()\n"
        "v = jsonschema.validators.validator_for(schema)(schema)\n"
        "def timed(f):\n"
        "    ts = []\n"
        "    for _ in range(25):\n"
        "        t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)\n"
        "    return ts[5:]\n"
        "ts = timed(lambda: a._validate_action_result(r))\n"
        "cs = timed(lambda: v.validate(r))\n"
        "print(round(1000 * min(ts), 2), round(1000 * statistics.median(ts), 2),"
        " round(1000 * statistics.median(cs), 3))\n")
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                             env={**os.environ, **BASE_ENV}, cwd=REPO)
        best, median, cached = (float(x) for x in out.stdout.strip().splitlines()[-1].split())
        return {"min_ms": best, "median_ms": median, "n": 20, "validator_built_once_median_ms": cached}
    except (subprocess.SubprocessError, ValueError, IndexError):
        return None


_POLICY_NODE = re.compile(r"Node 'run_([\w.]*Policy)\d*'")
_NLU_NODE = re.compile(r"Node 'run_([\w.]+?)\d*' running")


def trace_phase(logger_name: str, message: str) -> str:
    """What a step of the debug log is doing (the step runs from its line to the next one)."""
    if logger_name.startswith("actions:"):
        if "Finished running" in message:
            return ("action call: back to Rasa (reply JSON, HTTP, Rasa validates it with jsonschema, "
                    "utters, deserialises the events)")
        return "action server: the action's own code (database, ...)"
    logger_name = logger_name.split(":", 1)[1]
    m = _POLICY_NODE.search(message)
    if m:
        return f"policy: {m.group(1).rsplit('.', 1)[-1]}"
    if "Calling action endpoint" in message:
        return "action call: Rasa serialises the tracker, HTTP to the action server"
    m = _NLU_NODE.search(message)
    if m and "Policy" not in m.group(1):
        return f"NLU: {m.group(1).rsplit('.', 1)[-1]}"
    if "tracker_store" in logger_name or "lock_store" in logger_name:
        return "tracker / lock store"
    if logger_name.startswith("rasa.core.policies") or "ensemble" in logger_name:
        return "policy: other"
    return "Rasa: other (processor, events, graph runner)"


def phase_totals(steps: list[dict], before_first: float | None,
                 group: bool = True) -> list[dict[str, Any]]:
    totals: dict[str, float] = {}
    for step in steps:
        key = step["phase"]
        if group and key.startswith("NLU:"):
            key = "NLU (all components)"
        elif group and key.startswith("policy"):
            key = "policies (all)"
        totals[key] = totals.get(key, 0.0) + step["dur_ms"]
    if before_first is not None:
        totals["before the first log line (the HTTP request reaches Rasa)"] = before_first
    return [{"phase": k, "ms": round(v, 1)} for k, v in sorted(totals.items(), key=lambda kv: -kv[1])]


# ---------------------------------------------------------------------------------------
# --training
# ---------------------------------------------------------------------------------------


def change_one_example(data_dir: Path) -> str:
    """Edits the first example of the first intent in data/nlu.yml (in the temporary copy)."""
    path = data_dir / "nlu.yml"
    lines = path.read_text().splitlines(keepends=True)
    in_examples = False
    for i, line in enumerate(lines):
        if line.strip().startswith("examples: |"):
            in_examples = True
            continue
        if in_examples and line.lstrip().startswith("- "):
            old = line.rstrip("\n")
            lines[i] = old + " please\n"
            path.write_text("".join(lines))
            return f"{old.strip()!r} -> {(old + ' please').strip()!r} in data/nlu.yml"
    raise RuntimeError("no NLU example found to change")


def bench_training(args) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="speed_train_"))
    out: dict[str, Any] = {"date": now_iso()}
    try:
        with LoadMonitor() as overall:
            data = work / "data"
            shutil.copytree(REPO / "data", data)
            cache = work / "cache"
            log("training ours from scratch (fresh cache) ...")
            out["ours_scratch"] = rasa_train(REPO, REPO / "config.yml", REPO / "domain.yml", data,
                                             work / "models", "scratch", cache, work / "scratch.log")
            log(f"  {out['ours_scratch']['seconds']} s")
            out["changed_example"] = change_one_example(data)
            log("training ours after one NLU example changed (same cache) ...")
            out["ours_one_example_changed"] = rasa_train(REPO, REPO / "config.yml", REPO / "domain.yml",
                                                         data, work / "models", "edited", cache,
                                                         work / "edited.log")
            log(f"  {out['ours_one_example_changed']['seconds']} s")
            if not args.skip_rasa_init_training:
                project = rasa_init_project()
                copy = work / "rasa_init"
                shutil.copytree(project, copy, ignore=shutil.ignore_patterns("__pycache__", "models", ".rasa"))
                log("training the rasa init bot from scratch (fresh cache) ...")
                out["rasa_init_scratch"] = rasa_train(copy, copy / "config.yml", copy / "domain.yml",
                                                      copy / "data", work / "models", "rasa_init",
                                                      work / "cache_init", work / "init.log")
                log(f"  {out['rasa_init_scratch']['seconds']} s")
        out["load"] = overall.summary()
        out["ratios"] = {
            "one_example_changed_over_scratch": ratio(out["ours_one_example_changed"]["seconds"],
                                                      out["ours_scratch"]["seconds"]),
            "ours_scratch_over_rasa_init_scratch": ratio(out["ours_scratch"]["seconds"],
                                                         _get(out, "rasa_init_scratch", "seconds")),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


# ---------------------------------------------------------------------------------------
# --ready: `supportbot run` to every service answering
# ---------------------------------------------------------------------------------------


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def bench_ready(args) -> dict[str, Any]:
    if not MODEL.exists():
        raise SystemExit(f"no trained model at {MODEL.relative_to(REPO)}: run `make train` first")
    work = Path(tempfile.mkdtemp(prefix="speed_ready_"))
    ports = {"rasa": free_port(), "actions": free_port(), "web": free_port(), "email": free_port()}
    env = {**os.environ, **BASE_ENV,
           "SUPPORTBOT_VAR_DIR": str(work), "SUPPORTBOT_DATABASE_URL": f"sqlite:///{work / 'supportbot.db'}",
           "SUPPORTBOT_OUTBOX_DIR": str(work / "outbox"),
           "SUPPORTBOT_RASA_PORT": str(ports["rasa"]), "SUPPORTBOT_ACTION_PORT": str(ports["actions"]),
           "SUPPORTBOT_WEB_PORT": str(ports["web"]), "SUPPORTBOT_EMAIL_BRIDGE_PORT": str(ports["email"]),
           "SUPPORTBOT_RASA_URL": f"http://127.0.0.1:{ports['rasa']}"}
    checks: dict[str, Callable[[], bool]] = {
        "rasa": lambda: url_ok(f"http://127.0.0.1:{ports['rasa']}/", 1),
        "actions": lambda: url_ok(f"http://127.0.0.1:{ports['actions']}/health", 1),
        "web": lambda: url_ok(f"http://127.0.0.1:{ports['web']}/healthz", 1),
        "email": lambda: smtp_ok(ports["email"]),
    }
    out: dict[str, Any] = {"date": now_iso(), "ports": "free ports, temporary var dir and database"}
    proc = None
    try:
        with LoadMonitor() as monitor:
            t0 = time.monotonic()
            make_q = subprocess.run(["make", "-q", "install", "train"], cwd=REPO,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            out["make_up_to_date_check_s"] = round(time.monotonic() - t0, 2)
            out["make_install_train_up_to_date"] = make_q.returncode == 0
            t0 = time.monotonic()
            for argv in (["db", "upgrade"], ["db", "demo", "--if-empty"]):
                subprocess.run([str(BIN / "supportbot"), *argv], cwd=REPO, env=env, check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            out["db_step_s"] = round(time.monotonic() - t0, 2)
            log_path = work / "run.log"
            log_file = open(log_path, "w")
            t0 = time.monotonic()
            proc = subprocess.Popen([str(BIN / "supportbot"), "run"], cwd=REPO, env=env,
                                    stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
            ready: dict[str, float] = {}
            deadline = t0 + args.ready_timeout
            while len(ready) < len(checks) and time.monotonic() < deadline and proc.poll() is None:
                for name, check in checks.items():
                    if name not in ready and check():
                        ready[name] = round(time.monotonic() - t0, 2)
                time.sleep(0.2)
            out["service_ready_s"] = ready
            out["all_ready_s"] = max(ready.values()) if len(ready) == len(checks) else None
            out["supportbot_run_to_ready_s"] = out["all_ready_s"]
            if out["all_ready_s"] is not None:
                out["make_run_estimate_s"] = round(out["make_up_to_date_check_s"] + out["db_step_s"]
                                                   + out["all_ready_s"], 1)
        out["load"] = monitor.summary()
        if out["all_ready_s"] is None:
            log_file.flush()
            out["error"] = "not every service answered: " + log_path.read_text()[-1500:]
    finally:
        if proc is not None:
            kids = _descendants(proc.pid)
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=40)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            for pid in kids:  # anything the supervisor did not stop
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        shutil.rmtree(work, ignore_errors=True)
    return out


# ---------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def machine() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem = round(int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024, 1)
    return {"cpu_count": os.cpu_count(), "cpu": cpu, "mem_gb": mem, "python": platform.python_version(),
            "platform": platform.platform(), "rasa": rasa_version()}


def plot(results: dict[str, Any], path: Path) -> str | None:
    turns = results.get("turns")
    if not turns:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [1.3, 1]})
    bars = []  # (label, ours p50, ours p95, init p50, init p95)
    for phase in ("smalltalk_c1", "smalltalk_c8"):
        o = _get(turns, "phases", "ours", phase, "all") or {}
        i = _get(turns, "phases", "rasa_init", phase, "all") or {}
        bars.append((phase.replace("smalltalk_", "small talk\n"), o.get("p50_ms"), o.get("p95_ms"),
                     i.get("p50_ms"), i.get("p95_ms")))
    for phase in ("order_c1", "order_c8"):
        for kind in ("task_start", "email", "order_lookup", "refund_decision"):
            o = _get(turns, "phases", "ours", phase, "kinds", kind) or {}
            if o.get("n"):
                bars.append((f"{kind.replace('_', chr(10))}\n{phase[-2:]}", o.get("p50_ms"),
                             o.get("p95_ms"), None, None))
    xs = list(range(len(bars)))
    w = 0.38
    for offset, (p50i, p95i), label, color in ((-w / 2, (1, 2), "ours", "#1f77b4"),
                                               (w / 2, (3, 4), "rasa init", "#ff7f0e")):
        have = [x for x in xs if bars[x][p50i] is not None and bars[x][p95i] is not None]
        ax1.bar([x + offset for x in have], [bars[x][p95i] for x in have], w, color=color,
                alpha=0.35, label=f"{label} p95")
        ax1.bar([x + offset for x in have], [bars[x][p50i] for x in have], w, color=color,
                label=f"{label} p50")
    ax1.axhline(ACTION_DB_P95_MS, color="grey", ls="--", lw=1)
    ax1.text(len(xs) - 0.5, ACTION_DB_P95_MS, "100 ms", va="bottom", ha="right", fontsize=8, color="grey")
    ax1.set_xticks(xs)
    ax1.set_xticklabels([b[0] for b in bars], fontsize=7)
    ax1.set_yscale("log")
    ax1.set_ylabel("latency per REST turn (ms, log scale)")
    ax1.set_title("p50 (solid) and p95 (light) per kind of turn; c1/c8 = concurrency", fontsize=10)
    ax1.legend(fontsize=7)
    for name, color, label in (("ours", "#1f77b4", "ours"), ("rasa_init", "#ff7f0e", "rasa init")):
        med = _get(turns, "long", name, "median_ms_by_turn") or {}
        if med:
            idx = sorted(int(k) for k in med)
            ax2.plot(idx, [med[str(k)] if str(k) in med else med[k] for k in idx], ".-", color=color,
                     lw=0.8, ms=3, label=label)
    for t in (5, 60):
        ax2.axvline(t, color="grey", ls=":", lw=1)
    ax2.set_xlabel("turn in the conversation")
    ax2.set_ylabel("latency (ms, median over conversations)")
    ax2.set_title("long conversation, concurrency 1: every turn (turn 5 and 60 marked)", fontsize=10)
    ax2.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def render_report(results: dict[str, Any]) -> str:
    """benchmarks/report.py's render(template_name, results) when it exists, else jinja2 here."""
    try:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import report  # type: ignore

        if hasattr(report, "render"):
            return report.render(TEMPLATE, results)
    except ImportError:
        pass
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(str(Path(__file__).resolve().parent))
    import jinja2  # the same environment as benchmarks/report.py

    def fmt(value, spec=".3f"):
        return "—" if value is None else format(value, spec)

    def dig(value, *path):
        for step in path:
            try:
                value = value[step]
            except (KeyError, IndexError, TypeError):
                return None
        return value

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), trim_blocks=True,
                             lstrip_blocks=True, keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined, extensions=["jinja2.ext.do"])
    env.filters.update({"fmt": fmt, "dig": dig})
    env.globals.update({"fmt": fmt, "dig": dig})
    return env.get_template(TEMPLATE).render(dict(results))


def write_outputs(results: dict[str, Any]) -> None:
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    results["plot"] = plot(results, PLOT_PNG)
    RESULTS_JSON.write_text(json.dumps(results, indent=2, default=str) + "\n")
    # the JSON round trip makes the dict keys the template sees the same as on a --report run
    REPORT_MD.write_text(render_report(json.loads(RESULTS_JSON.read_text())))
    log(f"wrote {RESULTS_JSON.relative_to(REPO)}, {REPORT_MD.relative_to(REPO)}"
        + (f", {PLOT_PNG.relative_to(REPO)}" if results.get("plot") else ""))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--turns", action="store_true", help="latency/throughput of both bots")
    ap.add_argument("--trace", action="store_true", help="debug-log breakdown of one action turn")
    ap.add_argument("--training", action="store_true", help="training time from scratch / one change")
    ap.add_argument("--ready", action="store_true", help="`supportbot run` to every service answering")
    ap.add_argument("--all", action="store_true", help="--turns --trace --training --ready")
    ap.add_argument("--report", action="store_true", help="only re-render the report from the JSON")
    ap.add_argument("--quick", action="store_true", help="small scale (a smoke run, minutes)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds, alternating which bot goes first")
    ap.add_argument("--warmup", type=int, default=3, help="warm-up conversations per bot (excluded)")
    ap.add_argument("--c1-conversations", type=int, default=15, help="per round, concurrency 1")
    ap.add_argument("--c8-conversations", type=int, default=40, help="per round, concurrency 8")
    ap.add_argument("--long-conversations", type=int, default=3)
    ap.add_argument("--long-turns", type=int, default=65)
    ap.add_argument("--time-cap", type=float, default=120.0, help="seconds per phase")
    ap.add_argument("--ready-timeout", type=float, default=300.0)
    ap.add_argument("--skip-rasa-init-training", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the temporary work dirs (logs)")
    args = ap.parse_args(argv)
    if args.quick:
        args.rounds, args.warmup, args.c1_conversations = 1, 2, 5
        args.c8_conversations, args.long_conversations, args.time_cap = 16, 1, 60.0
    if args.all:
        args.turns = args.trace = args.training = args.ready = True
    if not (args.turns or args.trace or args.training or args.ready or args.report):
        ap.error("choose --turns, --trace, --training, --ready, --all or --report")

    BENCH_VAR.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    if RESULTS_JSON.exists():
        with contextlib.suppress(ValueError):
            results = json.loads(RESULTS_JSON.read_text())
    if not args.report:
        results["meta"] = {"date": now_iso(), "commit": git_commit(), "machine": machine(),
                           "command": " ".join(["benchmarks/speed_bench.py"] + (argv or sys.argv[1:]))}
    if args.training:
        results["training"] = bench_training(args)
        write_outputs(results)
    if args.turns:
        results["turns"] = bench_turns(args)
        write_outputs(results)
    if args.trace:
        results["trace"] = bench_trace(args)
        write_outputs(results)
    if args.ready:
        results["ready"] = bench_ready(args)
        write_outputs(results)
    if args.report:
        write_outputs(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
