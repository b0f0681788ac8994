"""The torch-free embedding runtime: ONNX Runtime on the CPU, a fixed number of threads, no spinning.

torch's thread pool collapses on a shared CPU (measured: median 1461 ms a frame against ONNX Runtime's
55 ms while the two cores also ran other work).  Sessions here use ``threads`` intra-op threads
(``HAMACHO_THREADS`` or the ``threads`` setting; default: the CPU count, at most 4), one inter-op
thread, and idle threads sleep instead of spinning, so capture, the GUI and the plant's software keep
their share of the CPU.
"""

from __future__ import annotations

import numpy as np

from hamacho_core.graphs import INPUT, OUTPUT, check_graph
from hamacho_core.machine import default_threads

__all__ = ["RUNTIMES", "OrtEmbedder", "default_threads", "preload", "torch_available"]

RUNTIMES = ("auto", "onnxruntime", "torch")


def torch_available() -> bool:
    """True when the optional torch add-on can be imported (looked up without importing it)."""
    import importlib.util

    try:
        return importlib.util.find_spec("torch") is not None and importlib.util.find_spec("torchvision") is not None
    except (ImportError, ValueError):
        return False


def preload() -> None:
    """Import ONNX Runtime and onnx (which composes the model heads) now.  Loading their extensions
    holds the interpreter lock for ~0.7 s (measured): done by the first fit in a worker thread, it
    froze the GUI thread that long; the GUI calls this while it starts instead."""
    import onnx  # noqa: F401
    import onnxruntime  # noqa: F401


class OrtEmbedder:
    """Runs an embedding graph: (B, 3, H, W) float32 in [0, 1] -> (B, D, h, w) float32."""

    runtime = "onnxruntime"

    def __init__(self, graph: bytes, threads: int | None = None, input_hw: tuple[int, int] | None = None):
        """``input_hw``: the height and width the model feeds (the graph's tensor sizes are checked at it)."""
        import onnxruntime as ort

        check_graph(graph, input_hw)  # before ONNX Runtime sees it: no external files, loops or unbounded sizes
        self.graph = graph
        self.threads = threads or default_threads()
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
            raise ValueError(f"the runtime graph cannot be loaded: {exc}") from exc
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if [i.name for i in inputs] != [INPUT] or [o.name for o in outputs] != [OUTPUT]:
            raise ValueError(f"the runtime graph must map {INPUT!r} to {OUTPUT!r}")
        width = outputs[0].shape[1]
        self.dim = width if isinstance(width, int) else None

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        return self.session.run([OUTPUT], {INPUT: batch})[0]
