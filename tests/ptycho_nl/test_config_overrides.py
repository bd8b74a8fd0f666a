"""`ptycho_nl.config.apply_overrides`: dotted `key.path=value` overrides of a pydantic model."""

import pytest
from pydantic import Field

from ptycho_nl.config import StrictModel, apply_overrides, override_fields
from ptycho_nl.errors import ConfigError


class Inner(StrictModel):
    lr: float = Field(1e-3, gt=0, description="step size")
    name: str = "adam"


class Outer(StrictModel):
    inner: Inner = Field(default_factory=Inner)
    maybe: Inner | None = None
    epochs: int = 5
    widths: tuple[int, int] = (4, 8)
    tag: str | None = None


def test_values_are_json_when_they_parse_else_strings():
    cfg = apply_overrides(
        Outer,
        {},
        ["epochs=8", "inner.lr=0.5", "inner.name=sgd", "widths=[2,3]", "tag=null", 'tag="7"'],
    )
    assert cfg == Outer(epochs=8, inner=Inner(lr=0.5, name="sgd"), widths=(2, 3), tag="7")
    assert apply_overrides(Outer, {}, ["tag=hello world"]).tag == "hello world"
    assert apply_overrides(Outer, {}, ["tag=a=b"]).tag == "a=b"  # split at the first '='


def test_overrides_apply_in_order_on_the_base_which_is_not_changed():
    base = {"epochs": 2, "inner": {"name": "sgd"}}
    cfg = apply_overrides(Outer, base, ["epochs=3", "epochs=4", "inner.lr=0.1"])
    assert cfg.epochs == 4 and cfg.inner == Inner(lr=0.1, name="sgd")
    assert base == {"epochs": 2, "inner": {"name": "sgd"}}
    assert apply_overrides(Outer, base, []) == Outer(epochs=2, inner=Inner(name="sgd"))


def test_an_optional_section_is_created_when_set():
    cfg = apply_overrides(Outer, {"maybe": None}, ["maybe.lr=0.2"])
    assert cfg.maybe == Inner(lr=0.2)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("epoch=3", "cli: unknown key 'epoch'; valid keys: inner, maybe, epochs, widths, tag"),
        ("inner.rate=1", "cli: unknown key 'inner.rate'; valid keys under 'inner': lr, name"),
        ("epochs.x=1", "cli: unknown key 'epochs.x': 'epochs' has no sub-keys"),
        ("epochs", "cli: expected KEY=VALUE, found 'epochs'"),
        ("=3", "cli: expected KEY=VALUE, found '=3'"),
    ],
)
def test_bad_keys_name_the_key_and_the_valid_ones(override, message):
    with pytest.raises(ConfigError) as err:
        apply_overrides(Outer, {}, [override], source="cli")
    assert str(err.value) == message


def test_invalid_values_name_the_field_and_the_source():
    with pytest.raises(
        ConfigError, match=r"^cli: invalid Outer: inner\.lr: Input should be greater"
    ):
        apply_overrides(Outer, {}, ["inner.lr=-1"], source="cli")
    with pytest.raises(ConfigError, match="epochs: Input should be a valid integer"):
        apply_overrides(Outer, {}, ["epochs=many"])


def test_override_fields_lists_every_leaf_with_its_default():
    fields = override_fields(Outer)
    assert [f.key for f in fields] == [
        "inner.lr",
        "inner.name",
        "maybe.lr",
        "maybe.name",
        "epochs",
        "widths",
        "tag",
    ]
    assert fields[0].default == 1e-3 and fields[0].description == "step size"
    assert fields[5].default == [4, 8]  # JSON-able, as `--set` would spell it
