"""Name -> model class registry: `train/` builds models only through `build_model`.

A registered class must accept keyword arguments only, expose `patch_size` (int) and
`model_kwargs` (dict of the constructor arguments, JSON-serialisable) so a bundle can rebuild it
without the training config, and implement `training_loss(batch, context) -> (loss, parts)`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ptycho_nl.errors import ConfigError

T = TypeVar("T")

_REGISTRY: dict[str, type] = {}


def register(name: str) -> Callable[[type[T]], type[T]]:
    """Class decorator: make `cls` buildable as `build_model(name, ...)`."""

    def decorate(cls: type[T]) -> type[T]:
        existing = _REGISTRY.get(name)
        if existing is not None and existing is not cls:
            raise ValueError(f"model name {name!r} is already registered to {existing.__name__}")
        _REGISTRY[name] = cls
        cls.model_name = name  # type: ignore[attr-defined]
        return cls

    return decorate


def available_models() -> list[str]:
    """Registered model names, sorted."""
    return sorted(_REGISTRY)


def model_class(name: str) -> type:
    """The class registered as `name`; ConfigError naming the valid choices otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"unknown model {name!r}: expected one of {', '.join(available_models())}"
        ) from None


def build_model(name: str, **kwargs: Any):
    """Instantiate the model registered as `name` with keyword arguments."""
    return model_class(name)(**kwargs)
