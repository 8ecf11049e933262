"""A Report as data (JSON), as Markdown (with every definition and a link per number) and as PNG
charts (matplotlib, Agg backend, imported only when charts are drawn). What `supportbot review
report --from --to --format md|json` writes; no web code."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from supportbot.analytics.filters import OutcomeFilter
from supportbot.analytics.metrics import RATES, Count, Rate, Report

LIST_PATH = "/conversations"  # the console's list; it reads the filter from the query string
DEFINITIONS = {m.name: m.definition for m in RATES}
TITLES = {m.name: m.title for m in RATES}


def link(flt: OutcomeFilter, base_url: str = "") -> str:
    return f"{base_url}{LIST_PATH}?{urlencode(flt.to_params())}"


def _rate(rate: Rate, base_url: str) -> dict[str, Any]:
    return {"count": rate.count, "denominator": rate.denominator, "value": rate.value,
            "low": rate.interval.low if rate.interval else None,
            "high": rate.interval.high if rate.interval else None,
            "link": link(rate.filter, base_url),
            "denominator_link": link(rate.denominator_filter, base_url)}


def _count(count: Count, base_url: str) -> dict[str, Any]:
    return {"count": count.count, "link": link(count.filter, base_url)}


def to_dict(report: Report, base_url: str = "") -> dict[str, Any]:
    return {
        "as_of": report.as_of.isoformat(),
        "scope": dict(report.scope.to_params()),
        "definitions": DEFINITIONS,
        "conversations": _count(report.conversations, base_url),
        "rates": {name: _rate(rate, base_url) for name, rate in report.rates.items()},
        "breakdowns": {
            dimension: {value: {"conversations": _count(group.conversations, base_url),
                                "rates": {n: _rate(r, base_url) for n, r in group.rates.items()}}
                        for value, group in groups.items()}
            for dimension, groups in report.breakdowns.items()},
        "per_day": [{"day": d.day.isoformat(), "channel": d.channel, "count": d.count,
                     "link": link(d.filter, base_url)} for d in report.per_day],
        "handoffs": [{"team": h.team, "reason": h.reason, **_rate(h.rate, base_url)}
                     for h in report.handoffs],
        "refunds_issued": [{"currency": r.currency, "count": r.count, "amount_minor": r.amount_minor,
                            "link": link(r.filter, base_url)} for r in report.refunds_issued],
        "refunds_not_issued": [{"outcome": r.outcome, "reason_code": r.reason_code, "count": r.count,
                                "link": link(r.filter, base_url)} for r in report.refunds_not_issued],
        "time_to_resolution": {"count": report.time_to_resolution.count,
                               "median_seconds": report.time_to_resolution.median_seconds,
                               "p90_seconds": report.time_to_resolution.p90_seconds,
                               "link": link(report.time_to_resolution.filter, base_url)},
    }


def _pct(rate: Rate) -> str:
    if rate.value is None or rate.interval is None:
        return "— (no cases)"
    return (f"{rate.value:.1%} ({rate.count}/{rate.denominator}; 95 % "
            f"{rate.interval.low:.1%}–{rate.interval.high:.1%})")


def _minor(amount: int) -> str:
    return f"{amount // 100}.{amount % 100:02d}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    minutes, rest = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {rest:02d} s"


def to_markdown(report: Report, *, title: str = "Support bot outcomes", base_url: str = "",
                charts: Mapping[str, Path] | None = None) -> str:
    lines = [f"# {title}", "",
             f"As of {report.as_of.isoformat(timespec='minutes')}; scope: "
             + (", ".join(f"{k}={v}" for k, v in report.scope.to_params() if k != "as_of") or "all")
             + ". Definitions: docs/metrics.md.", "",
             f"**Conversations: [{report.conversations.count}]({link(report.conversations.filter, base_url)})**",
             "", "| metric | value | definition |", "|---|---|---|"]
    for name, rate in report.rates.items():
        lines.append(f"| {TITLES[name]} | [{_pct(rate)}]({link(rate.filter, base_url)}) | "
                     f"{DEFINITIONS[name]} |")
    ttr = report.time_to_resolution
    lines += ["", f"Time to resolution ([{ttr.count} resolved]({link(ttr.filter, base_url)})): "
              f"median {_duration(ttr.median_seconds)}, 90th percentile {_duration(ttr.p90_seconds)}."]
    for name, heading in (("first_task_intent", "Per first task intent"),
                          ("channel", "Per channel"), ("model_id", "Per model")):
        lines += ["", f"## {heading}", "",
                  "| " + name + " | conversations | " + " | ".join(TITLES[m.name] for m in RATES) + " |",
                  "|---|---|" + "---|" * len(RATES)]
        for value, group in report.breakdowns[name].items():
            cells = [f"[{_pct(group.rates[m.name])}]({link(group.rates[m.name].filter, base_url)})"
                     for m in RATES]
            lines.append(f"| {value} | [{group.conversations.count}]"
                         f"({link(group.conversations.filter, base_url)}) | " + " | ".join(cells) + " |")
    lines += ["", "## Handoffs by team and reason", "", "| team | reason | share |", "|---|---|---|"]
    lines += [f"| {h.team} | {h.reason} | [{_pct(h.rate)}]({link(h.rate.filter, base_url)}) |"
              for h in report.handoffs] or ["| — | — | — |"]
    lines += ["", "## Automatic refunds", "", "| outcome | reason / currency | count | amount |",
              "|---|---|---|---|"]
    lines += [f"| issued | {r.currency} | [{r.count}]({link(r.filter, base_url)}) | "
              f"{_minor(r.amount_minor)} {r.currency} |" for r in report.refunds_issued]
    lines += [f"| {r.outcome} | {r.reason_code} | [{r.count}]({link(r.filter, base_url)}) | — |"
              for r in report.refunds_not_issued]
    lines += ["", "## Conversations per day and channel", "", "| day | channel | conversations |",
              "|---|---|---|"]
    lines += [f"| {d.day.isoformat()} | {d.channel} | [{d.count}]({link(d.filter, base_url)}) |"
              for d in report.per_day]
    for name, path in (charts or {}).items():
        lines += ["", f"![{name}]({path.name})"]
    return "\n".join(lines) + "\n"


def draw_charts(report: Report, out_dir: Path) -> dict[str, Path]:
    """PNG charts next to the report: conversations per day (stacked by channel) and the
    resolution rate per first task intent with its 95 % intervals."""
    import matplotlib  # type: ignore[import-untyped]

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    days = sorted({d.day for d in report.per_day})
    channels = sorted({d.channel for d in report.per_day})
    counts = {(d.day, d.channel): d.count for d in report.per_day}
    fig, ax = plt.subplots(figsize=(8, 3.5))
    bottom = [0] * len(days)
    for channel in channels:
        heights = [counts.get((day, channel), 0) for day in days]
        ax.bar([_label(day) for day in days], heights, bottom=bottom, label=channel)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    ax.set_title("Conversations per day and channel")
    ax.legend()
    ax.tick_params(axis="x", labelrotation=45)
    fig.tight_layout()
    written["per_day"] = out_dir / "conversations-per-day.png"
    fig.savefig(written["per_day"], dpi=100)
    plt.close(fig)

    groups = [(k, g.rates["resolved"]) for k, g in report.breakdowns["first_task_intent"].items()
              if g.rates["resolved"].interval is not None]
    fig, ax = plt.subplots(figsize=(8, 3.5))
    if groups:
        values = [r.value or 0.0 for _, r in groups]
        low = [v - r.interval.low for v, (_, r) in zip(values, groups, strict=True) if r.interval]
        high = [r.interval.high - v for v, (_, r) in zip(values, groups, strict=True) if r.interval]
        ax.bar([k for k, _ in groups], values, yerr=[low, high], capsize=4)
    ax.set_ylim(0, 1)
    ax.set_title("Resolved per first task intent (95 % Wilson intervals)")
    ax.tick_params(axis="x", labelrotation=30)
    fig.tight_layout()
    written["resolved_per_intent"] = out_dir / "resolved-per-intent.png"
    fig.savefig(written["resolved_per_intent"], dpi=100)
    plt.close(fig)
    return written


def _label(day: date | datetime) -> str:
    return day.strftime("%m-%d")
