"""`supportbot faq ...`: reindex, ask, list and show FAQ articles.

    supportbot faq reindex                    validate faq/*.md and write <var_dir>/faq_index.json
    supportbot faq ask "card declined" --json top articles with scores and confidence
    supportbot faq list [--json]              every article: id, title, client, seeds
    supportbot faq show ID [--email]          the answer as the bot sends it
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _load(args: argparse.Namespace):
    from supportbot.knowledge import KnowledgeBase

    return KnowledgeBase.load(args.faq_dir, args.index)


def _reindex(args: argparse.Namespace) -> int:
    from supportbot.knowledge import KnowledgeBase
    from supportbot.knowledge.kb import DEFAULT_FAQ_DIR, default_index_path

    faq_dir = args.faq_dir or DEFAULT_FAQ_DIR
    index_path = args.index or default_index_path()
    kb = KnowledgeBase.build(faq_dir)
    path = kb.save(index_path)
    if args.json:
        print(json.dumps({"articles": len(kb), "faq_dir": str(faq_dir), "index": str(path),
                          "fingerprint": kb.fingerprint}, indent=2))
    else:
        print(f"indexed {len(kb)} articles from {faq_dir} -> {path} (fingerprint {kb.fingerprint[:12]})")
    return 0


def _ask(args: argparse.Namespace) -> int:
    kb = _load(args)
    question = " ".join(args.question)
    hits = kb.search(question, k=args.k)
    threshold = kb.threshold if args.threshold is None else args.threshold
    answered = hits[0] if hits and hits[0].confidence >= threshold else None
    if args.json:
        print(json.dumps({
            "question": question,
            "terms": kb.analyse_question(question),
            "threshold": threshold,
            "answer": answered.article.id if answered else None,
            "hits": [h.to_dict() for h in hits],
        }, indent=2, ensure_ascii=False))
        return 0
    if not hits:
        print("no matching article")
        return 0
    for rank, h in enumerate(hits, 1):
        print(f"{rank}. {h.article.id:36} score {h.score:7.3f}  confidence {h.confidence:.2f}  {h.article.title}")
    print()
    if answered:
        print(answered.article.format_chat())
    else:
        print(f"(best confidence {hits[0].confidence:.2f} is below the threshold {threshold}: "
              "the bot would offer the titles above as buttons)")
    return 0


def _list(args: argparse.Namespace) -> int:
    kb = _load(args)
    if args.json:
        print(json.dumps([
            {"id": a.id, "title": a.title, "client": a.client, "team": a.team,
             "source_seed": list(a.source_seed), "link": a.link, "questions": len(a.questions),
             "path": str(a.path) if a.path else None}
            for a in kb
        ], indent=2, ensure_ascii=False))
        return 0
    for a in kb:
        client = f"  [{a.client}]" if a.client else ""
        print(f"{a.id:36} {a.title}{client}")
    print(f"\n{len(kb)} articles")
    return 0


def _show(args: argparse.Namespace) -> int:
    from supportbot.knowledge import FaqError

    kb = _load(args)
    article = kb.get(args.article_id)
    if article is None:
        raise FaqError(f"no article with id {args.article_id!r} (see `supportbot faq list`)")
    print(article.format_email() if args.email else article.format_chat())
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    faq = subparsers.add_parser("faq", help="FAQ knowledge base: reindex, ask, list, show",
                                description=__doc__.splitlines()[0])
    faq.set_defaults(handler=lambda args: (faq.print_help(), 2)[1])
    sub = faq.add_subparsers(dest="faq_command", metavar="SUBCOMMAND")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--faq-dir", type=Path, default=None, help="article folder (default: <project>/faq)")
        p.add_argument("--index", type=Path, default=None,
                       help="index file (default: <var_dir>/faq_index.json with the default folder)")

    p = sub.add_parser("reindex", help="validate the articles and write the index file")
    common(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_reindex)

    p = sub.add_parser("ask", help="the best articles for a question")
    common(p)
    p.add_argument("question", nargs="+")
    p.add_argument("-k", type=int, default=3, help="how many articles (default 3)")
    p.add_argument("--threshold", type=float, default=None, help="confidence needed to answer")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_ask)

    p = sub.add_parser("list", help="every article")
    common(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_list)

    p = sub.add_parser("show", help="an article's answer as the bot sends it")
    common(p)
    p.add_argument("article_id")
    p.add_argument("--email", action="store_true", help="the email version")
    p.set_defaults(handler=_show)


if __name__ == "__main__":  # pragma: no cover
    from supportbot.cli import main

    sys.exit(main(["faq", *sys.argv[1:]]))
