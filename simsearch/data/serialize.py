"""Records as one text for a language model, the way Ditto (Li et al. 2021) writes them.

- `serialize_records`: every field as `COL name VAL value`, in order, empty values kept (a
  missing brand says something too);
- `normalize_value`: lower case; numbers without currency signs, thousands separators and
  trailing zeros (`$1,299.00` -> `1299`); product codes joined across the hyphens, slashes
  and dots inside them (`KDL-40V4100`, `kdl/40v4100` -> `kdl40v4100`), so that the two shops'
  spellings of a code meet as one string before subword tokenisation splits it;
- `summarize`: a value longer than its share of the word budget keeps its highest-TF-IDF words,
  in their order (Ditto's summariser), so a long description does not push the title and the
  price out of the encoder's sequence.

Pure Python over strings: the record towers' serialiser layer and the cross-encoder both call it.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "fit_idf",
    "fit_serialization",
    "normalize_value",
    "serialize_record",
    "serialize_records",
    "summarize",
    "word_budgets",
]

_NUMBER = re.compile(r"^[$€£]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$")
# A code: runs of letters and digits joined by - / . (`kdl-40v4100`, `sd/2gb`), with a digit and a
# letter somewhere; `40-inch` joins too, which is harmless (both spellings meet the same way).
_CODE = re.compile(r"^[a-z0-9]+([-/.][a-z0-9]+)+$")
_SPLIT = re.compile(r"[\s;:()\[\]{}\"'!?|*]+")


def _number(word: str) -> str:
    digits = word.lstrip("$€£").replace(",", "")
    if "." in digits:
        digits = digits.rstrip("0").rstrip(".")
    return digits or "0"


def _is_code(word: str) -> bool:
    return any(c.isdigit() for c in word) and any(c.isalpha() for c in word)


def normalize_value(text: str) -> str:
    """`text` lower-cased, its numbers and product codes written one way.

    Example:
    >>> normalize_value("Sony KDL-40V4100 40'' LCD, $1,299.00")
    'sony kdl40v4100 40 lcd 1299'
    """
    words = []
    for word in _SPLIT.split(text.lower()):
        word = word.strip(".,-/")
        if not word:
            continue
        if _NUMBER.match(word):
            words.append(_number(word))
        elif _CODE.match(word) and _is_code(word):
            words.append(re.sub(r"[-/.]", "", word))
        else:
            words.append(word)
    return " ".join(words)


def fit_idf(texts: Iterable[str]) -> dict[str, float]:
    """Smoothed inverse document frequency of each word of the (normalised) `texts`:
    `log((1 + n) / (1 + df)) + 1`, as scikit-learn's `TfidfVectorizer`."""
    df: Counter[str] = Counter()
    n = 0
    for text in texts:
        n += 1
        df.update(set(text.split()))
    return {word: math.log((1 + n) / (1 + count)) + 1.0 for word, count in df.items()}


def summarize(words: Sequence[str], idf: Mapping[str, float], keep: int) -> list[str]:
    """The `keep` words of `words` with the highest TF-IDF (sublinear: `(1 + log count) * idf`,
    so a repeated common word does not crowd out a rare one; a word unseen in training counts as
    the rarest), in their order; ties go to the earlier word.

    Example:
    >>> summarize("the black sony tv the".split(), {"the": 1.0, "black": 2.0, "sony": 3.0}, 2)
    ['sony', 'tv']
    """
    if len(words) <= keep:
        return list(words)
    rarest = max(idf.values(), default=1.0)
    counts = Counter(words)
    weight = [(1.0 + math.log(counts[w])) * idf.get(w, rarest) for w in words]
    order = sorted(range(len(words)), key=lambda i: (-weight[i], i))
    chosen = sorted(order[: max(keep, 0)])
    return [words[i] for i in chosen]


def word_budgets(lengths: Sequence[int], budget: int) -> list[int]:
    """How many words each value keeps so that all fit in `budget`: values shorter than an
    equal share keep all theirs, the rest share what is left equally (water-filling).

    Example:
    >>> word_budgets([3, 50, 20], 30)
    [3, 14, 13]
    """
    if sum(lengths) <= budget:
        return list(lengths)
    kept = [0] * len(lengths)
    left, open_ = budget, sorted(range(len(lengths)), key=lambda i: lengths[i])
    while open_:
        share = left // len(open_)
        i = open_[0]
        if lengths[i] <= share:  # the shortest fits its share: it keeps all of it
            kept[i] = lengths[i]
            left -= lengths[i]
            open_.pop(0)
            continue
        for rank, j in enumerate(sorted(open_)):  # the rest split what is left, earlier first
            kept[j] = share + (1 if rank < left - share * len(open_) else 0)
        break
    return kept


def serialize_record(
    fields: Sequence[str], values: Sequence[str], idf: Mapping[str, float], max_words: int
) -> str:
    """One record as `COL field VAL value ...`, values normalised and summarised to `max_words`
    words in all (the `COL`/`VAL` markers and field names not counted).

    Example:
    >>> serialize_record(["name", "price"], ["Sony KDL-40V4100", "$999.00"], {}, 64)
    'COL name VAL sony kdl40v4100 COL price VAL 999'
    """
    words = [normalize_value(value).split() for value in values]
    budgets = word_budgets([len(w) for w in words], max_words)
    parts = []
    for name, value, keep in zip(fields, words, budgets, strict=True):
        text = " ".join(summarize(value, idf, keep))
        parts.append(f"COL {name} VAL {text}".rstrip())
    return " ".join(parts)


def serialize_records(
    fields: Sequence[str],
    columns: Sequence[Sequence[str]],
    idf: Mapping[str, float],
    max_words: int,
) -> list[str]:
    """`serialize_record` of each row of `columns` (one sequence of strings per field)."""
    return [serialize_record(fields, row, idf, max_words) for row in zip(*columns, strict=True)]


def fit_serialization(columns: Sequence[Sequence[str]], max_words: int) -> dict[str, Any]:
    """The settings `serialize_records` needs, fitted on training records (one sequence of
    strings per field): `{"max_words": max_words, "idf": fit_idf(their normalised words)}`."""
    values = (" ".join(normalize_value(v) for v in row) for row in zip(*columns, strict=True))
    return {"max_words": int(max_words), "idf": fit_idf(values)}
