"""The refund reasons of the reseller's form: their button titles, and the phrases that map a
customer's own words to one of them.

One table for the NLU (`supportbot.nlu.pattern_entities` turns the phrases into EntityRuler
patterns) and the actions (`reason_from_text` for a reason typed instead of pressed). Plain
Python: no spaCy, no Rasa. Phrases are lower case and written as spaCy tokenises them
("does n't work" for "doesn't work").
"""
from __future__ import annotations

import re

OTHER = "other"

REFUND_REASON_TITLES: dict[str, str] = {
    "duplicate_order": "Duplicate order",
    "wrong_product_ordered": "Wrong product ordered",
    "product_not_working": "Product doesn't work",
    "no_longer_needed": "No longer needed",
    "unintended_renewal": "Didn't mean to renew",
    OTHER: "Another reason",
}

REFUND_REASON_PHRASES: dict[str, list[str]] = {
    "duplicate_order": [
        "duplicate order", "duplicated order", "double order", "ordered twice",
        "ordered it twice", "bought it twice", "bought twice", "purchased twice",
        "purchased it twice", "paid twice", "ordered two times", "ordered the same thing twice",
        "placed the order twice", "accidentally ordered twice", "two identical orders",
        "same order twice", "duplicate purchase", "double purchase", "bought the same",
        "ordered the same", "charged twice", "double charged", "double-charged",
    ],
    "wrong_product_ordered": [
        "wrong product", "wrong version", "wrong edition", "wrong license", "wrong licence",
        "wrong plan", "wrong item", "wrong software", "wrong subscription", "wrong package",
        "wrong tier", "bought the wrong", "ordered the wrong", "purchased the wrong",
        "picked the wrong", "selected the wrong", "chose the wrong", "the wrong one",
        "mac version instead", "windows version instead", "ordered by mistake",
        "bought by mistake", "purchased by mistake",
    ],
    "product_not_working": [
        "does n't work", "doesnt work", "does not work", "did n't work", "didnt work",
        "did not work", "not working", "wo n't install", "wont install", "will not install",
        "wo n't start", "does not start", "keeps crashing", "crashes", "is broken",
        "wo n't activate", "will not activate", "can not get it to work",
        "ca n't get it to work", "cant get it to work", "not compatible", "incompatible",
        "does n't run", "does not run", "is not working",
    ],
    "no_longer_needed": [
        "no longer need", "no longer needed", "do n't need it anymore",
        "dont need it anymore", "do not need it anymore", "do n't need it any more",
        "not needed anymore", "not need it anymore", "changed my mind", "no longer use",
        "do n't use it", "dont use it", "never used it", "no use for it",
        "no longer required", "do not need it", "do n't need it", "dont need it",
        "found another solution", "found an alternative",
    ],
    "unintended_renewal": [
        "unintended renewal", "unwanted renewal", "auto renewal", "auto-renewal",
        "automatic renewal", "renewed automatically", "automatically renewed",
        "auto renewed", "auto-renewed", "renewed without", "did n't want it to renew",
        "didnt want it to renew", "did not want it to renew", "forgot to cancel",
        "did n't want to renew", "did not want to renew", "did n't know it would renew",
        "did n't mean to renew", "did not mean to renew", "didnt mean to renew",
        "did not know it would renew", "renewal i did n't want", "renewal i did not want",
        "unexpected renewal", "renewed by itself", "renewed on its own",
    ],
}

# spaCy's split of contractions ("doesn't" -> "does", "n't"), words, single punctuation marks
_TOKEN = re.compile(r"n't|\w+(?=n't)|\w+|[^\w\s]")
# ... and of the same contractions typed without the apostrophe ("doesnt" -> "does", "nt")
_NT_WORDS = frozenset({
    "aint", "arent", "cant", "couldnt", "didnt", "doesnt", "dont", "hadnt", "hasnt", "havent",
    "isnt", "mustnt", "neednt", "shouldnt", "wasnt", "werent", "wont", "wouldnt",
})


def tokens(text: str) -> list[str]:
    """Lower-case tokens, contractions split as spaCy's English tokenizer splits them."""
    out: list[str] = []
    for token in _TOKEN.findall((text or "").lower().replace("\u2019", "'")):
        if token in _NT_WORDS:
            out += [token[:-2], "nt"]
        else:
            out.append(token)
    return out


_PHRASE_TOKENS = [(code, tuple(tokens(phrase)))
                  for code, phrases in REFUND_REASON_PHRASES.items() for phrase in phrases]


def reason_from_text(text: str) -> str:
    """A reason code of the form for a code, a button title or the customer's words
    (the earliest, then longest, phrase found); `"other"` when none matches."""
    lowered = (text or "").strip().lower()
    if lowered in REFUND_REASON_TITLES:
        return lowered
    for code, title in REFUND_REASON_TITLES.items():
        if lowered == title.lower():
            return code
    words = tokens(lowered)
    best: tuple[int, int, str] | None = None  # (start, -length, code)
    for code, phrase in _PHRASE_TOKENS:
        size = len(phrase)
        for start in range(len(words) - size + 1):
            if tuple(words[start:start + size]) == phrase:
                candidate = (start, -size, code)
                if best is None or candidate[:2] < best[:2]:
                    best = candidate
                break
    return best[2] if best else OTHER
