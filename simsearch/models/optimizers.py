"""Optimisers that give some variables a learning rate of their own, for fine-tuning a pretrained
encoder (~2e-5) beside layers trained from scratch (1e-3 to 1e-2) in one `keras.Model.fit`.

Scaling the gradients would not do it: Adam divides the step by the gradient's own scale. The
optimiser multiplies the (scheduled) learning rate of the chosen variables in `update_step`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import keras

__all__ = ["build_optimizer", "encoder_variables"]


class _ScaledRates:
    """Mixin: `multiplier` times the learning rate for `scaled_variables`."""

    def __init__(
        self, *args: Any, scaled_variables: Iterable[Any] = (), multiplier: float = 1.0, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.multiplier = float(multiplier)
        self._scaled = {self._var_key(v) for v in scaled_variables}  # type: ignore[attr-defined]

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> Any:
        if self._scaled and self._var_key(variable) in self._scaled:  # type: ignore[attr-defined]
            learning_rate = learning_rate * self.multiplier
        return super().update_step(gradient, variable, learning_rate)  # type: ignore[misc]


class ScaledAdam(_ScaledRates, keras.optimizers.Adam):
    """Adam with a learning-rate multiplier for some variables."""


class ScaledAdamW(_ScaledRates, keras.optimizers.AdamW):
    """AdamW with a learning-rate multiplier for some variables."""


class ScaledSGD(_ScaledRates, keras.optimizers.SGD):
    """SGD with a learning-rate multiplier for some variables."""


_CLASSES: dict[str, type] = {"adam": ScaledAdam, "adamw": ScaledAdamW, "sgd": ScaledSGD}


def build_optimizer(
    name: str,
    learning_rate: Any,
    *,
    scaled_variables: Iterable[Any] = (),
    multiplier: float = 1.0,
    **kwargs: Any,
) -> keras.optimizers.Optimizer:
    """Return optimiser `name` (`"adam"`, `"adamw"`, `"sgd"`) at `learning_rate` (a float or a
    schedule), with `multiplier` times it for `scaled_variables`; `kwargs` go to the Keras class.

    Example:
    >>> build_optimizer("adam", 1e-2, scaled_variables=encoder_variables(tower), multiplier=2e-3)
    """
    optimizer: keras.optimizers.Optimizer = _CLASSES[name](
        learning_rate, scaled_variables=scaled_variables, multiplier=multiplier, **kwargs
    )
    return optimizer


def encoder_variables(model: keras.Model) -> list[Any]:
    """The trainable variables of the pretrained encoders (`BertEncoder` layers) in `model`."""
    from simsearch.models.bert import BertEncoder

    found: list[Any] = []
    for layer in model.layers:
        if isinstance(layer, BertEncoder):
            found.extend(layer.trainable_weights)
        elif isinstance(layer, keras.Model):
            found.extend(encoder_variables(layer))
    return found
