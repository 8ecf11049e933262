"""Outcome analytics benchmark (issue 16): a 30-day report over 100,000 conversations in PostgreSQL.

In a throwaway PostgreSQL database (dropped afterwards): generated rows of the review index
(`conversation_summaries`) and of the outcome index (`conversation_outcomes`, buyer keys with
re-contacts: about half the buyers write twice, later facts for 1 % of the conversations) are
inserted directly (the indexers are measured by benchmarks/review_bench.py and the unit tests);
`linking.refresh_derived` then derives re-contacts and later facts for every conversation
(timed), and `metrics.report` over the 30 days (every rate overall and per first task intent,
channel and model id, the days, handoffs, refunds, time to resolution) runs --runs times.
Target: p95 <= 1 s.

    .venv/bin/python benchmarks/analytics_bench.py                        # 100,000 conversations
    .venv/bin/python benchmarks/analytics_bench.py --conversations 10000  # a quick run

Results: docs/benchmarks/analytics_results.json
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from supportbot.analytics import linking, metrics  # noqa: E402
from supportbot.analytics.filters import OutcomeFilter  # noqa: E402
from supportbot.analytics.models import (  # noqa: E402
    conversation_buyer_keys,
    conversation_outcomes,
    outcome_facts,
)
from supportbot.db import migrate  # noqa: E402
from supportbot.db.engine import make_engine, session_scope  # noqa: E402
from supportbot.review.models import conversation_summaries  # noqa: E402

ADMIN_URL = os.environ.get("SUPPORTBOT_BENCH_POSTGRES_URL",
                           "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
START = datetime(2026, 10, 1, tzinfo=timezone.utc)
INTENTS = ["request_refund", "get_license", "faq", "download_invoice", None, "cancel_subscription",
           "missing_confirmation", "change_payment_method"]


def generate(n: int, rnd: random.Random) -> tuple[list[dict], list[dict], list[dict], list[dict]]:
    summaries, outcomes, keys, facts = [], [], [], []
    for i in range(n):
        cid = f"bench-{i:07d}"
        first = START + timedelta(seconds=rnd.randrange(30 * 86400))
        last = first + timedelta(seconds=rnd.randrange(60, 1800))
        handoff = rnd.random() < 0.15
        refund = rnd.choice(["issued", "declined", "none", "none", "none"])
        summaries.append(dict(
            conversation_id=cid, channel=rnd.choice(["widget", "email", "rest"]),
            first_activity=first, last_activity=last, user_turns=5, first_message="hello",
            intents=[], first_task_intent=rnd.choice(INTENTS), lowest_confidence=rnd.random(),
            fallbacks=int(rnd.random() < 0.1), actions=[], verified_order_masked=None,
            verified=rnd.random() < 0.6, refund_outcome=refund,
            refund_reason_code="refund_window_passed" if refund == "declined" else None,
            refund_amount_minor=4900 if refund == "issued" else None,
            refund_currency=rnd.choice(["EUR", "USD"]) if refund == "issued" else None,
            handoff_team="customer_service" if handoff else None,
            handoff_reason="refund_window_passed" if handoff else None,
            review_status="unreviewed", model_id=rnd.choice(["model-a", "model-b"]), events=20,
            last_event_id=i, indexed_at=last))
        end = last if rnd.random() < 0.7 else None
        outcomes.append(dict(
            conversation_id=cid, last_event_id=i, task_ended_at=end,
            seconds_to_end=int((end - first).total_seconds()) if end else None,
            window_end=(end or last) + timedelta(days=7), verification_attempted=rnd.random() < 0.7,
            csat=rnd.choice([None, None, "up", "down"]), abandoned_at=None,
            open_question_at=last if rnd.random() < 0.1 else None, computed_at=last))
        buyer = rnd.randrange(n // 2)
        keys.append(dict(conversation_id=cid, kind="email", value=f"{buyer:064x}"))
        keys.append(dict(conversation_id=cid, kind="order", value=str(buyer)))
        if rnd.random() < 0.01:
            facts.append(dict(kind="refund_reversed", occurred_at=first + timedelta(days=2),
                              conversation_id=cid, source="import", details={}, recorded_at=first))
    return summaries, outcomes, keys, facts


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--out", default=str(ROOT / "docs/benchmarks/analytics_results.json"))
    args = parser.parse_args()
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT", future=True)
    name = f"analytics_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        engine = make_engine(make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False))
        migrate.upgrade(engine)
        rows = generate(args.conversations, random.Random(16))
        t0 = time.perf_counter()
        with engine.begin() as conn:
            for table, data in zip((conversation_summaries, conversation_outcomes,
                                    conversation_buyer_keys, outcome_facts), rows, strict=True):
                for i in range(0, len(data), 10_000):
                    conn.execute(table.insert(), data[i:i + 10_000])
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        with session_scope(engine) as session:
            linking.refresh_derived(session, [r["conversation_id"] for r in rows[0]])
        derive_s = time.perf_counter() - t0
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
        scope = OutcomeFilter.from_params({"started_from": "2026-10-01", "started_to": "2026-10-30"})
        as_of = START + timedelta(days=40)
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            with session_scope(engine) as session:
                report = metrics.report(session, scope, as_of=as_of)
            times.append(time.perf_counter() - t0)
        engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()
    times.sort()
    p95 = times[max(0, int(round(0.95 * len(times))) - 1)]
    result = {
        "conversations": args.conversations, "in_scope": report.conversations.count,
        "resolved": report.rates["resolved"].count, "recontacted": report.rates["recontacted"].count,
        "runs": args.runs, "report_p50_s": round(statistics.median(times), 3),
        "report_p95_s": round(p95, 3), "report_max_s": round(times[-1], 3),
        "target_p95_s": 1.0, "load_s": round(load_s, 1), "derive_all_s": round(derive_s, 1),
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0 if p95 <= 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
