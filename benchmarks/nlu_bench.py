#!/usr/bin/env python
"""NLU benchmark: our pipeline (config.yml) against rasa init's default (benchmarks/default_config.yml).

Each pipeline is trained once on a stratified 80 % split of our training examples (fixed seed)
and scores the held-out 20 % and the external test sets in ../shared/benchmarks/external_intents/
(intents.csv; intents_bitext.csv reported separately); only aggregate numbers are kept. The
figures go to docs/benchmarks/nlu_results.json, one confusion-matrix PNG per evaluation of our
model next to it, and docs/benchmarks/nlu.md is rendered from the JSON with
benchmarks/templates/nlu.md.j2 (benchmarks/report.py). Set-up, scoring rule and what the figures
mean: docs/benchmarks/nlu-notes.md. Models are trained into a temporary directory.

    .venv/bin/python benchmarks/nlu_bench.py [--ours-only | --default-only] [--reuse-default]
                     [--full-data] [--skip-external] [--config FILE] [--no-report]
                     [--show-heldout-errors]
    .venv/bin/python benchmarks/nlu_bench.py --latency [MODEL]     # parse time, no training
    .venv/bin/python benchmarks/nlu_bench.py --report-only [--note TEXT]   # re-render only

--full-data also trains ours on 100 % (the model the bot ships) and scores the external sets.
--default-only trains only the default pipeline and keeps its figures in
docs/benchmarks/nlu_default_results.json; --reuse-default takes them from there (or from the last
results) instead of training it (about an hour on 2 cores) when the training data and the default
config have the same digests; --report-only fills them in from there when the results lack them.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import datetime as dt
import json
import logging
import os
import platform
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")

REPO = Path(__file__).resolve().parents[1]
EXTERNAL_DIR = REPO / ".." / "shared" / "benchmarks" / "external_intents"
OUR_CONFIG = REPO / "config.yml"
DEFAULT_CONFIG = REPO / "benchmarks" / "default_config.yml"
REPORT_DIR = REPO / "docs" / "benchmarks"
RESULTS_JSON = REPORT_DIR / "nlu_results.json"
REPORT_MD = REPORT_DIR / "nlu.md"
TEMPLATE = "nlu.md.j2"
SHIPPED_MODEL = REPO / "models" / "supportbot.tar.gz"
DEFAULT_RESULTS_JSON = REPORT_DIR / "nlu_default_results.json"
SEED = 42
TRAIN_FRAC = 0.8
FALLBACK = "nlu_fallback"
CSV_NAMES = {"external": "intents.csv", "bitext": "intents_bitext.csv"}
OOS = "out_of_scope"

sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
import report  # noqa: E402

logger = logging.getLogger("nlu_bench")


# ---------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------


def nlu_files() -> list[Path]:
    files = [REPO / "data" / "nlu.yml"] + sorted((REPO / "data" / "nlu").glob("*.yml"))
    return [f for f in files if f.exists()]


def load_our_data():
    from rasa.shared.nlu.training_data.loading import load_data

    merged = None
    for f in nlu_files():
        td = load_data(str(f))
        merged = td if merged is None else merged.merge(td)
    return merged


def write_training_data(td, path: Path) -> Path:
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLWriter

    path.parent.mkdir(parents=True, exist_ok=True)
    RasaYAMLWriter().dump(path, td)
    return path


def data_digest() -> str:
    """SHA-256 over the NLU training files: results are only comparable on the same data."""
    import hashlib

    h = hashlib.sha256()
    for f in nlu_files():
        h.update(f.relative_to(REPO).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def file_digest(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return [row for row in csv.DictReader(fh)]


# ---------------------------------------------------------------------------------------
# training and parsing
# ---------------------------------------------------------------------------------------


def train(config: Path, data_path: Path, out_dir: Path, name: str) -> tuple[str, float]:
    from rasa.model_training import train_nlu

    started = time.monotonic()
    model = train_nlu(
        config=str(config), nlu_data=str(data_path), output=str(out_dir), fixed_model_name=name
    )
    took = time.monotonic() - started
    if not model:
        raise RuntimeError(f"training {name} failed")
    print(f"  trained {name} in {took:.0f}s", flush=True)
    return model, took


@contextlib.contextmanager
def _silenced():
    """Nothing a parse logs reaches the terminal or a log file: Rasa's processor logs every
    parsed text at debug level, and the external test texts must never be shown."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


def _quiet_rasa_logging() -> None:
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)
    for name in ("rasa", "rasa.core.processor", "tensorflow", "absl"):
        logging.getLogger(name).setLevel(logging.ERROR)


def parse(model_path: str, texts: Sequence[str],
          seconds: list[float] | None = None) -> list[dict]:
    """Rasa's parse result for each text, with nothing printed or logged (and, if `seconds` is
    given, the wall-clock time of each parse appended to it)."""
    from rasa.core.agent import Agent

    _quiet_rasa_logging()
    loop = asyncio.new_event_loop()
    parsed = []
    try:
        with _silenced():
            agent = Agent.load(model_path)
            _quiet_rasa_logging()
            for text in texts:
                started = time.perf_counter()
                parsed.append(loop.run_until_complete(agent.parse_message(text)))
                if seconds is not None:
                    seconds.append(time.perf_counter() - started)
        return parsed
    finally:
        loop.close()


def measure_latency(model_path: str, texts: Sequence[str]) -> dict:
    """Per-message parse time of a trained model (one message at a time, after a warm-up)."""
    import numpy as np

    seconds: list[float] = []
    parse(model_path, [texts[0], *texts], seconds)
    ms = np.array(seconds[1:]) * 1000  # the first parse warms the model up
    return {"model": str(model_path), "n": len(texts), "median_ms": float(np.median(ms)),
            "p95_ms": float(np.percentile(ms, 95)), "max_ms": float(ms.max()),
            "date": dt.date.today().isoformat(), "machine": f"{platform.machine()}, "
            f"{os.cpu_count()} cores"}


def predict(model_path: str, texts: Sequence[str]) -> list[str]:
    return [(parsed.get("intent") or {}).get("name") or FALLBACK
            for parsed in parse(model_path, texts)]


# ---------------------------------------------------------------------------------------
# scoring
# ---------------------------------------------------------------------------------------


def adjust(gold: Sequence[str], pred: Sequence[str]) -> list[str]:
    """nlu_fallback counts as out_of_scope only where the gold intent is out_of_scope."""
    return [OOS if (p == FALLBACK and g == OOS) else p for g, p in zip(gold, pred, strict=False)]


def score(gold: Sequence[str], pred: Sequence[str]) -> dict:
    from sklearn.metrics import f1_score

    adj = adjust(gold, pred)
    labels = sorted(set(gold))
    n = len(gold)
    correct = sum(g == a for g, a in zip(gold, adj, strict=False))
    per_intent = {}
    for label in labels:
        idx = [i for i, g in enumerate(gold) if g == label]
        hits = sum(adj[i] == label for i in idx)
        per_intent[label] = {"support": len(idx), "recall": hits / len(idx) if idx else 0.0}
    fallback = sum(p == FALLBACK for p in pred)
    confident_wrong = sum(p != FALLBACK and g != a for g, p, a in zip(gold, pred, adj, strict=False))
    confusions = Counter((g, a) for g, a in zip(gold, adj, strict=False) if g != a)
    return {
        "n": n,
        "accuracy": correct / n if n else 0.0,
        "macro_f1": float(f1_score(gold, adj, labels=labels, average="macro", zero_division=0)),
        "fallback_rate": fallback / n if n else 0.0,
        "confident_wrong_rate": confident_wrong / n if n else 0.0,
        "per_intent": per_intent,
        "top_confusions": [
            {"gold": g, "pred": p, "count": c} for (g, p), c in confusions.most_common(10)
        ],
    }


def per_source_accuracy(rows: list[dict[str, str]], pred: Sequence[str]) -> dict[str, dict]:
    gold = [r["intent"] for r in rows]
    adj = adjust(gold, pred)
    by: dict[str, list[bool]] = defaultdict(list)
    for r, g, a in zip(rows, gold, adj, strict=False):
        by[r.get("source_dataset") or "?"].append(g == a)
    return {k: {"n": len(v), "accuracy": sum(v) / len(v)} for k, v in sorted(by.items())}


def confusion_png(gold: Sequence[str], pred: Sequence[str], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    adj = adjust(gold, pred)
    rows = sorted(set(gold))
    cols = rows + sorted(set(adj) - set(rows))
    m = np.zeros((len(rows), len(cols)), dtype=int)
    for g, a in zip(gold, adj, strict=False):
        m[rows.index(g), cols.index(a)] += 1
    norm = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    size = max(6.0, 0.42 * len(cols) + 3)
    fig, ax = plt.subplots(figsize=(size, max(5.0, 0.42 * len(rows) + 2.5)))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(cols)))
    ax.set_xticklabels(cols, rotation=75, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(rows, fontsize=8)
    for i in range(len(rows)):
        for j in range(len(cols)):
            if m[i, j]:
                ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=6,
                        color="white" if norm[i, j] > 0.6 else "black")
    ax.set_xlabel("predicted (nlu_fallback counted as out_of_scope only for gold out_of_scope)")
    ax.set_ylabel("gold")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------------------------
# results and report
# ---------------------------------------------------------------------------------------


def _pipeline_yaml(config: Path) -> str:
    import yaml

    doc = yaml.safe_load(config.read_text(encoding="utf-8"))
    return yaml.safe_dump({"pipeline": doc.get("pipeline")}, sort_keys=False)


def load_results(path: Path = RESULTS_JSON) -> dict:
    return report.load_results(path)


def save_results(saved: dict, path: Path = RESULTS_JSON) -> Path:
    return report.save_results(saved, path)


def write_report(saved: dict, path: Path = REPORT_MD) -> Path:
    """docs/benchmarks/nlu.md rendered from `saved` ({"meta": ..., "results": ...})."""
    return report.write_report(TEMPLATE, saved, path)


# ---------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------


def merge_default(results: dict, meta: dict, saved: dict) -> None:
    """Copy the default pipeline's figures from an earlier run on the same data."""
    meta["default_from"] = saved["meta"]["date"]
    meta["train_seconds"]["default"] = saved["meta"]["train_seconds"].get("default")
    for key, res in saved["results"].items():
        if key in results and "default" in res:
            results[key]["default"] = res["default"]
            if res.get("by_source", {}).get("default"):
                results[key]["by_source"]["default"] = res["by_source"]["default"]


def saved_default_for(digest: str, paths=(DEFAULT_RESULTS_JSON, RESULTS_JSON)) -> dict | None:
    """Saved default-pipeline figures measured on the same data and default config, if any
    (the --default-only cache first, then the last full run)."""
    for path in paths:
        saved = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        meta = saved.get("meta", {})
        if meta.get("data_digest") == digest \
                and meta.get("default_config_digest") == file_digest(DEFAULT_CONFIG) \
                and any("default" in r for r in saved.get("results", {}).values()):
            return saved
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ours-only", action="store_true", help="skip the default pipeline")
    ap.add_argument("--config", type=Path, default=OUR_CONFIG,
                    help="our config to benchmark (default: config.yml)")
    ap.add_argument("--skip-external", action="store_true")
    ap.add_argument("--no-report", action="store_true", help="print numbers, write no files")
    ap.add_argument("--report-only", action="store_true",
                    help="rewrite docs/benchmarks/nlu.md from docs/benchmarks/nlu_results.json (no training)")
    ap.add_argument("--note", default=None,
                    help="with --report-only: a caveat printed under the summary")
    ap.add_argument("--default-only", action="store_true",
                    help="train and score only the default pipeline; its figures go to "
                         f"{DEFAULT_RESULTS_JSON.name} for a later --reuse-default")
    ap.add_argument("--reuse-default", action="store_true",
                    help="reuse the default pipeline's saved results when the training data and "
                         "benchmarks/default_config.yml are unchanged (same digests); it takes "
                         "~1 h to train on 2 cores")
    ap.add_argument("--full-data", action="store_true",
                    help="also train ours on 100 %% of the data and score the external sets")
    ap.add_argument("--latency", nargs="?", const=str(SHIPPED_MODEL), default=None,
                    metavar="MODEL",
                    help="time parsing 500 held-out messages one by one with a trained model "
                         "(default: the shipped models/supportbot.tar.gz) and add it to the "
                         "report; no training")
    ap.add_argument("--show-heldout-errors", action="store_true",
                    help="print misclassified HELD-OUT examples (our own data only)")
    args = ap.parse_args(argv)

    logging.basicConfig(level=logging.WARNING)
    for noisy in ("rasa", "tensorflow", "absl", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    os.chdir(REPO)

    if args.latency:
        if not Path(args.latency).exists():
            ap.error(f"no trained model at {args.latency} (run `make train`)")
        _, test_td = load_our_data().train_test_split(train_frac=TRAIN_FRAC, random_seed=SEED)
        texts = [m.get("text") for m in test_td.intent_examples][:500]
        latency = measure_latency(args.latency, texts)
        print(f"parse time per message: median {latency['median_ms']:.1f} ms, p95 "
              f"{latency['p95_ms']:.1f} ms, max {latency['max_ms']:.1f} ms (n={latency['n']})")
        if RESULTS_JSON.exists() and not args.no_report:
            saved = load_results()
            saved["meta"]["latency"] = latency
            save_results(saved)
            print(f"report: {write_report(saved).relative_to(REPO)}")
        return 0

    if args.report_only:
        saved = load_results()
        if saved["meta"].get("pipeline_yaml") != _pipeline_yaml(args.config.resolve()):
            print(f"note: the pipeline of {args.config.name} is not the one measured; the report "
                  "shows the measured one (re-run the benchmark to measure the new one)")
        default = None
        if not any("default" in r for r in saved["results"].values()):
            default = saved_default_for(saved["meta"].get("data_digest", ""),
                                        paths=(DEFAULT_RESULTS_JSON,))
            if default:
                merge_default(saved["results"], saved["meta"], default)
                print(f"default pipeline: figures of {default['meta']['date']} from "
                      f"{DEFAULT_RESULTS_JSON.name} (same training data)")
        if args.note:
            saved["meta"]["note"] = args.note
        if args.note or default:
            save_results(saved)
        print(f"report: {write_report(saved).relative_to(REPO)}")
        return 0

    td = load_our_data()
    digest = data_digest()
    if args.ours_only and args.default_only:
        ap.error("--ours-only and --default-only exclude each other")
    configs = {} if args.default_only else {"ours": args.config.resolve()}
    reused_default = None
    if not args.ours_only:
        if args.reuse_default and not args.default_only:
            reused_default = saved_default_for(digest)
            if reused_default:
                print(f"default pipeline: reusing results of {reused_default['meta']['date']} "
                      f"(same training data, digest {digest[:12]})", flush=True)
        if reused_default is None:
            configs["default"] = DEFAULT_CONFIG
    results: dict[str, dict] = {}
    meta: dict = {
        "date": dt.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "n_examples": len(td.intent_examples),
        "n_intents": len(td.intents),
        "seed": SEED,
        "train_frac": TRAIN_FRAC,
        "data_digest": digest,
        "default_config_digest": file_digest(DEFAULT_CONFIG),
        "train_seconds": {},
        "pngs": {},
    }
    meta["pipeline_yaml"] = _pipeline_yaml(args.config.resolve())
    print(f"our data: {meta['n_examples']} examples, {meta['n_intents']} intents", flush=True)

    sets: dict[str, list[dict[str, str]]] = {}
    if not args.skip_external:
        for key, fname in CSV_NAMES.items():
            path = EXTERNAL_DIR / fname
            if path.exists():
                sets[key] = read_csv(path)
            else:
                print(f"external set missing: {path}", flush=True)

    with tempfile.TemporaryDirectory(prefix="nlu_bench_") as tmp:
        tmpdir = Path(tmp)
        # One model per pipeline, trained on the same stratified split of our data, scores the
        # held-out rest and every external set (so each pipeline is trained once).
        train_td, test_td = td.train_test_split(train_frac=TRAIN_FRAC, random_seed=SEED)
        train_file = write_training_data(train_td, tmpdir / "split" / "train.yml")
        evals = {"heldout": ([m.get("text") for m in test_td.intent_examples],
                             [m.get("intent") for m in test_td.intent_examples], None)}
        for key, rows in sets.items():
            evals[key] = ([r["text"] for r in rows], [r["intent"] for r in rows], rows)
        for key in evals:
            results[key] = {"by_source": {}}
        for name, cfg in configs.items():
            print(f"training {name} on {len(train_td.intent_examples)} examples "
                  f"({TRAIN_FRAC * 100:.0f} %)", flush=True)
            model, took = train(cfg, train_file, tmpdir / "models", name)
            meta["train_seconds"][name] = took
            for key, (texts, gold, rows) in evals.items():
                pred = predict(model, texts)
                r = results[key][name] = score(gold, pred)
                if rows:
                    results[key]["by_source"][name] = per_source_accuracy(rows, pred)
                oos = r["per_intent"].get(OOS, {}).get("recall")
                print(f"  {name} on {key}: accuracy {r['accuracy']:.3f}, macro-F1 "
                      f"{r['macro_f1']:.3f}, out_of_scope recall {report.fmt(oos)}", flush=True)
                if name == "ours" and not args.no_report:
                    png = REPORT_DIR / f"nlu_confusion_{key}.png"
                    title = ("ours, held-out 20 % of our data" if key == "heldout"
                             else f"ours, external {CSV_NAMES[key]}")
                    confusion_png(gold, pred, title, png)
                    meta["pngs"][key] = png.name
                if name == "ours" and key == "heldout" and args.show_heldout_errors:
                    for t, g, p in zip(texts, gold, adjust(gold, pred), strict=False):
                        if g != p:
                            print(f"    [{g} -> {p}] {t}")
        if args.full_data and sets and "ours" in configs:
            # Ours once more, trained on 100 % of our data (what the bot ships), external only.
            full_file = write_training_data(td, tmpdir / "full" / "train.yml")
            print(f"training ours on 100 % ({meta['n_examples']} examples)", flush=True)
            model, took = train(configs["ours"], full_file, tmpdir / "models", "ours_full")
            meta["train_seconds"]["ours_full"] = took
            for key, rows in sets.items():
                r = results[key]["ours_full"] = score([x["intent"] for x in rows],
                                                      predict(model, [x["text"] for x in rows]))
                print(f"  ours (100 %) on {key}: accuracy {r['accuracy']:.3f}", flush=True)

    if reused_default:
        merge_default(results, meta, reused_default)

    if args.default_only:
        save_results({"meta": meta, "results": results}, DEFAULT_RESULTS_JSON)
        print(f"default pipeline figures: {DEFAULT_RESULTS_JSON.relative_to(REPO)}")
        return 0

    saved = {"meta": meta, "results": results}
    print()
    print(report.render(TEMPLATE, saved))
    if not args.no_report:
        save_results(saved)
        print(f"results: {RESULTS_JSON.relative_to(REPO)}; "
              f"report: {write_report(saved).relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
