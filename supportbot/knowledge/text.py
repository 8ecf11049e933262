"""Text normalisation for the FAQ retriever: spaCy tokens -> index terms.

Pipeline (the same for articles and questions, so they meet on the same terms):
  1. lowercase, a few regex rewrites (W-9 -> w9, e-mail -> email, "2 times" -> twice, ...)
  2. spaCy's rule-based English tokenizer (spacy.blank("en")'s rules, run without importing
     spaCy by tokenizer.py; no model download needed),
     punctuation dropped, chat shorthand expanded (u -> you, pls -> please)
  3. multi-word phrases replaced by one or more words ("money back" -> refund, "purchase order"
     -> po, "payment types" -> payment method)
  4. stop-word removal (spaCy's list minus words that matter here, plus chat filler)
  5. light suffix stemming (`stem`, a small Porter-style stemmer; -able/-ible, -xes/-ches too)
  6. a small domain thesaurus (receipt -> invoice, colleague -> staff, refuse -> decline, ...)
Questions additionally get typo correction against the index's own vocabulary (`TypoCorrector`).
`content_words` (steps 1-2 and stop words only) feeds the character n-gram index (charngrams.py).

Measured on benchmarks/faq_questions.yml (see docs/benchmarks/faq.md): stemming and the thesaurus
each add several points of top-1 accuracy over plain lowercased tokens.
"""
from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable, Iterable

from supportbot.knowledge.tokenizer import RuleTokenizer, cached_rules, is_punct

NORMALISER_VERSION = 2

# spaCy's stop words that are meaningful in support questions
KEEP_WORDS = frozenset({
    "not", "no", "never", "twice", "again", "back", "full", "part", "off", "first",
    "two", "down", "nothing", "name", "amount", "top", "empty", "used", "still",
})

# chat filler that carries no topic
EXTRA_STOP_WORDS = frozenset({
    "like", "want", "wanted", "wants", "need", "needs", "needed", "please", "thanks", "thank",
    "hi", "hello", "hey", "dear", "tell", "guys", "ok", "okay", "yes", "just", "would", "let",
})

REGEX_REWRITES: tuple[tuple[str, str], ...] = (
    (r"\bw[\s-]?8(?:[\s-]?ben(?:[\s-]?e)?)?\b", " w8 "),
    (r"\bw[\s-]?9\b", " w9 "),
    (r"\be[\s-]mails?\b", " email "),
    (r"\b(?:2|two)\s*(?:x|times)\b", " twice "),
    (r"\bauto[\s-]?renew", " auto renew"),
    (r"\bp\.?o\.?\s*(?:number|no\.?|#)", " po number"),
    (r"\bsign[\s-]?in\b|\blog[\s-]?in\b|\blogin\b", " login "),
    (r"\bcan't\b|\bcannot\b|\bcant\b", " can not "),
    (r"\bwon't\b|\bwont\b", " will not "),
    (r"\bn't\b", " not "),
    (r"\bdidnt\b", " did not "),
    (r"\bhavent\b", " have not "),
    (r"\bdoesnt\b", " does not "),
)
_COMPILED_REWRITES = tuple((re.compile(p), r) for p, r in REGEX_REWRITES)

# token sequences (lowercased surface words) replaced by one or more words before stop words
# are dropped
PHRASES: dict[tuple[str, ...], str] = {
    ("money", "back"): "refund",
    ("money", "returned"): "refund",
    ("purchase", "order"): "po",
    ("purchase", "orders"): "po",
    ("bank", "transfer"): "wire",
    ("wire", "transfer"): "wire",
    ("direct", "debit"): "directdebit",
    ("credit", "card"): "card",
    ("debit", "card"): "card",
    ("tax", "id"): "vatid",
    ("vat", "id"): "vatid",
    ("vat", "number"): "vatid",
    ("serial", "number"): "key",
    ("product", "key"): "key",
    ("activation", "code"): "key",
    ("activation", "key"): "key",
    ("registration", "code"): "key",
    ("registration", "key"): "key",
    ("license", "key"): "key",
    ("licence", "key"): "key",
    ("merchant", "of", "record"): "reseller",
    ("who", "are", "you"): "reseller",
    ("end", "date"): "expire",
    ("expiry", "date"): "expire",
    ("expiration", "date"): "expire",
    ("renewal", "date"): "expire",
    ("last", "day"): "expire",
    ("until", "when"): "expire",
    ("team", "member"): "staff",
    ("team", "members"): "staff",
    ("look", "up"): "lookup",
    ("opt", "out"): "cancel",
    ("turn", "off"): "cancel",
    ("switch", "off"): "cancel",
    ("not", "renew"): "cancel",
    ("pro", "rata"): "prorate",
    ("take", "money"): "charge",
    ("took", "money"): "charge",
    ("taken", "money"): "charge",
    ("came", "in"): "receive",
    ("come", "in"): "receive",
    ("show", "up"): "receive",
    ("showed", "up"): "receive",
    ("not", "working"): "error",
    ("not", "work"): "error",
    ("operating", "system"): "technical",
    # added with the n-gram fusion (each a general paraphrase, measured on the tuning sets):
    # "offer" is a quote only as a noun ("do you offer support ..." is not about quotes)
    ("an", "offer"): "quote",
    ("price", "offer"): "quote",
    ("formal", "offer"): "quote",
    # a program that does not start is a technical problem, like "not working"
    ("not", "open"): "error",
    ("not", "start"): "error",
    ("not", "launch"): "error",
    ("not", "load"): "error",
    ("more", "than", "once"): "duplicate",
    ("payment", "type"): "payment method",
    ("payment", "types"): "payment method",
    ("reverse", "charge"): "vat",
}
_MAX_PHRASE = max(len(k) for k in PHRASES)

# chat shorthand, applied to single words before anything else
SHORTHAND: dict[str, str] = {
    "u": "you", "r": "are", "ur": "your", "pls": "please", "plz": "please", "thx": "thanks",
    "acct": "account", "pmt": "payment", "info": "information", "msg": "message",
}

# surface word -> canonical surface word: a small domain thesaurus (both sides of a match are
# normalised the same way afterwards, so only the canonical word needs to occur in articles)
SYNONYMS: dict[str, str] = {
    # documents
    "receipt": "invoice",
    "licence": "license",
    "serial": "key",
    # declined payments
    "refuse": "decline",
    "reject": "decline",
    "deny": "decline",
    "denied": "decline",
    # refunds and charges
    "reimburse": "refund",
    "reimbursement": "refund",
    "repay": "refund",
    "debit": "charge",
    "transaction": "charge",
    "overcharge": "overpayment",
    "overpaid": "overpayment",
    "overpay": "overpayment",
    "underpaid": "underpayment",
    "underpay": "underpayment",
    "double": "duplicate",
    "partial": "part",
    "partly": "part",
    "twice": "duplicate",
    "prorated": "prorate",
    # cards
    "visa": "card",
    "mastercard": "card",
    "amex": "card",
    # people
    "colleague": "staff",
    "employee": "staff",
    "coworker": "staff",
    "user": "staff",
    "human": "person",
    "agent": "person",
    "representative": "person",
    "operator": "person",
    "department": "team",
    "developer": "vendor",
    "maker": "vendor",
    "manufacturer": "vendor",
    "publisher": "vendor",
    # subscriptions
    "unsubscribe": "cancel",
    "stop": "cancel",
    "recurring": "renew",
    "autorenew": "renew",
    "expiry": "expire",
    "expiration": "expire",
    "valid": "expire",
    "validity": "expire",
    "test": "trial",
    # modifying things
    "update": "change",
    "edit": "change",
    "modify": "change",
    "switch": "change",
    "swap": "change",
    "replace": "change",
    "amend": "change",
    # quotes
    "quotation": "quote",
    "estimate": "quote",
    "seat": "license",
    # technical problems
    "crash": "error",
    "freeze": "error",
    "bug": "error",
    "glitch": "error",
    "compatibility": "technical",
    "compatible": "technical",
    "redownload": "download",
    # unknown charges
    "recognize": "recognise",
    "unrecognised": "recognise",
    "unrecognized": "recognise",
    "unfamiliar": "unknown",
    "fraud": "unknown",
    "scam": "unknown",
    "suspicious": "unknown",
    "legit": "unknown",
    # currencies (the article speaks of "currencies", customers name one)
    "euro": "currency",
    "eur": "currency",
    "dollar": "currency",
    "usd": "currency",
    "yen": "currency",
    "pound": "currency",
    "gbp": "currency",
    "franc": "currency",
    "chf": "currency",
    "yuan": "currency",
    "rupee": "currency",
    # mail
    "paid": "pay",
    "mail": "email",
    "mailbox": "inbox",
    "junk": "spam",
    "arrive": "receive",
    # history and bookkeeping
    "past": "history",
    "previous": "history",
    "earlier": "history",
    "bookkeeping": "accounting",
    "accountant": "accounting",
    "speak": "contact",
    "talk": "contact",
    "reach": "contact",
}

_VOWELS = set("aeiouy")


def _has_vowel(s: str) -> bool:
    return any(c in _VOWELS for c in s)


def stem(word: str) -> str:
    """A light English suffix stemmer: plurals, -ed/-ing, -ly and a few derivational endings.

    Deliberately conservative (words of 3 letters or fewer are left alone) so that forms such
    as "bill"/"billing", "renew"/"renewal" or "activate"/"activation" meet, while
    "card"/"care" never do.
    """
    w = word
    if len(w) <= 3 or not w.isalpha():
        return w
    # plurals
    if w.endswith("sses") or w.endswith(("xes", "ches", "shes", "zzes")):
        w = w[:-2]  # taxes -> tax, switches -> switch
    elif w.endswith("ies") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    # past tense / gerund
    for suffix in ("ing", "ed"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3 and _has_vowel(w[: -len(suffix)]):
            w = w[: -len(suffix)]
            if len(w) >= 4 and w[-1] == w[-2] and w[-1] not in "lsz" + "".join(_VOWELS):
                w = w[:-1]  # getting -> get, stopped -> stop (billing stays bill)
            break
    # -able/-ible adjectives and their -ity nouns ("refundable", "cancellable", "eligibility")
    for suffix in ("ability", "ibility", "able", "ible"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 4:
            w = w[: -len(suffix)]
            break
    # derivational endings, longest first, at most twice ("automatically" -> "automatic")
    for _ in range(2):
        for suffix in ("ation", "ement", "ment", "ness", "ful", "ly", "al", "er", "ate", "at"):
            if w.endswith(suffix) and len(w) - len(suffix) >= 4:
                w = w[: -len(suffix)]
                break
        else:
            break
    # a final silent e, y/i variation and doubled final consonants (cancelled -> cancel)
    if w.endswith("e") and len(w) > 4:
        w = w[:-1]
    if w.endswith("y") and len(w) > 4 and w[-2] not in _VOWELS:
        w = w[:-1] + "i"
    if len(w) > 4 and w[-1] == w[-2] and w[-1] not in _VOWELS:
        w = w[:-1]
    return w


def import_spacy():
    """`import spacy` without the parts the FAQ never uses (`faq ask`: about 6x faster).

    - spaCy imports thinc, and thinc.compat imports TensorFlow (and PyTorch) whenever it is
      installed - Rasa needs TensorFlow - only to offer thinc's TensorFlow model wrappers:
      about 80% of the time of `supportbot faq ask`. Unless TensorFlow is already loaded,
      thinc sees it as absent here; TensorFlow itself stays importable afterwards (the
      placeholder is removed), only thinc's TF wrappers are off in this process.
    - spacy/__init__ imports `spacy.cli.info` (typer, pkg_resources, requests ...) for the
      `spacy.info` function alone: a placeholder stands in while spaCy loads, `spacy.info`
      imports the real one when called, and `import spacy.cli` later imports the real CLI.
    The rule-based tokenizer and the stop-word list are the same either way
    (tests/unit/knowledge/test_faq_cli.py checks the tokens against a plain `import spacy`).
    """
    import sys
    import types

    if "spacy" in sys.modules:
        import spacy

        return spacy

    def info(*args, **kwargs):
        from spacy.cli.info import info as real_info

        return real_info(*args, **kwargs)

    cli = types.ModuleType("spacy.cli")
    cli.__path__ = []  # a package in which no submodule is found
    cli_info = types.ModuleType("spacy.cli.info")
    cli.info = cli_info.info = info  # type: ignore[attr-defined]
    # None in sys.modules makes `import tensorflow` raise ImportError
    absent = {name: None for name in ("tensorflow", "torch") if name not in sys.modules}
    stubs = {} if "spacy.cli" in sys.modules else {"spacy.cli": cli, "spacy.cli.info": cli_info}

    def install(modules: dict) -> None:
        sys.modules.update(modules)

    def remove(modules: dict) -> None:
        for name, module in modules.items():
            if name in sys.modules and sys.modules[name] is module:
                del sys.modules[name]

    install(absent)
    try:
        install(stubs)
        try:
            import spacy
        finally:
            remove(stubs)
    except ImportError:  # a spaCy that needs more of its CLI at import: the ordinary way
        for name in [n for n in sys.modules if n == "spacy" or n.startswith("spacy.")]:
            del sys.modules[name]
        import spacy
    finally:
        remove(absent)
    return spacy


@functools.lru_cache(maxsize=1)
def _stop_words() -> frozenset[str]:
    return frozenset(w for w in cached_rules()["stop_words"] if w not in KEEP_WORDS) | EXTRA_STOP_WORDS


@functools.lru_cache(maxsize=1)
def _tokenizer() -> Callable[[str], list[str]]:
    """spaCy's English tokenizer rules, run without importing spaCy (tokenizer.py)."""
    return RuleTokenizer(cached_rules())


def words(text: str) -> list[str]:
    """Lowercased surface words (spaCy's tokens without punctuation), after regex rewrites."""
    text = text.lower()
    for pattern, repl in _COMPILED_REWRITES:
        text = pattern.sub(repl, text)
    out = []
    for token in _tokenizer()(text):
        if is_punct(token):
            continue  # quotes and brackets that are not punctuation are stripped just below
        t = token.strip("'’`\"-_.,;:!?*#()[]")
        if len(t) == 1 and not t.isdigit() and t not in SHORTHAND:
            continue  # stray letters ("what's" -> "s")
        if t:
            out.append(SHORTHAND.get(t, t))
    return out


def is_stop_word(word: str) -> bool:
    return word in _stop_words()


def content_words(text: str) -> list[str]:
    """`words(text)` without stop words: the input of the character n-gram index."""
    stop = _stop_words()
    return [w for w in words(text) if w not in stop]


def _apply_phrases(tokens: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(tokens):
        for size in range(min(_MAX_PHRASE, len(tokens) - i), 1, -1):
            repl = PHRASES.get(tuple(tokens[i : i + size]))
            if repl is not None:
                out.extend(repl.split())
                i += size
                break
        else:
            out.append(tokens[i])
            i += 1
    return out


_IZE = re.compile(r"iz(e|ed|es|ing|ation|ations)$")
MODES = ("stem", "none")


class Normaliser:
    """Surface words -> index terms. `mode` picks the word normalisation:

    stem   the light suffix stemmer above (default)
    none   lowercase only (for comparison in the benchmark)

    spaCy lookup lemmas (package spacy-lookups-data, ~90 MB) were measured too and did no better
    than `stem` on the benchmark (see docs/faq.md), so the project does not depend on them.
    """

    def __init__(self, mode: str = "stem", synonyms: bool = True):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.mode = mode
        self.use_synonyms = synonyms
        self._cache: dict[str, str] = {}
        self._synonyms = {self._base(k): self._base(v) for k, v in SYNONYMS.items()} if synonyms else {}

    @property
    def signature(self) -> str:
        """Changes whenever normalisation would produce different terms (invalidates saved indexes)."""
        payload = json.dumps(
            [NORMALISER_VERSION, self.mode, self.use_synonyms, REGEX_REWRITES, sorted(KEEP_WORDS),
             sorted(EXTRA_STOP_WORDS),
             sorted([" ".join(k), v] for k, v in PHRASES.items()), sorted(SYNONYMS.items()),
             sorted(SHORTHAND.items())],
            sort_keys=True,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def _base(self, word: str) -> str:
        word = _IZE.sub(r"is\1", word)
        if self.mode == "stem":
            word = stem(word)
        return word

    def term(self, word: str) -> str:
        """One surface word -> its index term ("" when it is dropped as a stop word)."""
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        if word in _stop_words():
            result = ""
        else:
            base = self._base(word)
            result = self._synonyms.get(base, base)
        self._cache[word] = result
        return result

    def terms_from_words(self, tokens: Iterable[str]) -> list[str]:
        out = []
        for tok in _apply_phrases(list(tokens)):
            t = self.term(tok)
            if t:
                out.append(t)
        return out

    def analyse(self, text: str) -> list[str]:
        """Text -> index terms (articles; questions go through typo correction first)."""
        return self.terms_from_words(words(text))


def _edit_distance(a: str, b: str, limit: int) -> int:
    """Damerau-Levenshtein (optimal string alignment) distance, early exit above `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        best = cur[0]
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
            best = min(best, cur[j])
        if best > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


class TypoCorrector:
    """Maps an unknown question word to the closest word of the index vocabulary.

    Only words of 4+ letters are corrected, and only when neither the word nor its index term is
    known (so "refunding" stays, its stem is indexed) and it is not a stop word: one edit for
    words up to 7 letters, two for longer ones; candidates share the first letter (typos rarely
    hit it); ties go to the more frequent word.
    """

    def __init__(self, vocabulary: dict[str, int], is_known: Callable[[str], bool] | None = None):
        self.vocabulary = vocabulary  # surface word -> corpus frequency
        self.is_known = is_known
        self._by_first: dict[str, list[str]] = {}
        for w in vocabulary:
            if len(w) >= 3:
                self._by_first.setdefault(w[:1], []).append(w)

    def correct(self, word: str) -> str:
        if len(word) < 4 or not word.isalpha() or word in self.vocabulary or word in _stop_words():
            return word
        if self.is_known is not None and self.is_known(word):
            return word
        limit = 1 if len(word) <= 7 else 2
        best, best_key = word, None
        for cand in self._by_first.get(word[:1], ()):
            d = _edit_distance(word, cand, limit)
            if d <= limit:
                key = (d, -self.vocabulary[cand], cand)
                if best_key is None or key < best_key:
                    best, best_key = cand, key
        return best

    def correct_all(self, tokens: Iterable[str]) -> list[str]:
        return [self.correct(t) for t in tokens]
