"""vst.convert: trained stylizer -> verified phone artifact (TFLite, Core ML, ONNX) with a JSON report.

    from vst.convert import convert
    report = convert("model.safetensors", to="tflite", quant="int8", size=(480, 320), out="m.tflite")
"""
from vst.convert.api import convert

__all__ = ["convert"]
