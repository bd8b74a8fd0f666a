"""Nested-learning language models: TITAN memory, CMS and HOPE blocks (docs/nested_learning.md).

Importing the package registers the family `nested` (`model.type`: titan, hope, attention),
trained through `ptycho_nl.models.registry` like any other family.
"""

from ptycho_nl.models.nested.cms import CMS
from ptycho_nl.models.nested.hope import Block, HOPEBlock
from ptycho_nl.models.nested.lm import MODEL_TYPES, NestedLM
from ptycho_nl.models.nested.memory import NonFiniteFastState, TitanMemory
from ptycho_nl.models.nested.state import ModelState
from ptycho_nl.models.nested.task import prepare_nested
from ptycho_nl.models.registry import ModelFamily, register_family
from ptycho_nl.nested_config import NestedConfig

# Its data are token sequences, not scans: the data QC gate does not apply.
register_family(ModelFamily(name="nested", build=NestedLM, prepare=prepare_nested, data_gate=False))

__all__ = [
    "CMS",
    "MODEL_TYPES",
    "Block",
    "HOPEBlock",
    "ModelState",
    "NestedConfig",
    "NestedLM",
    "NonFiniteFastState",
    "TitanMemory",
]
