"""Review index benchmark (issue 15): 100,000 generated conversations (~1.5 M events) in PostgreSQL.

Measures, in a throwaway PostgreSQL database (dropped afterwards unless --keep):
  - the full index of every conversation (Indexer.run_once from an empty index),
  - indexing 1,000 new conversations (target <= 10 s),
  - the console's list with two filters + full-text search, p50/p95/max over many queries
    (target p95 <= 300 ms; each query = count + one page of 50, as the console runs it),
  - the process memory (RSS) across those queries (should stay flat).

Events are written in the shape Rasa's SQLTrackerStore stores them (`events`: sender_id,
type_name, timestamp, intent_name, action_name, data = the event's as_dict() JSON) with COPY;
customer texts are drawn from the project's NLU examples (data/nlu), so full-text search sees
realistic words. The core gets handoff tickets, refund requests, refunds (issued and failed)
and verifications for some conversations, so the indexer's joins do real work.

    .venv/bin/python benchmarks/review_bench.py                       # 100,000 conversations
    .venv/bin/python benchmarks/review_bench.py --conversations 5000  # a quick run
    .venv/bin/python benchmarks/review_bench.py --report              # re-render the report

Results: docs/benchmarks/review_results.json -> docs/benchmarks/review.md
(benchmarks/templates/review.md.j2, benchmarks/report.py).
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import io
import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import yaml  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from report import write_report  # noqa: E402
from supportbot.db import migrate  # noqa: E402
from supportbot.db.demo import load_demo  # noqa: E402
from supportbot.db.engine import make_engine, session_scope  # noqa: E402
from supportbot.review.indexer import Indexer  # noqa: E402
from supportbot.review.queries import ConversationFilter, list_conversations  # noqa: E402

DOCS = REPO / "docs" / "benchmarks"
RESULTS_JSON = DOCS / "review_results.json"
REPORT_MD = DOCS / "review.md"
TEMPLATE = "review.md.j2"
ADMIN_URL = os.environ.get("SUPPORTBOT_BENCH_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
ANCHOR = dt.datetime(2024, 6, 3, 12, 0, tzinfo=dt.timezone.utc)
MODEL_ID = "20241203-120000-bench-model"
TARGET_LIST_P95_MS = 300.0
TARGET_INDEX_1000_S = 10.0

TASKS = ["request_refund", "refund_status", "unknown_charge", "duplicate_charge", "get_license",
         "missing_confirmation", "cancel_subscription", "subscription_status", "download_invoice",
         "change_payment_method", "card_declined", "faq", "tax_question", "contact_human",
         "technical_support", "payment_missing", "quote_request"]
BOT_REPLIES = [
    "What is the email address of your order?", "And the order reference, please?",
    "I found your order. I sent a code to the purchase email address.",
    "Done: the refund is on its way back to your card.",
    "I passed this to our Customer Service team; they will reply by email.",
    "Our Payment Processing team will look into the charge.",
    "You can download your invoice from the link I sent to your email address.",
    "Sorry, I did not get that. Could you rephrase?",
]


def log(message: str) -> None:
    print(f"[review-bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def nlu_examples() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted((REPO / "data" / "nlu").glob("*.yml")):
        for item in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu") or ():
            if isinstance(item, dict) and item.get("intent") and isinstance(item.get("examples"), str):
                lines = [line.strip()[2:] for line in item["examples"].splitlines() if line.strip().startswith("- ")]
                found.setdefault(item["intent"], []).extend(lines)
    return found


class Generator:
    """Conversations as `events` rows (and the core rows they caused), deterministic per seed."""

    def __init__(self, seed: int, examples: dict[str, list[str]]):
        self.rnd = random.Random(seed)
        self.examples = examples
        self.tasks = [t for t in TASKS if t in examples]

    def _user(self, ts: float, said: str, intent: str, confidence: float, channel: str) -> dict:
        ranking = [{"name": intent, "confidence": confidence},
                   {"name": self.rnd.choice(self.tasks), "confidence": round((1 - confidence) * 0.6, 4)}]
        metadata = {"channel": channel, "client_address": "127.0.0.1"}
        return {"event": "user", "timestamp": ts, "metadata": {**metadata, "model_id": MODEL_ID},
                "text": said, "parse_data": {"intent": {"name": intent, "confidence": confidence},
                                             "entities": [], "text": said, "message_id": uuid.uuid4().hex,
                                             "metadata": metadata, "intent_ranking": ranking},
                "input_channel": "socketio" if channel == "widget" else "rest", "message_id": uuid.uuid4().hex}

    @staticmethod
    def _action(ts: float, name: str) -> dict:
        return {"event": "action", "timestamp": ts, "metadata": {"model_id": MODEL_ID}, "name": name,
                "policy": "RulePolicy", "confidence": 1.0, "action_text": None, "hide_rule_turn": False}

    @staticmethod
    def _bot(ts: float, said: str) -> dict:
        return {"event": "bot", "timestamp": ts, "metadata": {"model_id": MODEL_ID}, "text": said,
                "data": {"elements": None, "quick_replies": None, "buttons": None, "attachment": None,
                         "image": None, "custom": None}}

    def conversation(self, cid: str, start: float) -> tuple[list[tuple], dict[str, Any]]:
        """(events rows, what the core should record: refund / ticket / verified)."""
        rnd = self.rnd
        channel = rnd.choices(["widget", "rest", "email"], [5, 3, 2])[0]
        events: list[dict] = [
            self._action(start, "action_session_start"),
            {"event": "session_started", "timestamp": start + 0.001, "metadata": {"model_id": MODEL_ID}},
            self._action(start + 0.002, "action_listen"),
        ]
        ts = start + 1
        task = rnd.choice(self.tasks)
        fallback = rnd.random() < 0.08
        turns = rnd.choice([2, 3, 3, 3, 4])
        for turn in range(turns):
            intent = task if turn == 0 else rnd.choice(["inform", "affirm", "thanks", task])
            if fallback and turn == 1:
                intent = "nlu_fallback"
            said = rnd.choice(self.examples.get(intent) or self.examples[task])
            confidence = round(rnd.uniform(0.15, 0.45) if intent == "nlu_fallback" else rnd.uniform(0.5, 0.99), 4)
            events.append(self._user(ts, said, intent, confidence, channel))
            action = "action_default_fallback" if intent == "nlu_fallback" else (
                "action_start_task" if turn == 0 else "verify_order_form")
            events.append(self._action(ts + 0.1, action))
            events.append(self._bot(ts + 0.2, rnd.choice(BOT_REPLIES)))
            events.append(self._action(ts + 0.3, "action_listen"))
            ts += rnd.uniform(5, 60)
        roll = rnd.random()
        effects = {"channel": channel, "at": ts}
        if task == "request_refund" or roll < 0.10:
            effects["verified"] = rnd.random() < 0.8
            outcome = rnd.choices(["issued", "declined", "failed", "none"], [5, 4, 1, 2])[0]
            effects["refund"] = outcome if effects["verified"] else "none"
        if task == "contact_human" or effects.get("refund") == "declined" or roll > 0.96:
            effects["ticket"] = rnd.choice(["customer_service", "payment_processing"])
        rows = [(cid, e["event"], e["timestamp"],
                 e.get("parse_data", {}).get("intent", {}).get("name"), e.get("name"), json.dumps(e))
                for e in events]
        return rows, effects


def _copy(engine, table: str, columns: list[str], rows: list[tuple]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow(["\\N" if v is None else v for v in row])
    buffer.seek(0)
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor:
            cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')",
                               buffer)
        raw.commit()
    finally:
        raw.close()


class Loader:
    """Writes generated conversations and their core rows (tickets, refund requests, refunds,
    verifications) in chunks."""

    def __init__(self, engine, generator: Generator):
        self.engine = engine
        self.gen = generator
        with engine.connect() as conn:
            self.order_id = conn.execute(text("SELECT min(id) FROM orders")).scalar_one()
            self.next_refund = (conn.execute(text("SELECT coalesce(max(id), 0) FROM refunds")).scalar_one()
                                + 1_000_000)
        self.amount = 1000

    def load(self, n: int, prefix: str, start: float, chunk: int = 5000) -> int:
        events = 0
        for first in range(0, n, chunk):
            event_rows, tickets, requests, refunds, verifications = [], [], [], [], []
            for i in range(first, min(n, first + chunk)):
                cid = f"{prefix}-{i:06d}"
                rows, effects = self.gen.conversation(cid, start + i * 7.3)
                event_rows.extend(rows)
                at = dt.datetime.fromtimestamp(effects["at"], dt.timezone.utc).isoformat()
                if effects.get("verified"):
                    verifications.append((cid, self.order_id, "email_and_reference", at))
                refund = effects.get("refund")
                if refund in ("issued", "failed"):
                    self.next_refund += 1
                    self.amount += 1
                    refunds.append((self.next_refund, self.order_id, self.amount, "EUR",
                                    "completed" if refund == "issued" else "failed", "no_longer_needed",
                                    "credit_card", "visa", "4242", "self_service", f"bench-{cid}", at,
                                    at if refund == "issued" else None))
                    requests.append((f"bench-{cid}", self.order_id, cid, "no_longer_needed", False, True,
                                     "refunded" if refund == "issued" else "handed_off", None,
                                     json.dumps({"reasons": [] if refund == "issued" else ["refund_failed"],
                                                 "outcome": "automatic_refund", "explanation": "",
                                                 "handoff_reason": None if refund == "issued" else "refund_failed"}),
                                     self.next_refund, at))
                elif refund == "declined":
                    requests.append((f"bench-{cid}", self.order_id, cid, "no_longer_needed", False, False,
                                     "handed_off", "customer_service",
                                     json.dumps({"reasons": ["refund_window_passed"], "outcome": "handoff",
                                                 "explanation": "past the window",
                                                 "handoff_reason": "refund_window_passed"}), None, at))
                if effects.get("ticket"):
                    reason = "refund_window_passed" if refund == "declined" else "customer_request"
                    tickets.append((effects["ticket"], reason, cid, "generated ticket", "open", at,
                                    "not_configured", 0))
            _copy(self.engine, "events", ["sender_id", "type_name", "timestamp", "intent_name", "action_name",
                                          "data"], event_rows)
            if verifications:
                _copy(self.engine, "conversation_verifications",
                      ["conversation_id", "order_id", "method", "verified_at"], verifications)
            if refunds:
                _copy(self.engine, "refunds", ["id", "order_id", "amount_minor", "currency", "status", "reason",
                                               "method", "card_brand", "card_last4", "source",
                                               "provider_idempotency_key", "requested_at", "refunded_at"], refunds)
            if requests:
                _copy(self.engine, "refund_requests", ["idempotency_key", "order_id", "conversation_id", "reason",
                                                       "vat_refund", "automatic", "outcome", "team", "decision",
                                                       "refund_id", "created_at"], requests)
            if tickets:
                _copy(self.engine, "handoff_tickets", ["team", "reason_code", "conversation_id", "summary",
                                                       "status", "created_at", "delivery_status",
                                                       "delivery_attempts"], tickets)
            events += len(event_rows)
        return events


def rss_mb() -> float:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


QUERY_WORDS = ["refund", "charge", "invoice", "license", "subscription", "card", "order", "payment",
               "money back", "cancel", "email", "key"]


def list_queries() -> list[tuple[str, dict[str, str]]]:
    """(label, filter params): two filters + a full-text search, as a lead would combine them."""
    shapes = [
        ("channel + refund + text", {"channel": "widget", "refund": "declined"}),
        ("intent + fallback + text", {"intent": "request_refund", "had_fallback": "false"}),
        ("team + date range + text", {"team": "customer_service", "date_from": "2024-06-03"}),
        ("verified + confidence + text", {"verified": "true", "confidence_max": "0.6"}),
        ("channel + review status + text", {"channel": "email", "review_status": "unreviewed"}),
    ]
    out = []
    for word in QUERY_WORDS:
        for label, params in shapes:
            out.append((label, {**params, "text": word}))
    return out


def bench_queries(engine, rounds: int) -> dict[str, Any]:
    queries = list_queries()
    with session_scope(engine) as session:  # warm-up: caches as in a running console
        for _label, params in queries:
            list_conversations(session, ConversationFilter.from_params(params), page=1, page_size=50)
    rss_before = rss_mb()
    timings: dict[str, list[float]] = {}
    totals: dict[str, list[int]] = {}
    for _ in range(rounds):
        for label, params in queries:
            flt = ConversationFilter.from_params(params)
            t0 = time.perf_counter()
            with session_scope(engine) as session:
                page = list_conversations(session, flt, page=1, page_size=50)
            timings.setdefault(label, []).append((time.perf_counter() - t0) * 1000)
            totals.setdefault(label, []).append(page.total)
    rss_after = rss_mb()
    every = [t for ts in timings.values() for t in ts]
    return {
        "n": len(every), "p50_ms": round(statistics.median(every), 1), "p95_ms": round(percentile(every, 95), 1),
        "max_ms": round(max(every), 1), "target_p95_ms": TARGET_LIST_P95_MS,
        "by_shape": {label: {"n": len(ts), "p50_ms": round(statistics.median(ts), 1),
                             "p95_ms": round(percentile(ts, 95), 1),
                             "median_total": int(statistics.median(totals[label]))}
                     for label, ts in timings.items()},
        "rss_mb_before": rss_before, "rss_mb_after": rss_after,
    }


def machine() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"cpu": cpu, "cores": os.cpu_count()}


def git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def run(args: argparse.Namespace) -> dict[str, Any]:
    admin = create_engine(ADMIN_URL, future=True, isolation_level="AUTOCOMMIT")
    name = f"review_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
        version = conn.execute(text("SHOW server_version")).scalar_one()
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    try:
        log(f"database {name}: migrating, demo data, Rasa's events table")
        migrate.upgrade(engine)
        load_demo(engine, now=ANCHOR, extra_orders=0)
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE events (id SERIAL NOT NULL PRIMARY KEY, sender_id VARCHAR(255) "
                                 "NOT NULL, type_name VARCHAR(255) NOT NULL, timestamp FLOAT, intent_name "
                                 "VARCHAR(255), action_name VARCHAR(255), data TEXT)")
            conn.exec_driver_sql("CREATE INDEX ix_events_sender_id ON events (sender_id)")
        loader = Loader(engine, Generator(args.seed, nlu_examples()))
        start = ANCHOR.timestamp()
        t0 = time.perf_counter()
        n_events = loader.load(args.conversations, "bench", start)
        load_s = time.perf_counter() - t0
        log(f"generated {args.conversations} conversations, {n_events} events in {load_s:.1f} s")
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")

        indexer = Indexer(engine, batch=args.batch)
        t0 = time.perf_counter()
        full = indexer.run_once()
        full_s = time.perf_counter() - t0
        log(f"full index: {full.conversations} conversation batches-rows, {full.events} events in {full_s:.1f} s")
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")

        new_events = loader.load(args.new, "fresh", start + args.conversations * 7.3 + 100)
        t0 = time.perf_counter()
        incremental = indexer.run_once()
        inc_s = time.perf_counter() - t0
        log(f"{args.new} new conversations ({new_events} events) indexed in {inc_s:.2f} s")

        with engine.connect() as conn:
            indexed = conn.execute(text("SELECT count(*) FROM conversation_summaries")).scalar_one()
            sizes = {t: conn.execute(text(f"SELECT pg_total_relation_size('{t}')")).scalar_one() // (1024 * 1024)
                     for t in ("events", "conversation_summaries", "review_facets", "review_tags", "review_fts")}
        queries = bench_queries(engine, args.rounds)
        log(f"list with two filters + full text: p50 {queries['p50_ms']} ms, p95 {queries['p95_ms']} ms "
            f"over {queries['n']} queries; RSS {queries['rss_mb_before']} -> {queries['rss_mb_after']} MB")
        return {
            "meta": {"date": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
                     "commit": git_commit(), "machine": machine(), "postgres": version,
                     "command": " ".join(["benchmarks/review_bench.py", *sys.argv[1:]]), "seed": args.seed},
            "data": {"conversations": args.conversations, "events": n_events, "generate_seconds": round(load_s, 1),
                     "indexed_conversations": indexed, "table_mb": sizes},
            "full_index": {"seconds": round(full_s, 1), "events": full.events, "batches": full.batches,
                           "events_per_second": round(full.events / full_s) if full_s else None},
            "incremental": {"conversations": args.new, "events": new_events, "seconds": round(inc_s, 2),
                            "indexed_events": incremental.events, "target_seconds": TARGET_INDEX_1000_S},
            "list": queries,
        }
    finally:
        engine.dispose()
        if args.keep:
            log(f"kept database {name}")
        else:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--conversations", type=int, default=100_000)
    ap.add_argument("--new", type=int, default=1000, help="new conversations indexed incrementally")
    ap.add_argument("--batch", type=int, default=5000, help="indexer batch (events)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds over the 60 list queries")
    ap.add_argument("--seed", type=int, default=20241204)
    ap.add_argument("--keep", action="store_true", help="keep the generated database")
    ap.add_argument("--report", action="store_true", help="only re-render docs/benchmarks/review.md")
    ap.add_argument("--no-write", action="store_true", help="print the results, write no files")
    args = ap.parse_args(argv)
    if args.report:
        results = json.loads(RESULTS_JSON.read_text())
    else:
        results = run(args)
        if args.no_write:
            print(json.dumps(results, indent=2))
            return 0
        DOCS.mkdir(parents=True, exist_ok=True)
        RESULTS_JSON.write_text(json.dumps(results, indent=2) + "\n")
    write_report(TEMPLATE, json.loads(RESULTS_JSON.read_text()), REPORT_MD)
    log(f"wrote {RESULTS_JSON.relative_to(REPO)}, {REPORT_MD.relative_to(REPO)}")
    ok = (results["list"]["p95_ms"] <= TARGET_LIST_P95_MS
          and results["incremental"]["seconds"] <= TARGET_INDEX_1000_S)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
