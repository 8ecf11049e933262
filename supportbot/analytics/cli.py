"""`supportbot review report --from DATE --to DATE --format md|json`: the weekly outcome report.

Registered by supportbot/review/cli.py (`register_report(sub, common)`). It advances the review
index and the outcome index first (both incremental), then writes:
  md    <out>/report.md with every metric, its definition and a link per number, and the PNG
        charts next to it (default <out>: var/reports/<from>_<to>/)
  json  the same numbers as JSON to --out FILE or stdout
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from supportbot.review.errors import ReviewError

FORMATS = ("md", "json")


class ReportError(ReviewError):
    exit_code = 2


def cmd_report(args: argparse.Namespace) -> int:
    from supportbot.analytics import report as rendering
    from supportbot.analytics.filters import OutcomeFilter, parse_param
    from supportbot.analytics.service import AnalyticsService
    from supportbot.db.engine import make_engine
    from supportbot.settings import Settings

    settings = Settings.from_env()
    params = {"started_from": args.date_from, "started_to": args.date_to, "channel": args.channel,
              "model_id": args.model_id}
    scope = OutcomeFilter.from_params({k: v for k, v in params.items() if v})
    as_of = parse_param("as_of", args.as_of) if args.as_of else None
    base_url = args.base_url if args.base_url is not None else \
        f"http://{settings.console_host}:{settings.console_port}"
    engine = make_engine(args.url or settings.database_url)
    try:
        service = AnalyticsService(engine)
        if not args.no_reindex:
            service.reindex()
        result = service.report(scope, as_of=as_of)
    finally:
        engine.dispose()
    if args.format == "json":
        text = json.dumps(rendering.to_dict(result, base_url=base_url), indent=2, sort_keys=True)
        if args.out:
            Path(args.out).write_text(text + "\n", encoding="utf-8")
            print(f"wrote {args.out}", file=sys.stderr)
        else:
            print(text)
        return 0
    out_dir = Path(args.out) if args.out else \
        settings.var_dir / "reports" / f"{args.date_from}_{args.date_to}"
    charts = rendering.draw_charts(result, out_dir)
    title = f"Support bot outcomes {args.date_from} – {args.date_to}"
    (out_dir / "report.md").write_text(
        rendering.to_markdown(result, title=title, base_url=base_url, charts=charts), encoding="utf-8")
    print(f"wrote {out_dir / 'report.md'} and {len(charts)} charts", file=sys.stderr)
    return 0


def register_report(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    report = sub.add_parser("report", help="outcome report (md with PNG charts, or json)")
    common(report)
    report.add_argument("--from", dest="date_from", required=True, metavar="YYYY-MM-DD",
                        help="first UTC day (by the conversations' first activity)")
    report.add_argument("--to", dest="date_to", required=True, metavar="YYYY-MM-DD",
                        help="last UTC day, inclusive")
    report.add_argument("--format", required=True, choices=FORMATS)
    report.add_argument("--out", metavar="PATH", help="md: a directory; json: a file (default: stdout)")
    report.add_argument("--channel", help="only this channel (widget, email, rest)")
    report.add_argument("--model-id", dest="model_id", help="only this model id")
    report.add_argument("--as-of", dest="as_of", metavar="TIME",
                        help="count as of this time (ISO 8601; default: now)")
    report.add_argument("--base-url", dest="base_url",
                        help="the console's address for the links (default: SUPPORTBOT_CONSOLE_HOST/PORT)")
    report.add_argument("--no-reindex", action="store_true", help="do not advance the indexes first")
    report.set_defaults(handler=cmd_report)
