"""`CrossEncoder`: a pretrained BERT that reads both items of a pair at once and scores the pair.

The siamese head (`head.keras`) sees two embeddings; a cross-encoder sees the two texts'
tokens side by side (`[CLS] a [SEP] b [SEP]`, token types 0 then 1), so every word of one can
attend to every word of the other. It is the re-ranker of sentence-transformers' retrieve &
re-rank and the architecture of Ditto for record matching: too slow to encode a catalogue (a pair
costs one forward pass), strong on the few dozen candidates a search returns.

A re-ranker directory:

    RERANKER_DIR/
        cross.keras      the Keras model: token ids, padding mask, token types -> logit
        tokenizer.json   the Hugging Face tokenizer the ids come from
        config.json      format version, fields, max length, target, threshold, validation
        history.json     per-epoch training metrics

Tokenisation runs outside the Keras graph (the Rust `tokenizers` library on NumPy arrays), so
the model itself is plain `keras.ops` and runs on any Keras backend.

Targets are in [0, 1]: the 0/1 `same` label, or a graded score rescaled by the training
scores' range (STS-B's 0-5 -> 0-1, as sentence-transformers trains its STS-B cross-encoders). The
loss is binary cross-entropy on the logit; `predict` returns the sigmoid.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import numpy.typing as npt
from keras import layers

from simsearch.data.items import Items
from simsearch.data.pairs import Pairs
from simsearch.data.serialize import fit_serialization
from simsearch.errors import ConfigError, DataError, ModelDirError, ModelFileError
from simsearch.model_config import check_dir, model_hash, read_history, read_json_file
from simsearch.models.inputs import input_fields
from simsearch.models.tokenizer import item_texts, parse_tokenizer
from simsearch.search.fusion import fit_fusion, fuse

__all__ = ["CROSS_FORMAT_VERSION", "CrossEncoder", "train_reranker"]

logger = logging.getLogger(__name__)

CROSS_FORMAT_VERSION = 1
POOLINGS = ("cls", "mean")
_FILES = ("cross.keras", "tokenizer.json", "config.json")


class CrossEncoder:
    """A pair scorer over the two items' tokens, read together.

    Args:
        model: `keras.Model` from `(token_ids, padding_mask, token_types)` to `(n, 1)` logits.
        tokenizer_json: the `tokenizer.json` content the ids come from.
        config: `fields`, `max_length`, `target` and, once trained, `threshold` and `validation`.
        history: per-epoch training metrics.

    Example:
    >>> cross = CrossEncoder.from_pretrained("all-MiniLM-L6-v2")
    >>> cross.fit(left_texts, right_texts, targets, valid=(vl, vr, vt), epochs=4)
    >>> cross.predict(["A plane is taking off."], ["An air plane is taking off."])
    array([0.97], dtype=float32)
    """

    def __init__(
        self,
        model: keras.Model,
        tokenizer_json: str,
        config: Mapping[str, Any],
        history: Mapping[str, list[float]] | None = None,
    ) -> None:
        self.model = model
        self.config = dict(config)
        self.history = dict(history or {})
        self._json = tokenizer_json
        self._tokenizer = _tokenizer(tokenizer_json, int(self.config["max_length"]))

    @property
    def fields(self) -> list[str] | None:
        fields = self.config.get("fields")
        return None if fields is None else [str(f) for f in fields]

    @property
    def threshold(self) -> float | None:
        """The probability at or above which a pair is called the same (chosen on valid pairs)."""
        value = self.config.get("threshold")
        return None if value is None else float(value)

    @property
    def fusion(self) -> dict[str, Any] | None:
        """The weights combining it with a siamese model's distance (`fit_fusion`), that model's
        path and sha256, and the fused score's threshold; None when it was trained without one."""
        fusion = self.config.get("fusion")
        return None if fusion is None else dict(fusion)

    def calibration(self, fused: bool) -> tuple[float | None, list[list[float]]]:
        """The decision threshold and held-out precision curve (`[threshold, precision, recall]`
        rows; empty when not stored) of the fused score when `fused`, else of the probability."""
        store = self.fusion if fused else self.config
        if store is None:
            raise ConfigError("Expected fusion weights for the fused score. Received: none were fitted")
        threshold = store.get("threshold")
        return (None if threshold is None else float(threshold)), list(store.get("curve") or [])

    def fitted_with(self, model_dir: str | os.PathLike[str] | None) -> bool:
        """Whether the fusion weights were fitted with the siamese model in `model_dir` (same
        sha256); False without fusion weights or a model directory."""
        fusion = self.fusion
        return fusion is not None and model_dir is not None and fusion.get("sha256") == model_hash(model_dir)

    def score(
        self,
        left: Sequence[str],
        right: Sequence[str],
        distances: npt.ArrayLike | None = None,
        batch_size: int = 64,
    ) -> npt.NDArray[np.float32]:
        """`predict`, fused with the tower's `distances` of the same pairs when the cross-encoder
        has fusion weights and they are given."""
        probabilities = self.predict(left, right, batch_size=batch_size)
        fusion = self.fusion
        if fusion is None or distances is None:
            return probabilities
        return fuse(probabilities, distances, fusion["weights"])

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike[str] = "all-MiniLM-L6-v2",
        *,
        fields: Sequence[str] | None = None,
        max_length: int = 256,
        pooling: str = "cls",
        dropout: float = 0.1,
        seed: int = 0,
    ) -> CrossEncoder:
        """A cross-encoder started from a pretrained BERT directory (see `load_pretrained`) and
        a new scoring layer.

        Args:
            pooling: `"cls"`: BERT's pooler (tanh, its pretrained weights when the file has them)
                on the first token, as `BertForSequenceClassification`; `"mean"`: the mean of the
                pair's token states, as sentence encoders such as all-MiniLM-L6-v2 were trained
                to pool.
        """
        from simsearch.models.bert import BertEncoder, FirstToken, MaskedMeanPooling, load_hf_weights
        from simsearch.models.pretrained import load_pretrained

        encoder = load_pretrained(name_or_path)
        if not 2 <= max_length <= encoder.config.max_length:
            raise ConfigError(
                f"Expected 2 <= max_length <= {encoder.config.max_length} (the encoder's "
                f"positions). Received: max_length={max_length}"
            )
        if pooling not in POOLINGS:
            raise ConfigError(f"Expected pooling in {list(POOLINGS)}. Received: pooling={pooling!r}")
        # MPNet has no token types: its tokenizer marks the pair as <s> a </s></s> b </s>.
        if encoder.config.model_type == "bert" and encoder.config.type_vocab_size < 2:
            raise ConfigError(
                "Expected an encoder with two token types (a pair's two segments). Received: "
                f"type_vocab_size={encoder.config.type_vocab_size} in '{encoder.path}'"
            )
        keras.utils.set_random_seed(seed)
        width = encoder.config.hidden_size
        inputs = [keras.Input((None,), dtype="int32", name=name) for name in _INPUTS]
        bert = BertEncoder(dataclasses.asdict(encoder.config), name="bert")
        weights = encoder.weights()
        load_hf_weights(bert, weights)
        hidden = bert(inputs)
        if pooling == "mean":
            pooled = MaskedMeanPooling(name="mean_pooling")([hidden, inputs[1]])
        else:
            pooler = layers.Dense(width, activation="tanh", name="pooler")
            pooled = pooler(FirstToken(name="first_token")(hidden))
            names = {_canonical(name): name for name in weights}
            if "pooler.dense.weight" in names:  # BERT's own [CLS] pooler
                pooler.kernel.assign(np.asarray(weights[names["pooler.dense.weight"]], np.float32).T)
                pooler.bias.assign(np.asarray(weights[names["pooler.dense.bias"]], np.float32))
        logits = layers.Dense(1, name="score")(layers.Dropout(dropout, name="dropout")(pooled))
        model = keras.Model(inputs, logits, name="cross_encoder")
        config = {
            "encoder": str(name_or_path),
            "fields": None if fields is None else list(fields),
            "max_length": int(max_length),
            "pooling": pooling,
            "dropout": float(dropout),
        }
        logger.info("Cross-encoder from %s (%d layers, width %d)", encoder.path, len(bert.blocks), width)
        return cls(model, encoder.tokenizer_json, config)

    def texts(self, content: Mapping[str, Any] | Sequence[Any]) -> list[str]:
        """The texts this cross-encoder reads for `content` (see `item_texts`)."""
        return item_texts(content, self.fields, self.config.get("serialize"))

    def tokenize(
        self, left: Sequence[str], right: Sequence[str]
    ) -> tuple[list[npt.NDArray[np.int32]], list[npt.NDArray[np.int32]]]:
        """Per pair, the token ids and token types of `[CLS] left [SEP] right [SEP]`, cut to
        `max_length` (the longer text loses tokens first)."""
        if len(left) != len(right):
            raise DataError(f"Expected as many left as right texts. Received: {len(left)} and {len(right)}")
        encodings = self._tokenizer.encode_batch(list(zip(map(str, left), map(str, right), strict=True)))
        return (
            [np.asarray(e.ids, np.int32) for e in encodings],
            [np.asarray(e.type_ids, np.int32) for e in encodings],
        )

    def predict(
        self, left: Sequence[str], right: Sequence[str], batch_size: int = 64
    ) -> npt.NDArray[np.float32]:
        """Return the `(n,)` probability that each pair is the same (or its predicted graded
        similarity, rescaled to 0-1, for a model trained on scores)."""
        ids, types = self.tokenize(left, right)
        if not ids:
            return np.zeros(0, np.float32)
        # Batches of similar lengths pad little: sort by length, score, put back in order.
        order = np.argsort([len(t) for t in ids], kind="stable")
        out = np.empty(len(ids), np.float32)
        for start in range(0, len(ids), batch_size):
            chunk = order[start : start + batch_size]
            logits = self.model(_batch(ids, types, chunk), training=False)
            out[chunk] = np.asarray(keras.ops.convert_to_numpy(keras.ops.sigmoid(logits))).reshape(-1)
        return out

    def fit(
        self,
        left: Sequence[str],
        right: Sequence[str],
        targets: npt.ArrayLike,
        *,
        valid: tuple[Sequence[str], Sequence[str], npt.ArrayLike] | None = None,
        valid_metric: Callable[[np.ndarray, np.ndarray], float] | None = None,
        epochs: int = 4,
        batch_size: int = 16,
        learning_rate: float = 2e-5,
        warmup: float = 0.1,
        weight_decay: float = 0.01,
        seed: int = 0,
        verbose: int | str = "auto",
    ) -> dict[str, list[float]]:
        """Fine-tune on pairs with `targets` in [0, 1] by binary cross-entropy.

        AdamW with a linear warm-up over the first `warmup` share of the steps, then cosine
        decay to 0. With `valid`, `valid_metric(targets, probabilities)` (higher is better) is
        logged as `val_score` after each epoch and the best epoch's weights are kept.

        Returns:
            The per-epoch history (`loss`, and `val_score` with `valid`).
        """
        y = np.asarray(targets, dtype=np.float32).reshape(-1)
        if len(y) != len(left):
            raise DataError(f"Expected one target per pair. Received: {len(left)} pairs, {len(y)} targets")
        if len(y) == 0 or not np.all((y >= 0) & (y <= 1)):
            raise DataError(
                f"Expected targets in [0, 1] for at least one pair. Received: {len(y)} targets, "
                f"range {_range(y)}"
            )
        for name, value in (("epochs", epochs), ("batch_size", batch_size)):
            if value < 1:
                raise ConfigError(f"Expected {name} >= 1. Received: {name}={value}")
        if not 0 <= warmup < 1:
            raise ConfigError(f"Expected 0 <= warmup < 1. Received: warmup={warmup}")
        ids, types = self.tokenize(left, right)
        data = _PairBatches(ids, types, y, batch_size, seed=seed)
        steps = epochs * len(data)
        warm = round(warmup * steps)
        schedule = keras.optimizers.schedules.CosineDecay(
            0.0 if warm else learning_rate,
            decay_steps=max(steps - warm, 1),
            warmup_target=learning_rate if warm else None,
            warmup_steps=warm,
        )
        self.model.compile(
            optimizer=keras.optimizers.AdamW(schedule, weight_decay=weight_decay),
            loss=keras.losses.BinaryCrossentropy(from_logits=True),
        )
        callbacks: list[keras.callbacks.Callback] = []
        if valid is not None:
            metric = valid_metric or _spearman
            callbacks = [
                _ValidScore(self, valid, metric),
                keras.callbacks.EarlyStopping(
                    "val_score", mode="max", patience=epochs, restore_best_weights=True
                ),
            ]
        history = self.model.fit(data, epochs=epochs, callbacks=callbacks, verbose=verbose)
        self.history = {k: [float(v) for v in values] for k, values in history.history.items()}
        return self.history

    def save(
        self, path: str | os.PathLike[str], *, probe: tuple[Sequence[str], Sequence[str]] | None = None
    ) -> Path:
        """Write the re-ranker directory atomically: a failed write leaves any previous one intact.

        With `probe` (left and right texts of a few pairs), the written directory is loaded back
        and must score them as this cross-encoder does before it replaces anything at `path`;
        else `ModelFileError` names the cause and the files are kept, marked invalid, in
        `PATH.invalid/` (see `siamese.write_model_dir`).
        """
        import simsearch
        from simsearch.models.siamese import write_model_dir

        config = {
            **self.config,
            "kind": "cross-encoder",
            "format_version": CROSS_FORMAT_VERSION,
            "simsearch_version": simsearch.__version__,
        }
        target = write_model_dir(
            path,
            {"cross.keras": self.model},
            {"config.json": config, "history.json": self.history},
            {"tokenizer.json": self._json},
            check=None if probe is None else lambda tmp: self.check_reloaded(tmp, *probe),
        )
        logger.info("Saved cross-encoder to %s", target)
        return target

    def check_reloaded(self, path: str | os.PathLike[str], left: Sequence[str], right: Sequence[str]) -> None:
        """Load the re-ranker directory at `path` and check it scores the pairs of `left` and
        `right` as this cross-encoder does (to float32 rounding)."""
        expected = self.predict(left, right)
        got = CrossEncoder.load(path).predict(left, right)
        if got.shape != expected.shape or not np.allclose(got, expected, rtol=1e-4, atol=1e-5):
            raise ModelFileError(
                f"Expected the reloaded '{Path(path).name}' to score {len(expected)} pairs as the trained "
                f"cross-encoder. Received: largest difference {float(np.max(np.abs(got - expected))):.3g}",
                Path(path) / "cross.keras",
            )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> CrossEncoder:
        """Load a re-ranker directory written by `save`, with Keras's `safe_mode=True`."""
        import simsearch.models  # noqa: F401  (registers simsearch's Keras objects)
        from simsearch.models.siamese import load_keras_file

        root = check_dir(path, _FILES, "re-ranker directory")
        config = read_json_file(root / "config.json")
        if not isinstance(config, dict):
            config = {"kind": type(config).__name__}
        if config.get("kind") != "cross-encoder" or config.get("format_version") != CROSS_FORMAT_VERSION:
            raise ModelDirError(
                f"Expected a cross-encoder directory of format_version {CROSS_FORMAT_VERSION}. Received: "
                f"kind={config.get('kind')!r}, format_version={config.get('format_version')!r} in '{root}'"
            )
        history_path = root / "history.json"
        history = read_history(history_path) if history_path.exists() else {}
        model = load_keras_file(root / "cross.keras")
        tokenizer = root / "tokenizer.json"
        try:
            tokenizer_json = tokenizer.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ModelFileError(
                f"Expected a UTF-8 tokenizer.json in '{tokenizer}'. Received: {exc}", tokenizer
            ) from exc
        return cls(model, tokenizer_json, config, history)


def train_reranker(
    catalog: Items,
    pairs: Pairs,
    *,
    valid_pairs: Pairs | None = None,
    fields: Sequence[str] | None = None,
    pretrained: str | os.PathLike[str] = "all-MiniLM-L6-v2",
    max_length: int = 256,
    pooling: str = "cls",
    epochs: int = 4,
    batch_size: int = 16,
    learning_rate: float = 2e-5,
    warmup: float = 0.1,
    threshold_criterion: str = "f1",
    tower: Any = None,
    tower_reference: Mapping[str, Any] | None = None,
    seed: int = 0,
    verbose: int | str = "auto",
    serialize: bool = False,
) -> CrossEncoder:
    """Fine-tune a cross-encoder on labelled pairs of `catalog` items and calibrate it.

    Targets are `pairs.score` rescaled to 0-1 by the training scores' range when the pairs are
    graded, else `pairs.same`. With `valid_pairs`, the best epoch is kept (Spearman with the
    valid scores when graded, else ROC-AUC) and the decision threshold maximises
    `threshold_criterion` on them.

    With a siamese model as `tower` (and `valid_pairs`), also fit `fit_fusion`'s weights on the
    valid pairs, combining the cross-encoder with the tower's distance; they are stored as
    `config["fusion"]`, with `tower_reference` (the model's path and sha256) and their own
    threshold.

    Args:
        catalog: the items the pairs point into (text or record fields).
        fields: the fields the cross-encoder reads, in order (default: all of `catalog`'s).
        serialize: read records as the lm_record tower does (Ditto's `COL field VAL value`,
            long values cut to their highest-TF-IDF words), not as `"field: value; ..."`.
    """
    from simsearch.evaluation.metrics import roc_auc

    if catalog.images is not None:
        raise DataError("Expected text or record items for a cross-encoder. Received: images")
    fields = list(fields) if fields else list(catalog.fields)
    if tower is not None:  # its distances are fused after the training: check its fields first
        needed = input_fields(tower.config.get("inputs", {}))
        missing = [name for name in needed if name not in catalog.fields]
        if missing:
            raise DataError(
                f"Expected the tower's fields {needed} in the catalogue too (for the fusion). "
                f"Missing: {missing}"
            )
    graded = pairs.score is not None
    if graded:
        assert pairs.score is not None  # for mypy
        low, high = float(pairs.score.min()), float(pairs.score.max())
        if not high > low:
            raise DataError(f"Expected graded scores that vary. Received: all {low:g}")
        target: dict[str, Any] = {"kind": "graded", "low": low, "high": high}
    else:
        target = {"kind": "same"}

    def targets_of(p: Pairs) -> np.ndarray:
        if graded and p.score is not None:
            return np.clip((p.score - target["low"]) / (target["high"] - target["low"]), 0.0, 1.0)
        return p.same.astype(np.float32)

    cross = CrossEncoder.from_pretrained(
        pretrained, fields=fields, max_length=max_length, pooling=pooling, seed=seed
    )
    cross.config["target"] = target
    if serialize:  # about two subword tokens a word, one pair in max_length: a quarter of it each
        columns = [[str(v) for v in item_texts(catalog.fields, [f])] for f in fields]
        cross.config["serialize"] = fit_serialization(columns, max(1, max_length // 4))
    texts = np.asarray(cross.texts(catalog.fields), dtype=object)
    valid = None
    if valid_pairs is not None:
        valid = (texts[valid_pairs.left].tolist(), texts[valid_pairs.right].tolist(), targets_of(valid_pairs))
    metric = _spearman if graded else (lambda t, p: roc_auc((t >= 0.5).astype(np.int64), p))
    cross.fit(
        texts[pairs.left].tolist(),
        texts[pairs.right].tolist(),
        targets_of(pairs),
        valid=valid,
        valid_metric=metric,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        warmup=warmup,
        seed=seed,
        verbose=verbose,
    )
    cross.config["training"] = {
        "pairs": len(pairs.same),
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "warmup": warmup,
        "seed": seed,
    }
    if valid_pairs is None or valid is None:
        logger.warning("No valid pairs: the cross-encoder keeps its last epoch and has no threshold")
        return cross
    probabilities = cross.predict(valid[0], valid[1])
    cross.config["validation"] = _validation(valid_pairs, probabilities, threshold_criterion, cross.config)
    if tower is not None:
        distances = _pair_distances(tower, catalog, valid_pairs)
        weights = fit_fusion(probabilities, distances, valid[2])
        fused = fuse(probabilities, distances, weights)
        cross.config["fusion"] = {"weights": weights, **(tower_reference or {})}
        cross.config["fusion"]["validation"] = _validation(
            valid_pairs, fused, threshold_criterion, cross.config["fusion"]
        )
    return cross


def _validation(pairs: Pairs, scores: np.ndarray, criterion: str, store: dict[str, Any]) -> dict[str, Any]:
    """Held-out metrics of `scores`; the threshold chosen on them, its criterion and the
    precision curve go to `store` (the config read by `CrossEncoder.calibration`)."""
    from simsearch.evaluation.correlation import pearson, spearman
    from simsearch.evaluation.metrics import calibrate_threshold, pair_metrics, precision_curve

    report: dict[str, Any] = {"pairs": len(pairs.same)}
    if pairs.score is not None:
        report["spearman"] = spearman(scores, pairs.score)
        report["pearson"] = pearson(scores, pairs.score)
    if 0 < pairs.same.sum() < len(pairs.same):
        threshold = calibrate_threshold(pairs.same, scores, criterion=criterion)
        store["threshold"] = threshold
        store["threshold_criterion"] = criterion
        store["curve"] = precision_curve(pairs.same, scores)  # for dedup/match --min-precision
        report.update(pair_metrics(pairs.same, scores, threshold))
    return report


def _pair_distances(tower: Any, catalog: Items, pairs: Pairs) -> np.ndarray:
    """The siamese model's distances of `pairs`, each needed item encoded once."""
    needed = np.union1d(pairs.left, pairs.right)
    embeddings = tower.encode(catalog.content(needed))
    row = {int(i): n for n, i in enumerate(needed)}
    left = embeddings[[row[int(i)] for i in pairs.left]]
    right = embeddings[[row[int(i)] for i in pairs.right]]
    return np.asarray(tower.distance(left, right), dtype=np.float64)


_INPUTS = ("token_ids", "padding_mask", "token_types")


def _canonical(name: str) -> str:
    return name.removeprefix("bert.")


def _tokenizer(tokenizer_json: str, max_length: int) -> Any:
    tokenizer = parse_tokenizer(tokenizer_json, "a cross-encoder")
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_length, strategy="longest_first")
    return tokenizer


def _pad(rows: Sequence[npt.NDArray[np.int32]]) -> npt.NDArray[np.int32]:
    out = np.zeros((len(rows), max(len(r) for r in rows)), np.int32)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


def _batch(
    ids: Sequence[npt.NDArray[np.int32]], types: Sequence[npt.NDArray[np.int32]], chunk: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    token_ids = _pad([ids[i] for i in chunk])
    mask = np.zeros_like(token_ids)
    for row, i in enumerate(chunk):
        mask[row, : len(ids[i])] = 1
    return token_ids, mask, _pad([types[i] for i in chunk])


class _PairBatches(keras.utils.PyDataset):
    """Shuffled batches of tokenised pairs, each padded to its longest pair."""

    def __init__(
        self,
        ids: list[npt.NDArray[np.int32]],
        types: list[npt.NDArray[np.int32]],
        targets: npt.NDArray[np.float32],
        batch_size: int,
        seed: int,
    ) -> None:
        super().__init__()
        self.ids, self.types, self.targets, self.batch_size = ids, types, targets, batch_size
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(ids))

    def __len__(self) -> int:
        return -(-len(self.ids) // self.batch_size)

    def __getitem__(self, index: int) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
        chunk = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        return _batch(self.ids, self.types, chunk), self.targets[chunk]

    def on_epoch_end(self) -> None:
        self.order = self.rng.permutation(len(self.ids))


class _ValidScore(keras.callbacks.Callback):
    """Log `val_score` = `metric(targets, probabilities)` on the held-out pairs each epoch."""

    def __init__(
        self,
        cross: CrossEncoder,
        valid: tuple[Sequence[str], Sequence[str], npt.ArrayLike],
        metric: Callable[[np.ndarray, np.ndarray], float],
    ) -> None:
        super().__init__()
        self.cross, self.metric = cross, metric
        self.left, self.right = list(valid[0]), list(valid[1])
        self.targets = np.asarray(valid[2], dtype=np.float32).reshape(-1)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        score = float(self.metric(self.targets, self.cross.predict(self.left, self.right)))
        logger.info("Epoch %d: held-out score %.4f", epoch + 1, score)
        if logs is not None:
            logs["val_score"] = score


def _spearman(targets: np.ndarray, probabilities: np.ndarray) -> float:
    from simsearch.evaluation.correlation import spearman

    return spearman(probabilities, targets)


def _range(y: np.ndarray) -> str:
    return "empty" if len(y) == 0 else f"[{float(np.nanmin(y)):g}, {float(np.nanmax(y)):g}]"
