"""Lowering a PyTorch module to an ExecuTorch program (.pte) with the XNNPACK delegate: torch.export at the asked
size, int8 through ExecuTorch's XNNPACK quantizer (PT2E, static or dynamic), to_edge_transform_and_lower, and
ExecuTorch's own account of what the delegate took (get_delegation_info)."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from vst.common.errors import VstError, first_line

# Nodes get_delegation_info counts outside the delegate that compute nothing: `getitem` picks each output out of a
# delegate call's result tuple.
NON_COMPUTE = ("getitem",)
SOURCE = "ExecuTorch's get_delegation_info on the lowered program (executorch.devtools.backend_debug)"


class NHWCIO(nn.Module):
    """The module with NHWC input and output, as vst's other artifacts take frames: the two permutes are taken by
    XNNPACK, which runs channels-last inside. `channels_last_hint`: the permuted input is asked for in channels-last
    order (its own order), so that ExecuTorch's channels-last pass runs what follows it (a reflection pad's slices
    and concats) in NHWC instead of transposing the frame to NCHW for them; the transpose pair this leaves cancels
    in vst.convert.xnnpack_graph. Off for lowerings that refuse a non-contiguous dim order (Core ML's)."""

    def __init__(self, inner: nn.Module, channels_last_hint: bool = False):
        super().__init__()
        self.inner = inner
        self.channels_last_hint = channels_last_hint

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 3, 1, 2)
        if self.channels_last_hint:     # an explicit copy: x.to() of a tensor already in that order traces to nothing
            x = torch.ops.aten._to_copy.default(x, memory_format=torch.channels_last)
        return self.inner(x).permute(0, 2, 3, 1)


class GraphModule(nn.Module):
    """vst's IR graph (rewritten, proven) as a torch module: its reference executor (vst.convert.ir.run_graph),
    with the graph's constants held as buffers, so that torch.export keeps them as weights, which XNNPACK takes
    only as such (as lifted tensor constants its convolutions stay on portable kernels). `channels_last_hint`: see
    _channels_last_after_reshapes; off for lowerings that refuse a non-contiguous dim order (Core ML's)."""

    def __init__(self, graph, channels_last_hint: bool = True):
        super().__init__()
        self.graph = graph = own_constants(graph)
        self.channels_last_hint = channels_last_hint
        self.names = {}
        for i, (name, value) in enumerate(graph.consts.items()):
            t = torch.from_numpy(np.array(value, dtype=np.float32))  # as run_graph makes them
            if channels_last_hint and t.dim() == 4 and t.shape[0] == 1 and t.shape[1] > 1 and t.shape[3] > 1 \
                    and t.shape[2] == 1:
                # a widened per-channel operand [1, C, 1, W] (widen_channel_broadcasts), stored channels-last:
                # ExecuTorch's channels-last pass otherwise transposes it to NHWC on every run
                t = t.contiguous(memory_format=torch.channels_last)
            self.register_buffer(f"c{i}", t)
            self.names[name] = f"c{i}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from vst.convert.ir import run_graph
        return run_graph(self.graph, x, consts={k: getattr(self, b) for k, b in self.names.items()},
                         post=self._channels_last_after_reshapes if self.channels_last_hint else None)

    def _channels_last_after_reshapes(self, node, y: torch.Tensor) -> torch.Tensor:
        """A depth-to-space's or space-to-depth's output asked for in channels-last order (the same values).
        XNNPACK's channels-last pass in ExecuTorch runs every reshape in NCHW and leaves its output there, then
        transposes it back to NHWC once for each consumer that needs it: three full-size transposes for the instance
        norm after an upsampling (its mean, its square's mean, its scale), where this one serves them all. Before a
        dynamically quantized conv, the pass (ExecuTorch 1.5.1) walks back from the conv's input past the reshape to
        place its transpose, which leaves the conv an NCHW tensor (execute error 0x1); a tensor already in
        channels-last order needs no transpose there. The graph's output is left as it is: the NHWC I/O permute
        follows it."""
        if node.op in ("depth_to_space", "space_to_depth") and node.output != self.graph.output:
            return y.to(memory_format=torch.channels_last)
        return y


def own_constants(graph):
    """The graph with a constant that several nodes read copied for each of them (the same values). PT2E takes a
    shared buffer as one node, and ExecuTorch's XNNPACKQuantizer annotates a conv only while its weight and bias are
    unannotated: of the four parity convs of a wide sub-pixel upsampling (nearest_conv_subpixel), which share their
    bias, it quantized the first and left three float, and the partitioner serialized the shared bias once, as the
    first conv's int32. XNNPACK refuses a float conv with an int32 bias (invalid parameter), so kunster-t2-01's
    int8 program did not load."""
    uses = Counter(i for n in graph.nodes for i in n.inputs if i in graph.consts)
    if all(n == 1 for n in uses.values()):
        return graph
    g, seen = graph.copy(), set()
    for node in g.nodes:
        for j, name in enumerate(node.inputs):
            if uses.get(name, 0) < 2:
                continue
            if name in seen:
                node.inputs[j] = g.fresh(name)
                g.consts[node.inputs[j]] = g.consts[name]
            seen.add(name)
    return g


@dataclass
class Lowered:
    data: bytes
    delegation: dict
    op_histogram: dict
    graph_passes: dict | None = None


def export(module: nn.Module, example: torch.Tensor):
    """torch.export of the module at the example's fixed size; what it cannot trace is refused in one line."""
    try:
        if not isinstance(module, torch.fx.GraphModule):     # a converted PT2E graph takes no eval()
            module = module.eval()
        with torch.no_grad():
            return torch.export.export(module, (example,))
    except Exception as exc:  # torch.export raises many types (Unsupported, UserError, TypeError from scripts)
        raise VstError(f"torch.export could not trace the model for ExecuTorch ({first_line(exc, 160)}); give a "
                       "vst checkpoint or zoo name, or an ExportedProgram made at this size") from None


def quantize(module: nn.Module, example: torch.Tensor, calib: np.ndarray, dynamic: bool):
    """int8 by ExecuTorch's XNNPACK quantizer (symmetric, per-channel weights): static, with activation ranges from
    `calib` (a batch in the module's input layout), or dynamic, activations quantized per frame at run time.
    Returns the re-exported quantized program and the precision of each convolution in it."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (XNNPACKQuantizer,
                                                                         get_symmetric_quantization_config)
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    graph = export(module, example).module()
    from vst.convert.torch_rewrites import NearestUp2Deconv
    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True,
                                                                                is_dynamic=dynamic))
    if not dynamic:
        # the ones-kernel upsampler copies pixels: int8 would only round them, and XNNPACK takes no per-channel
        # int8 transposed convolution with groups > 1 (dynamic int8 leaves depthwise convolutions float itself)
        quantizer.set_module_type(NearestUp2Deconv, None)
    prepared = prepare_pt2e(graph, _ValueCopiesShared(quantizer))
    with torch.no_grad():
        # dynamic int8 needs no ranges: one run is enough for its observers
        for x in calib[:1] if dynamic else calib:
            prepared(torch.from_numpy(np.ascontiguousarray(x[None])))
    program = export(without_unread_tensors(convert_pt2e(prepared)), example)
    return program, conv_precisions(program)


class _ValueCopiesShared:
    """A quantizer whose annotations are `quantizer`'s, then every op that only moves values (torch.narrow, which
    vst's IR slices are; GraphModule's channels-last copies; the views, permutes and slices XNNPACK's quantizer
    itself shares) annotated to share its input's quantization, walked in graph order so that a chain carries it.

    The XNNPACK quantizer shares through views and slices but not through narrow or a memory-format copy, so a
    chain stopped there: a reflection pad's slices ran in float between a dequantize and a quantize, and the copy
    after a depth-to-space or space-to-depth took an observer of its own. That observer could settle on another
    scale than its input's (kunster-t2-08 320x240: 0.03338 in, 0.03328 out); the copy is an XNNPACK transpose,
    which cannot requantize (xnn_define_static_transpose: invalid parameter), and the program did not load."""

    def __init__(self, quantizer):
        self.quantizer = quantizer

    def annotate(self, model: torch.fx.GraphModule) -> torch.fx.GraphModule:
        from executorch.backends.xnnpack.quantizer.xnnpack_quantizer_utils import _is_share_obs_or_fq_op
        from torchao.quantization.pt2e.quantizer import QuantizationAnnotation, SharedQuantizationSpec
        model = self.quantizer.annotate(model)
        for node in model.graph.nodes:
            src = node.args[0] if node.args else None
            moves_values = node.target == torch.ops.aten.narrow.default or _is_share_obs_or_fq_op(node.target) \
                or node.kwargs.get("memory_format") == torch.channels_last
            if node.op == "call_function" and moves_values and isinstance(src, torch.fx.Node) \
                    and not node.meta.get("quantization_annotation") \
                    and getattr(src.meta.get("quantization_annotation"), "output_qspec", None) is not None:
                shared = SharedQuantizationSpec(src)
                node.meta["quantization_annotation"] = QuantizationAnnotation(
                    input_qspec_map={src: shared}, output_qspec=shared, _annotated=True)
        return model

    def __getattr__(self, name):       # validate, transform_for_annotation, ...: the wrapped quantizer's
        return getattr(self.quantizer, name)


def without_unread_tensors(graph: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """The converted graph less the buffers and parameters no node reads. convert_pt2e folds each quantized weight
    into a new int8 constant and leaves the float one registered; torch.export keeps it as an input and ExecuTorch
    writes it into the program beside the delegate: 2.2 MB of kunster-t2-01's 2.9 MB static int8 program at
    480x320, and why int8 programs were larger than fp32 ones."""
    read = {n.target for n in graph.graph.nodes if n.op == "get_attr"}
    for name, _ in [*graph.named_buffers(), *graph.named_parameters()]:
        if name not in read:
            owner, _, attr = name.rpartition(".")
            delattr(graph.get_submodule(owner), attr)
    return graph


def conv_precisions(program) -> list[dict]:
    """Each convolution of a quantized program with the precision of its weights: int8 where they come through a
    dequantize (the quantizer took the conv), float32 where it left the conv as it was (XNNPACK's dynamic int8
    takes no depthwise convolution: the ones-kernel upsamplers stay float)."""
    aten = torch.ops.aten
    kinds = {aten.conv2d.default: "conv", aten.conv_transpose2d.input: "conv_transpose"}
    rows = []
    for node in program.graph.nodes:
        if node.op != "call_function" or node.target not in (*kinds, aten.convolution.default):
            continue
        kind = kinds.get(node.target) or ("conv_transpose" if node.args[6] else "conv")
        weight = node.args[1]
        int8 = getattr(weight, "op", None) == "call_function" and "dequantize" in str(weight.target)
        rows.append({"op": node.name, "type": kind, "precision": "int8-weights" if int8 else "float32"})
    return rows


def lower(program, partitioner=None, graph_passes: bool | tuple = False) -> Lowered:
    """The ExportedProgram lowered with `partitioner` (XNNPACK's by default), serialized, with ExecuTorch's
    delegation summary. `graph_passes`: vst's passes on the XNNPACK graph the backend writes
    (vst.convert.xnnpack_graph; True for all of them, or their names), whose counts the result carries."""
    from contextlib import nullcontext
    from executorch.exir import to_edge_transform_and_lower
    from vst.convert import xnnpack_graph
    if partitioner is None:
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
        partitioner = XnnpackPartitioner()
    try:
        names = tuple(xnnpack_graph.PASSES) if graph_passes is True else graph_passes
        with xnnpack_graph.applied(names) if graph_passes else nullcontext() as stats:
            edge = to_edge_transform_and_lower(program, partitioner=[partitioner])
        delegation, hist = delegation_summary(edge.exported_program().graph_module)
        data = edge.to_executorch().buffer
    except VstError:
        raise
    except Exception as exc:  # ExecuTorch's passes raise assorted types on graphs they cannot take
        raise VstError(f"ExecuTorch could not lower the model ({first_line(exc, 160)})") from None
    return Lowered(bytes(data), delegation, hist, stats)


def delegation_summary(graph_module) -> tuple[dict, dict]:
    """ExecuTorch's own count of delegated subgraphs and of the nodes in and out of them, the compute nodes left to
    portable kernels by op, and the op histogram of the whole program (delegated or not)."""
    from executorch.devtools.backend_debug import get_delegation_info
    info = get_delegation_info(graph_module)
    rows = info.get_operator_delegation_dataframe()
    rows = rows[rows["op_type"] != "Total"]
    inside = {r.op_type: int(r.occurrences_in_delegated_graphs) for r in rows.itertuples()}
    outside = {r.op_type: int(r.occurrences_in_non_delegated_graphs) for r in rows.itertuples()
               if r.occurrences_in_non_delegated_graphs}
    compute_outside = {k: v for k, v in outside.items() if k not in NON_COMPUTE}
    hist = {k: v for k, v in sorted((Counter(inside) + Counter(outside)).items()) if k not in NON_COMPUTE}
    return {"subgraphs": int(info.num_delegated_subgraphs), "delegated_nodes": int(info.num_delegated_nodes),
            "non_delegated_nodes": int(info.num_non_delegated_nodes),
            "compute_nodes_outside": sum(compute_outside.values()), "ops_outside": dict(sorted(outside.items())),
            "source": SOURCE}, hist


def delegate_verdict(delegation: dict, backend: str = "XNNPACK") -> dict:
    """The report's delegates entry: every compute op left outside the delegate is a fallback to portable
    kernels."""
    fallbacks = [{"op": op, "node": f"{n} node(s)", "reason": f"left outside the {backend} delegate: it runs on "
                  "ExecuTorch's portable kernels between delegated subgraphs", "source": SOURCE}
                 for op, n in delegation["ops_outside"].items() if op not in NON_COMPUTE]
    verdict = "full" if not fallbacks else "none" if not delegation["delegated_nodes"] else "partial"
    return {"verdict": verdict, "subgraphs": delegation["subgraphs"], "fallbacks": fallbacks, "source": SOURCE}


def default_program(module: nn.Module, example: torch.Tensor) -> Lowered:
    """ExecuTorch's own lowering of the module as it is (no vst rewrite): what a PyTorch user gets by default."""
    return lower(export(module, example))
