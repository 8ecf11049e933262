"""FAQ knowledge base: Markdown articles in faq/ and a BM25 retriever over spaCy tokens.

    from supportbot.knowledge import KnowledgeBase
    kb = KnowledgeBase.load()
    hit = kb.answer("why was my card declined")   # Hit(article, score, confidence) or None
    hits = kb.search("invoice", k=3)               # best first
    kb.get("card-declined").format_chat()

See docs/faq.md for the article format and `supportbot faq --help` for the commands.
"""
from supportbot.knowledge.articles import Article, FaqError, Link, parse_article
from supportbot.knowledge.kb import Hit, KnowledgeBase, default_knowledge_base
from supportbot.knowledge.retriever import RetrieverConfig

__all__ = [
    "Article",
    "FaqError",
    "Hit",
    "KnowledgeBase",
    "Link",
    "RetrieverConfig",
    "default_knowledge_base",
    "parse_article",
]
