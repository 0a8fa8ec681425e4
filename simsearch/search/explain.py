"""Why the model judged two items alike or not: per-field similarities and occlusion.

For any tower, over callables: `encode(items) -> (n, dim) float32` (items are records, dicts of
fields, or texts), `distance(u, v) -> (n,)` and optionally `score_pairs(u, v) -> (n,)` P(same).
Each explanation re-encodes variants of the pair:

- a field dropped from both items (left blank): how much the field moved the decider, the
  distance (`change = distance without it - distance with it`) or the head's probability
  (`change = probability with it - probability without it`); positive pulls the pair together;
- the field alone (every other field blank): its own similarity, `1 - distance` for cosine;
- each word both items' field has, dropped from both, and the words only one has, dropped
  together: the words that moved the decider most (`"dsc-w800 / dsc-w830" -0.08`).

So a pair identical but for a code field names the code field first when it is judged different:
the fields are listed in the order they moved the decision (toward "same" when the pair is judged
the same, toward "different" otherwise; by size without a decision), fields blank on a side last.

Example:
>>> explanation = explain_pair(a, b, model.encode, model.distance, same=False)
>>> explanation.lines()
['title differs 0.92 (-0.03): "dsc-w800 / dsc-w830" -0.08, "camera" +0.01', 'brand agrees 1.00 (+0.05)']
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from simsearch.errors import ConfigError

__all__ = ["Explanation", "FieldEffect", "explain_pair", "explain_pairs"]

Encode = Callable[[list[Any]], npt.ArrayLike]
PairFunction = Callable[[np.ndarray, np.ndarray], npt.ArrayLike]

TEXT = "text"  # the one field of a text item
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class FieldEffect:
    """One field's part in a comparison.

    Attributes:
        field: the field's name (`"text"` for a text item).
        state: `"agrees"`, `"differs"` or `"missing"` (blank on a side). A field agrees when,
            alone, it is within the distance threshold (without one: when it pulls the pair
            together).
        similarity: `1 - distance` of the field alone for cosine, `-distance` for l2.
        change: how much the field moved the decider toward "same" (occlusion; see the module).
        weight: the tower's learned weights of the field, where it has them (record tower).
        tokens: the words that moved the decision most, `(word, change)`, in the fields' order;
            the words only one item has are one entry, `"a / b"`.
    """

    field: str
    state: Literal["agrees", "differs", "missing"]
    similarity: float
    change: float
    weight: Mapping[str, float] | None = None
    tokens: tuple[tuple[str, float], ...] = ()

    def line(self) -> str:
        """`title differs 0.92 (-0.03): "dsc-w800 / dsc-w830" -0.08`."""
        text = f"{self.field} {self.state} {self.similarity:.2f} ({self.change:+.2f})"
        if self.weight:
            text += " weight " + "/".join(f"{w:.2f}" for w in self.weight.values())
        if self.tokens:
            text += ": " + ", ".join(
                f"{json.dumps(word, ensure_ascii=False)} {c:+.2f}" for word, c in self.tokens
            )
        return text


@dataclass(frozen=True)
class Explanation:
    """Why one pair was judged alike or not: its fields, those that moved the decision first.

    Attributes:
        by: the decider the changes are in, `"distance"` or `"probability"`.
        value: the pair's distance or probability.
        same: the decision, when one was given.
        fields: one `FieldEffect` per field, in the order they moved the decision.
    """

    by: Literal["distance", "probability"]
    value: float
    same: bool | None
    fields: tuple[FieldEffect, ...] = field(default_factory=tuple)

    def lines(self) -> list[str]:
        """One short line per field, as the CLI prints them."""
        return [effect.line() for effect in self.fields]

    def as_dict(self) -> dict[str, Any]:
        """A compact, JSON-ready form: decider, value and per field `[state, similarity, change]`
        with its weights and words."""
        fields = []
        for effect in self.fields:
            entry: dict[str, Any] = {
                "field": effect.field,
                "state": effect.state,
                "similarity": round(effect.similarity, 4),
                "change": round(effect.change, 4),
            }
            if effect.weight:
                entry["weight"] = {k: round(v, 4) for k, v in effect.weight.items()}
            if effect.tokens:
                entry["tokens"] = [[word, round(c, 4)] for word, c in effect.tokens]
            fields.append(entry)
        return {"by": self.by, "value": round(self.value, 4), "fields": fields}

    def to_json(self) -> str:
        """`as_dict` as one compact JSON string (the `explain` column of `dedup`/`match`)."""
        return json.dumps(self.as_dict(), ensure_ascii=False, separators=(",", ":"))


def explain_pair(a: Any, b: Any, encode: Encode, distance: PairFunction, **options: Any) -> Explanation:
    """Explain one pair: `explain_pairs([a], [b], ...)[0]`."""
    return explain_pairs([a], [b], encode, distance, **options)[0]


def explain_pairs(
    lefts: Sequence[Any],
    rights: Sequence[Any],
    encode: Encode,
    distance: PairFunction,
    *,
    score_pairs: PairFunction | None = None,
    same: Sequence[bool | None] | np.ndarray | bool | None = None,
    distance_threshold: float | None = None,
    metric: str = "cosine",
    fields: Sequence[str] | None = None,
    weights: Mapping[str, Mapping[str, float]] | None = None,
    top_tokens: int = 3,
    max_words: int = 24,
) -> list[Explanation]:
    """Explain pairs of items (records or texts) by occlusion; see the module.

    Args:
        lefts, rights: the pairs' items: dicts of fields (records) or texts.
        encode: `encode(items) -> (n, dim)`, the tower (`SiameseModel.encode`).
        distance: `distance(u, v) -> (n,)` under the model's metric.
        score_pairs: the head's `(u, v) -> (n,)` P(same); when given, changes are in probability.
        same: each pair's decision (or one for all), to order fields by what moved it.
        distance_threshold: the distance a field alone must be within to agree.
        metric: `"cosine"` (similarity `1 - distance`) or `"l2"` (`-distance`).
        fields: the fields explained (default: each record's keys); others are left out.
        weights: the tower's per-field weights (`TowerKind.field_weights`), shown with them.
        top_tokens: words reported per field.
        max_words: at most this many shared words of a field are dropped one by one.

    Raises:
        ConfigError: sides of different lengths, an item that is neither a record nor a text.
    """
    if len(lefts) != len(rights):
        raise ConfigError(f"Expected as many left as right items. Received: {len(lefts)} and {len(rights)}")
    decisions: list[bool | None]
    if same is None or isinstance(same, (bool, np.bool_)):
        decisions = [None if same is None else bool(same)] * len(lefts)
    else:
        decisions = [None if s is None else bool(s) for s in same]
    if len(decisions) != len(lefts):
        raise ConfigError(f"Expected one decision per pair ({len(lefts)}). Received: {len(decisions)}")
    plans = [_plan(a, b, fields, max_words) for a, b in zip(lefts, rights, strict=True)]
    items = [(_item(x, is_record), _item(y, is_record)) for is_record, steps in plans for _, (x, y) in steps]
    if not items:
        return []
    u = np.asarray(encode([x for x, _ in items]), dtype=np.float32)
    v = np.asarray(encode([y for _, y in items]), dtype=np.float32)
    d = np.asarray(distance(u, v), dtype=np.float64).reshape(-1)
    p = None if score_pairs is None else np.asarray(score_pairs(u, v), dtype=np.float64).reshape(-1)
    out, start = [], 0
    for (_, steps), decision in zip(plans, decisions, strict=True):
        rows = slice(start, start + len(steps))
        start += len(steps)
        scores = Scores(d[rows], None if p is None else p[rows])
        out.append(
            _explanation(steps, scores, decision, distance_threshold, metric, weights or {}, top_tokens)
        )
    return out


Record = dict[str, Any]
Step = tuple[tuple[str, ...], tuple[Record, Record]]


@dataclass(frozen=True)
class Scores:
    """The distances (and probabilities) of one pair's variants, the pair itself first."""

    d: np.ndarray
    p: np.ndarray | None


def _record(item: Any, fields: Sequence[str] | None) -> tuple[Record, bool]:
    """An item as a record and whether it was one (a text is the record `{"text": ...}`)."""
    if isinstance(item, str):
        return {TEXT: item}, False
    if isinstance(item, Mapping):
        names = list(item) if fields is None else list(fields)
        return {name: item.get(name) for name in names}, True
    raise ConfigError(
        f"Expected a record (dict of fields) or a text to explain. Received: {type(item).__name__}"
    )


def _item(record: Record, is_record: bool) -> Any:
    return dict(record) if is_record else str(record[TEXT] or "")


def _blank(value: Any) -> Any:
    return "" if isinstance(value, str) else None


def _missing(value: Any) -> bool:
    if isinstance(value, str):
        return not value.strip()
    return value is None or (isinstance(value, float) and np.isnan(value))


def _plan(left: Any, right: Any, fields: Sequence[str] | None, max_words: int) -> tuple[bool, list[Step]]:
    """The variants of one pair to encode, each tagged: the pair itself, each field dropped, each
    field alone (with more than one), each word of a field dropped."""
    (a, is_record), (b, _) = _record(left, fields), _record(right, fields)
    names = list(dict.fromkeys([*a, *b]))

    def variant(field: str, how: str, words: frozenset[str] = frozenset()) -> tuple[Record, Record]:
        """The pair with `field` dropped (`how="drop"`), alone (`"only"`) or without `words`."""

        def edit(name: str, value: Any) -> Any:
            if how == "only":
                return value if name == field else _blank(value)
            if name != field:
                return value
            return _blank(value) if how == "drop" else _without(value, words)

        return {n: edit(n, a.get(n)) for n in names}, {n: edit(n, b.get(n)) for n in names}

    steps: list[Step] = [(("pair",), (a, b))]
    for name in names:
        steps.append((("drop", name), variant(name, "drop")))
        if len(names) > 1:
            steps.append((("only", name), variant(name, "only")))
        shared, unshared = _words(a.get(name), b.get(name))
        for word in shared[:max_words]:
            steps.append((("word", name, word), variant(name, "word", frozenset([word]))))
        if unshared:
            label = " / ".join(unshared[:4]) + (" ..." if len(unshared) > 4 else "")
            steps.append((("word", name, label), variant(name, "word", frozenset(unshared))))
    return is_record, steps


def _words(x: Any, y: Any) -> tuple[list[str], list[str]]:
    """The distinct words of a field's two values: those both have (each dropped from both on
    its own) and those one has (dropped together: with n-grams a word one side has can still
    half-match one of the other's, as model numbers do, so only together do they show what the
    difference costs). None when each value is one word at most: that is dropping the field."""
    if not (isinstance(x, str) and isinstance(y, str)):
        return [], []
    left, right = ([w.lower() for w in _WORD.findall(v)] for v in (x, y))
    if len(left) <= 1 and len(right) <= 1:
        return [], []
    shared = [w for w in dict.fromkeys(left) if w in set(right)]
    unshared = [w for w in dict.fromkeys([*left, *right]) if w not in shared]
    return shared, unshared


def _without(value: Any, words: frozenset[str]) -> Any:
    if not isinstance(value, str):
        return value
    return " ".join(w for w in _WORD.findall(value) if w.lower() not in words)


def _explanation(
    steps: list[Step],
    scores: Scores,
    same: bool | None,
    distance_threshold: float | None,
    metric: str,
    weights: Mapping[str, Mapping[str, float]],
    top_tokens: int,
) -> Explanation:
    d = scores.d
    pull = -d if scores.p is None else scores.p  # toward "same": a lower distance, a higher probability
    base = float(pull[0])
    a, b = steps[0][1]
    effects = []
    for name in [tag[1] for tag, _ in steps if tag[0] == "drop"]:
        rows = {tag: i for i, (tag, _) in enumerate(steps) if len(tag) > 1 and tag[1] == name}
        change = base - float(pull[rows[("drop", name)]])
        alone = float(d[rows[("only", name)]] if ("only", name) in rows else d[0])
        words = sorted(
            ((tag[2], base - float(pull[i])) for tag, i in rows.items() if tag[0] == "word"),
            key=lambda item: _toward(item[1], same),
        )
        state: Literal["agrees", "differs", "missing"]
        if _missing(a.get(name)) or _missing(b.get(name)):
            state = "missing"
        elif distance_threshold is not None:
            state = "agrees" if alone <= distance_threshold else "differs"
        else:
            state = "agrees" if change > 0 else "differs"
        similarity = 1.0 - alone if metric == "cosine" else -alone
        tokens = tuple(w for w in words[:top_tokens] if abs(w[1]) >= 5e-4)
        effects.append(FieldEffect(name, state, similarity, change, weights.get(name), tokens))
    effects.sort(key=lambda e: (e.state == "missing", _toward(e.change, same)))
    by: Literal["distance", "probability"] = "distance" if scores.p is None else "probability"
    return Explanation(by, float(d[0] if scores.p is None else scores.p[0]), same, tuple(effects))


def _toward(change: float, same: bool | None) -> float:
    """Sort key: what moved the decision most first (toward "same" when `same`, toward
    "different" when not, either way by size without a decision)."""
    if same is None:
        return -abs(change)
    return -change if same else change
