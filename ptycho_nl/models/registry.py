"""Model families by name: the trainer and the bundle loader reach models only through here.

A *family* is everything the generic trainer (`ptycho_nl.train`) needs to train a kind of model
it knows nothing about:

- `build(**model_kwargs) -> nn.Module`: keyword arguments only; the module exposes
  `model_kwargs` (JSON-serialisable constructor arguments) so a bundle rebuilds it without the
  training config.
- `prepare(TaskInputs) -> TrainingTask`: open the data, build the model on the device and say
  how batches are drawn and how one step's loss is computed.

The step protocol is `step(model, batch, state) -> StepOutput(loss, state, logs, size)`. `state`
is whatever the family carries from one batch to the next (None at the start of every epoch and
of every validation pass); a sequence model carrying fast weights between chunks returns the new
state, detached where gradients must not flow across steps. Stateless families return None.

Register a class with the `@register(name, prepare=...)` decorator, or any builder with
`register_family(ModelFamily(...))`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import torch
from torch import nn

from ptycho_nl.errors import ConfigError

T = TypeVar("T")


class StepOutput(NamedTuple):
    """What one step returns: the scalar loss (with grad), the state for the next batch, named
    loss parts or other scalars for the step events (tensors are read only when logged), and the
    number of samples in the batch (weights the epoch's mean loss)."""

    loss: torch.Tensor
    state: Any
    logs: dict[str, Any]
    size: int


StepFn = Callable[[nn.Module, Any, Any], StepOutput]


@dataclass(frozen=True)
class TaskInputs:
    """What the trainer hands a family's `prepare`.

    config : the run's validated `TrainConfig` (a family reads the sections it uses)
    data_path : the job's data file   device : where model and batches live
    rank, world_size : this process under torchrun (0 and 1 otherwise)
    """

    config: Any
    data_path: Path
    device: torch.device
    rank: int = 0
    world_size: int = 1


@dataclass
class TrainingTask:
    """A family's answer to `prepare`: the model and how to feed it.

    model : on the device, with `model_kwargs`
    step : the loss of one batch (see the module docstring)
    train_batches : epoch (1-based) -> this rank's training batches, in the order to use them
    val_batches : () -> the validation batches (every rank sees all of them)
    steps_per_epoch : how many batches `train_batches` yields (progress bar, step numbers)
    bundle_meta : extra `meta.json` entries of the bundle (e.g. patch size, normalisation)
    """

    model: nn.Module
    step: StepFn
    train_batches: Callable[[int], Iterable[Any]]
    val_batches: Callable[[], Iterable[Any]]
    steps_per_epoch: int
    bundle_meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelFamily:
    """A registered name: how to build the model and (if trainable) how to train it."""

    name: str
    build: Callable[..., nn.Module]
    prepare: Callable[[TaskInputs], TrainingTask] | None = None
    # Whether the data QC gate (specs/gates.md) applies to the files this family trains on:
    # it judges ptychography scans; a family reading other data (token sequences) opts out.
    data_gate: bool = True


_REGISTRY: dict[str, ModelFamily] = {}


def register_family(family: ModelFamily) -> ModelFamily:
    """Make `family` buildable and trainable by name; a name belongs to one builder only."""
    existing = _REGISTRY.get(family.name)
    if existing is not None and existing.build is not family.build:
        owner = getattr(existing.build, "__name__", repr(existing.build))
        raise ValueError(f"model name {family.name!r} is already registered to {owner}")
    _REGISTRY[family.name] = family
    return family


def unregister(name: str) -> None:
    """Forget `name` (tests that register a family of their own clean up with this)."""
    _REGISTRY.pop(name, None)


def register(
    name: str, *, prepare: Callable[[TaskInputs], TrainingTask] | None = None
) -> Callable[[type[T]], type[T]]:
    """Class decorator: `build_model(name, **kw)` builds `cls(**kw)`; `prepare` trains it."""

    def decorate(cls: type[T]) -> type[T]:
        register_family(ModelFamily(name=name, build=cls, prepare=prepare))
        cls.model_name = name  # type: ignore[attr-defined]
        return cls

    return decorate


def available_models() -> list[str]:
    """Registered model names, sorted."""
    return sorted(_REGISTRY)


def model_family(name: str) -> ModelFamily:
    """The family registered as `name`; ConfigError naming the valid choices otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"unknown model {name!r}: expected one of {', '.join(available_models())}"
        ) from None


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """Instantiate the model registered as `name` with keyword arguments."""
    return model_family(name).build(**kwargs)


def prepare_task(name: str, inputs: TaskInputs) -> TrainingTask:
    """The training task of family `name`; ConfigError if the family cannot be trained."""
    family = model_family(name)
    if family.prepare is None:
        raise ConfigError(f"config model.name: model {name!r} has no training task registered")
    return family.prepare(inputs)
