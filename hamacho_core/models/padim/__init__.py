"""PaDiM: the model (``model``), its ONNX embedding head (``onnx_head``), its torch head (``torch_head``,
torch add-on only) and its memory estimate (``estimate``)."""

from hamacho_core.models.padim.model import (
    PAPER_DIMS,
    REGULARISATION,
    Padim,
    PadimConfig,
    channel_subset,
    mahalanobis,
    padim_dims,
)

__all__ = ["PAPER_DIMS", "REGULARISATION", "Padim", "PadimConfig", "channel_subset", "mahalanobis", "padim_dims"]
