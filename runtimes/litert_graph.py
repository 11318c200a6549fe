"""A .tflite flatbuffer cut into one-op models: LiteRT does not say which ops its GPU accelerator refuses, so each
distinct op is offered to it alone. Reads and writes flatbuffers with LiteRT's own schema (no TensorFlow)."""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np


def _fb():
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils as fbu
    return schema, fbu


_OP_NAMES: dict[int, str] = {}


def op_name(code: int) -> str:
    if not _OP_NAMES:
        schema, _ = _fb()
        _OP_NAMES.update({v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")})
    return _OP_NAMES.get(code, f"CUSTOM_{code}")


def custom_ops(data: bytes) -> list[str]:
    """The custom op codes a model uses (TensorFlow select ops are `Flex...`), read from the flatbuffer: a model
    with select ops cannot even be allocated by a LiteRT without the Flex delegate."""
    _, fbu = _fb()
    model = fbu.convert_bytearray_to_object(bytearray(data))
    codes = {oc.customCode for oc in model.operatorCodes or [] if oc.customCode}
    return sorted(c.decode() if isinstance(c, bytes) else str(c) for c in codes)


@dataclass
class OneOp:
    """One distinct op of a model: its name, the node indices that share it, and the one-op model's bytes."""
    op: str
    nodes: list[int]
    model: bytes


def _code(model, op) -> int:
    oc = model.operatorCodes[op.opcodeIndex]
    return max(int(oc.builtinCode), int(oc.deprecatedBuiltinCode))


def _constant(model, tensor) -> bool:
    buf = model.buffers[tensor.buffer] if tensor.buffer < len(model.buffers) else None
    return buf is not None and ((buf.data is not None and len(buf.data) > 0) or bool(getattr(buf, "size", 0)))


def _signature(model, sub, op) -> str:
    """Ops alike in kind, options and tensor types and shapes get one answer."""
    def tensor(i):
        if i < 0:
            return None
        t = sub.tensors[i]
        return (int(t.type), tuple(np.asarray(t.shape).tolist()) if t.shape is not None else (), _constant(model, t))
    opts = vars(op.builtinOptions) if op.builtinOptions is not None else {}
    return repr((_code(model, op), sorted((k, repr(v)) for k, v in opts.items()),
                 [tensor(i) for i in op.inputs], [tensor(i) for i in op.outputs]))


def one_op_models(data: bytes) -> list[OneOp]:
    """The main subgraph's distinct ops, each as a model of that op alone: its runtime inputs become the model's
    inputs, its constants keep their data, its outputs are the model's outputs."""
    schema, fbu = _fb()
    model = fbu.convert_bytearray_to_object(bytearray(data))
    sub = model.subgraphs[0]
    groups: dict[str, OneOp] = {}
    for index, op in enumerate(sub.operators):
        key = _signature(model, sub, op)
        if key in groups:
            groups[key].nodes.append(index)
            continue
        groups[key] = OneOp(op_name(_code(model, op)), [index], _cut(model, sub, op))
    return list(groups.values())


def _cut(model, sub, op) -> bytes:
    schema, fbu = _fb()
    used = [i for i in list(op.inputs) + list(op.outputs) if i >= 0]
    order = list(dict.fromkeys(used))
    new_index = {old: new for new, old in enumerate(order)}
    buffers, tensors = [schema.BufferT()], []
    for old in order:
        t = copy.copy(sub.tensors[old])
        if _constant(model, sub.tensors[old]):
            buffers.append(model.buffers[t.buffer])
            t.buffer = len(buffers) - 1
        else:
            t.buffer = 0
        tensors.append(t)
    new_op = copy.copy(op)
    new_op.inputs = [new_index[i] if i >= 0 else -1 for i in op.inputs]
    new_op.outputs = [new_index[i] for i in op.outputs]
    new_op.opcodeIndex = 0
    g = schema.SubGraphT()
    g.tensors, g.operators = tensors, [new_op]
    g.inputs = [new_index[i] for i in dict.fromkeys(op.inputs) if i >= 0 and not _constant(model, sub.tensors[i])]
    g.outputs = [new_index[i] for i in op.outputs]
    g.name = "one_op"
    m = schema.ModelT()
    m.version, m.description = model.version, "one op of a vst artifact"
    m.operatorCodes = [model.operatorCodes[op.opcodeIndex]]
    m.subgraphs, m.buffers = [g], buffers
    return bytes(fbu.convert_object_to_bytearray(m))


def one_op_probe() -> bytes:
    """The smallest model a GPU must take: y = x + x on a 1x8x8x4 float tensor."""
    schema, fbu = _fb()

    def tensor(name):
        t = schema.TensorT()
        t.name, t.shape, t.type, t.buffer = name, [1, 8, 8, 4], schema.TensorType.FLOAT32, 0
        return t
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.ADD
    code.version = 1
    op = schema.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0, 0], [1]
    op.builtinOptionsType = schema.BuiltinOptions.AddOptions
    op.builtinOptions = schema.AddOptionsT()
    g = schema.SubGraphT()
    g.tensors, g.operators, g.inputs, g.outputs, g.name = [tensor("x"), tensor("y")], [op], [0], [1], "probe"
    m = schema.ModelT()
    m.version, m.operatorCodes, m.subgraphs, m.buffers = 3, [code], [g], [schema.BufferT()]
    return bytes(fbu.convert_object_to_bytearray(m))
