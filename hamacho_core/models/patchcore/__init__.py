"""PatchCore: the model (``model``), its ONNX embedding head (``onnx_head``), its torch head
(``torch_head``, torch add-on only) and its memory and cost estimate (``estimate``)."""

from hamacho_core.models.patchcore.model import (
    AUTO_CORESET_EXPONENT,
    AUTO_CORESET_RATIO,
    CORESET_RATIO_RANGE,
    PatchCore,
    PatchCoreConfig,
)

__all__ = ["AUTO_CORESET_EXPONENT", "AUTO_CORESET_RATIO", "CORESET_RATIO_RANGE", "PatchCore", "PatchCoreConfig"]
