"""Hamacho core: anomaly detection models, backbones, data and metrics.  Never imports Qt."""

import os as _os

# OpenMP (faiss, OpenBLAS) threads sleep when idle instead of spinning: a station's CPU is shared with
# capture, the GUI and the plant's software.  Must be set before the OpenMP runtime starts.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.2.0"
