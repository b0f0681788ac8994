"""Hamacho core: anomaly detection models, backbones, data and metrics.  Never imports Qt."""

__version__ = "0.1.0"
