"""Runtime graphs: ONNX graphs that take an image tensor and return patch embeddings.

A *backbone graph* takes ``image`` (B, 3, H, W) float32 in [0, 1] (the backbone's own normalisation
is inside) and returns one output per feature layer, named after the layer.  The bundled
EfficientNet-Lite0 graph ships in ``hamacho_core/graphs/``; other backbones are exported once with
torch (``hamacho backbones --export``) into the user's graph cache.

A model's *embedding graph* is a backbone graph with the model kind's embedding head appended, built with
plain ONNX (no torch) by the kind's ``onnx_head`` from the pieces here (sub-graph extraction, resizing to
the first layer's grid, channel pooling, the named output).  The runtime therefore runs one graph: image
tensor in, ``embedding`` (B, D, h, w) out.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hamacho_core.fileio import atomic_write_bytes, file_sha256
from hamacho_core.paths import user_data_dir

INPUT = "image"
OUTPUT = "embedding"
OPSET = 17
BUNDLED_DIR = Path(__file__).with_name("graphs")


class GraphUnavailableError(RuntimeError):
    """No runtime graph for this backbone and these layers here, and torch is not there to export one."""


@dataclass(frozen=True)
class BackboneGraph:
    """A backbone graph file and what its sidecar JSON says about it."""

    backbone: str
    path: Path
    layers: tuple[tuple[str, int, int], ...]  # (name, channels, stride)
    weights_sha256: str | None
    source: str  # "bundled" or "exported"
    weights_filename: str | None = None

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(name for name, _, _ in self.layers)

    def read(self) -> bytes:
        return self.path.read_bytes()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def graph_cache_dir() -> Path:
    """Where exported backbone graphs are kept (``<user data>/graphs``)."""
    return user_data_dir() / "graphs"


def _read_sidecar(json_path: Path, source: str) -> BackboneGraph | None:
    try:
        info = json.loads(json_path.read_text(encoding="utf-8"))
        graph = json_path.with_suffix(".onnx")
        if not graph.is_file():
            return None
        layers = tuple((str(n), int(c), int(s)) for n, c, s in info["layers"])
        if info.get("graph_sha256") and file_sha256(graph) != info["graph_sha256"]:
            return None  # damaged or replaced: never used (an export writes a fresh one)
        return BackboneGraph(str(info["backbone"]), graph, layers, info.get("weights_sha256"), source,
                             info.get("weights_filename"))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def bundled_graph(backbone: str) -> BackboneGraph | None:
    """The graph shipped with Hamacho for ``backbone``, if any."""
    return _read_sidecar(BUNDLED_DIR / f"{backbone}.json", "bundled")


def find_backbone_graph(backbone: str, layers: Sequence[str],
                        weights_sha256: str | None = None) -> BackboneGraph | None:
    """A bundled or exported graph of ``backbone`` that has all ``layers`` (and, when given, was
    exported from weights with that sha256)."""
    candidates = [bundled_graph(backbone)]
    folder = graph_cache_dir()
    if folder.is_dir():
        candidates += [_read_sidecar(p, "exported") for p in sorted(folder.glob(f"{_safe(backbone)}-*.json"))]
    for graph in candidates:
        if graph is None or graph.backbone != backbone or not set(layers) <= set(graph.layer_names):
            continue
        if weights_sha256 is not None and graph.weights_sha256 not in (None, weights_sha256):
            continue
        return graph
    return None


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.]+", "_", name)


def cache_path(backbone: str, weights_sha256: str, layers: Sequence[str]) -> Path:
    key = hashlib.sha256(",".join(layers).encode()).hexdigest()[:8]
    return graph_cache_dir() / f"{_safe(backbone)}-{weights_sha256[:12]}-{key}.onnx"


def write_backbone_graph(path: Path, graph: bytes, backbone: str, layers: Sequence[tuple[str, int, int]],
                         weights_sha256: str | None, weights_filename: str | None = None) -> BackboneGraph:
    """Write a graph and its sidecar atomically (the sidecar last: a graph without one is ignored)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, graph)
    info = {"backbone": backbone, "layers": [list(layer) for layer in layers], "weights_sha256": weights_sha256,
            "weights_filename": weights_filename, "graph_sha256": sha256_bytes(graph), "input": INPUT, "opset": OPSET}
    atomic_write_bytes(path.with_suffix(".json"), json.dumps(info, indent=1).encode())
    return _read_sidecar(path.with_suffix(".json"), "exported" if path.parent != BUNDLED_DIR else "bundled")


# --- what a runtime graph may contain ----------------------------------------------------------------

#: The operators of CNN backbones exported from torchvision (ResNets, MobileNets, EfficientNets, ConvNeXt,
#: DenseNet measured) and of the heads built here.  No control flow (Loop, Scan, If), nothing that makes
#: tensors of a size read from data (ConstantOfShape, Expand, Tile, Range), no custom domains.
ALLOWED_OPS = frozenset({
    "Add", "AveragePool", "BatchNormalization", "Cast", "Ceil", "Clip", "Concat", "Constant", "Conv", "Div",
    "Erf", "Flatten", "Floor", "Gather", "GlobalAveragePool", "HardSigmoid", "HardSwish", "Identity",
    "LayerNormalization", "LeakyRelu", "MatMul", "Max", "MaxPool", "Min", "Mul", "Neg", "Pad", "Pow",
    "ReduceMean", "Relu", "Reshape", "Resize", "Shape", "Sigmoid", "Slice", "Softmax", "Split", "Sqrt",
    "Squeeze", "Sub", "Tanh", "Transpose", "Unsqueeze",
})
#: ``ConstantOfShape`` appears in timm's TF "SAME" padding, with a shape computed from the input's; a
#: constant shape (folded into a tensor of any size when the session is created) is refused.
_CONSTANT_SHAPE_OPS = frozenset({"ConstantOfShape"})


class UnsafeGraphError(ValueError):
    """A runtime graph uses something a backbone graph never needs (external data, control flow, ...)."""


def check_graph(data: bytes, input_hw: tuple[int, int] | None = None) -> None:
    """Refuse graphs that could read files, loop or allocate without bound: every tensor inline (no external
    data anywhere: initializers, sparse initializers, Constant values, tensor attributes), no sparse tensors
    (a backbone never needs them; their declared size is allocated at load), only :data:`ALLOWED_OPS` in the
    default domain, no subgraphs or functions.  With ``input_hw`` (the height and width the model feeds it),
    every tensor's size is inferred at that input and one above :data:`MAX_TENSOR_BYTES`, or a computed
    shape that cannot be inferred, is refused."""
    import onnx
    from onnx import AttributeProto, TensorProto

    try:
        model = onnx.load_from_string(data)
    except Exception as exc:  # noqa: BLE001 - protobuf raises its own errors
        raise UnsafeGraphError(f"not an ONNX graph ({exc})") from None
    if len(model.functions) or any(op.domain not in ("", "ai.onnx") for op in model.opset_import):
        raise UnsafeGraphError("the graph uses functions or custom operator domains")
    graph = model.graph
    if len(graph.sparse_initializer):
        raise UnsafeGraphError("the graph holds sparse tensors (a runtime graph never needs them)")
    constants = {t.name for t in graph.initializer}
    values = {t.name: t for t in graph.initializer}  # constant tensors by name (for the size checks)

    def tensor_ok(tensor) -> bool:
        return tensor.data_location != TensorProto.EXTERNAL and not len(tensor.external_data)

    if not all(tensor_ok(t) for t in graph.initializer):
        raise UnsafeGraphError("the graph refers to external data files")
    for node in graph.node:
        if node.domain not in ("", "ai.onnx"):
            raise UnsafeGraphError(f"operator {node.domain}.{node.op_type} is not allowed")
        computed_shape = node.op_type in _CONSTANT_SHAPE_OPS and node.input and node.input[0] not in constants
        if node.op_type not in ALLOWED_OPS and not computed_shape:
            raise UnsafeGraphError(f"operator {node.op_type} is not allowed in a runtime graph")
        for attr in node.attribute:
            if attr.type in (AttributeProto.GRAPH, AttributeProto.GRAPHS):
                raise UnsafeGraphError("the graph has subgraphs")
            if attr.type in (AttributeProto.SPARSE_TENSOR, AttributeProto.SPARSE_TENSORS):
                raise UnsafeGraphError("the graph holds sparse tensors (a runtime graph never needs them)")
            tensors = [attr.t] if attr.type == AttributeProto.TENSOR else list(attr.tensors)
            if not all(tensor_ok(t) for t in tensors):
                raise UnsafeGraphError("the graph refers to external data files")
        if node.op_type == "Constant":
            constants.update(node.output)
            for attr in node.attribute:
                if attr.type == AttributeProto.TENSOR:
                    values[node.output[0]] = attr.t
        _check_constant_sizes(node, values)
    if input_hw is not None:
        _check_inferred_sizes(model, input_hw)


#: Largest constant Resize scale and Pad a runtime graph may hold (an embedding head resizes by computed
#: sizes; backbones pad by a few pixels): beyond them a forged graph allocates gigabytes per image.
MAX_RESIZE_SCALE, MAX_CONSTANT_PAD = 8.0, 64


def _check_constant_sizes(node, values: dict) -> None:
    """Refuse a Resize by constant scales above :data:`MAX_RESIZE_SCALE` and a Pad by constant pads above
    :data:`MAX_CONSTANT_PAD` (Resize 40x40 asked 1.4 GB, Pad of 12,000 px 1.9 GB, from files of a few MB)."""
    from onnx import numpy_helper

    def constant(index: int):
        if len(node.input) > index and node.input[index] in values:
            return numpy_helper.to_array(values[node.input[index]])
        return None

    if node.op_type == "Resize":
        scales = constant(2)
        if scales is not None and scales.size and float(np.max(scales)) > MAX_RESIZE_SCALE:
            raise UnsafeGraphError(f"the graph resizes by {float(np.max(scales)):g}x (at most {MAX_RESIZE_SCALE:g}x "
                                   f"is allowed): refused")
    elif node.op_type == "Pad":
        pads = constant(1)
        if pads is None:
            pads = next((np.array(a.ints) for a in node.attribute if a.name == "pads"), None)
        if pads is not None and pads.size and int(np.max(pads)) > MAX_CONSTANT_PAD:
            raise UnsafeGraphError(f"the graph pads by {int(np.max(pads))} px (at most {MAX_CONSTANT_PAD} is "
                                   f"allowed): refused")


#: Largest tensor a runtime graph may make for one image at its model's input size.  The largest of a real
#: graph is a first convolution's output: 134 MB for a 2048 x 2048 input (32 channels at 1024 x 1024).
MAX_TENSOR_BYTES = 1 << 30


def _check_inferred_sizes(model, input_hw: tuple[int, int]) -> None:
    """Infer every tensor's shape for one image of ``input_hw`` (ONNX shape inference with data propagation,
    so shapes computed from the input's, such as ``ConstantOfShape(Shape(image) * k)``, become numbers) and
    refuse a tensor above :data:`MAX_TENSOR_BYTES` or a ``ConstantOfShape`` whose size cannot be inferred."""
    import onnx
    from onnx import helper

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    for value in probe.graph.input:
        if value.name == INPUT:  # whatever the file declares: the model feeds one image of input_hw
            shape = value.type.tensor_type.shape
            shape.Clear()
            for size in (1, 3, *input_hw):
                shape.dim.add().dim_value = size
    try:
        inferred = onnx.shape_inference.infer_shapes(probe, strict_mode=False, data_prop=True).graph
    except Exception as exc:  # noqa: BLE001 - onnx raises its own inference errors
        raise UnsafeGraphError(f"the sizes of the graph's tensors cannot be worked out ({exc})") from None
    shapes = {}
    for value in (*inferred.value_info, *inferred.output):
        tensor = value.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
        item = helper.tensor_dtype_to_np_dtype(tensor.elem_type).itemsize if tensor.elem_type else 4
        shapes[value.name] = (dims if tensor.HasField("shape") else None, item)
    for dims, item in shapes.values():
        if dims and None not in dims and int(np.prod(dims, dtype=np.float64)) * item > MAX_TENSOR_BYTES:
            raise UnsafeGraphError(f"the graph makes a tensor of {'x'.join(map(str, dims))} "
                                   f"({np.prod(dims, dtype=np.float64) * item / 2**30:.1f} GB) for one "
                                   f"{input_hw[1]}x{input_hw[0]} image (at most {MAX_TENSOR_BYTES >> 30} GB): refused")
    for node in inferred.node:
        if node.op_type in _CONSTANT_SHAPE_OPS:
            dims, _item = shapes.get(node.output[0], (None, 4))
            if dims is None or None in dims:
                raise UnsafeGraphError(f"the graph makes a tensor ({node.op_type}) whose size cannot be worked out "
                                       f"from the input's: refused")


# --- embedding heads (plain ONNX) -------------------------------------------------------------------


def backbone_subgraph(backbone_graph: bytes, layers: Sequence[str]):
    """The backbone graph cut after the chosen layers (later stages are dropped)."""
    import onnx
    from onnx import utils

    model = onnx.load_from_string(backbone_graph)
    if list(layers) != [o.name for o in model.graph.output]:
        known = [o.name for o in model.graph.output]
        missing = [layer for layer in layers if layer not in known]
        if missing:
            raise GraphUnavailableError(f"the backbone graph has no layer {missing}; it has {known}")
        model = utils.Extractor(model).extract_model([INPUT], list(layers))
    return model


def finish_graph(model, nodes: list, initializers: list, out: str, width: int) -> bytes:
    import onnx
    from onnx import TensorProto, helper

    graph = model.graph
    graph.node.extend(nodes)
    graph.initializer.extend(initializers)
    graph.node.append(helper.make_node("Identity", [out], [OUTPUT]))  # names the output
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", int(width), None, None]))
    model.graph.name = "hamacho_embedding"
    onnx.checker.check_model(model)
    return model.SerializeToString()


def resize_to_first(name: str, first: str, mode: str, tag: str, nodes: list, inits: list) -> str:
    """Nodes resizing ``name`` to the spatial size of ``first`` (torch's ``F.interpolate`` rules)."""
    from onnx import helper, numpy_helper

    if not any(i.name == "hmc_starts" for i in inits):
        inits += [numpy_helper.from_array(np.array([0], np.int64), "hmc_starts"),
                  numpy_helper.from_array(np.array([2], np.int64), "hmc_mid"),
                  numpy_helper.from_array(np.array([4], np.int64), "hmc_ends")]
        nodes += [helper.make_node("Shape", [first], ["hmc_first_shape"]),
                  helper.make_node("Slice", ["hmc_first_shape", "hmc_mid", "hmc_ends"], ["hmc_first_hw"])]
    nodes += [helper.make_node("Shape", [name], [f"{tag}_shape"]),
              helper.make_node("Slice", [f"{tag}_shape", "hmc_starts", "hmc_mid"], [f"{tag}_bc"]),
              helper.make_node("Concat", [f"{tag}_bc", "hmc_first_hw"], [f"{tag}_sizes"], axis=0)]
    if mode == "linear":  # F.interpolate(bilinear, align_corners=False)
        attrs = {"mode": "linear", "coordinate_transformation_mode": "pytorch_half_pixel"}
    else:  # F.interpolate(nearest)
        attrs = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
    nodes.append(helper.make_node("Resize", [name, "", "", f"{tag}_sizes"], [f"{tag}_resized"], **attrs))
    return f"{tag}_resized"


def channel_pool_matrix(width: int, out: int) -> np.ndarray:
    """(width, out) matrix equal to ``F.adaptive_avg_pool1d`` from ``width`` to ``out`` channels."""
    matrix = np.zeros((width, out), np.float32)
    for i in range(out):
        start, end = (i * width) // out, -((-(i + 1) * width) // out)
        matrix[start:end, i] = 1.0 / (end - start)
    return matrix
