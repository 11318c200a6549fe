"""vst.convert: trained stylizer -> verified phone artifact (TFLite, Core ML, ONNX) with a JSON report.

    from vst.convert import convert
    report = convert("model.safetensors", to="tflite", quant="int8", size=(480, 320), out="m.tflite")

One convolution as a TFLite file with a named rewrite on or off, to time what the rewrite buys (docs/convert.md):

    from vst.convert import single_conv_tflite
    tflite_bytes, sites = single_conv_tflite(16, 3, kernel=9, size=(480, 320), rewrite="conv_output_parities")
"""
from vst.convert.api import convert
from vst.convert.single_conv import single_conv_tflite

__all__ = ["convert", "single_conv_tflite"]
