package org.vst.bench

/**
 * The LiteRT delegates a plan may name, with the `delegate_used` wording of the app's former Interpreter path
 * (kept for results written by it). NativeBench runs xnnpack and gpu through vst's native backend, which says
 * itself what ran; nnapi and none it refuses.
 */
enum class Delegate(val key: String, val used: String) {
    XNNPACK("xnnpack", "xnnpack (Interpreter.Options.setUseXNNPACK)"),
    GPU("gpu", "gpu (GpuDelegate applied; unsupported ops run on the CPU)"),
    NNAPI("nnapi", "nnapi (NnApiDelegate applied; the driver picks the accelerator)"),
    NONE("none", "none (builtin kernels)");

    companion object {
        fun of(name: String): Delegate? = values().firstOrNull { it.key == name }
    }
}

/** How the model's input tensor is laid out and filled, decided from its shape and quantization. */
object InputFormat {
    /** NHWC or NCHW from a 4-D RGB input shape. */
    fun layoutOf(shape: IntArray): String = when {
        shape.size == 4 && shape[3] == 3 -> "NHWC"
        shape.size == 4 && shape[1] == 3 -> "NCHW"
        else -> throw IllegalArgumentException("input shape ${shape.contentToString()} is not a 4-D RGB batch")
    }

    fun shapeFor(layout: String, width: Int, height: Int): IntArray =
        if (layout == "NHWC") intArrayOf(1, height, width, 3) else intArrayOf(1, 3, height, width)

    /** Element index of channel [c] of pixel (x, y). */
    fun index(layout: String, width: Int, height: Int, x: Int, y: Int, c: Int): Int =
        if (layout == "NHWC") (y * width + x) * 3 + c else c * width * height + y * width + x

    /** An 8-bit value 0..255 as the model's quantized input in [lo, hi]; the stylizers were trained on [0, 1]. */
    fun quantize(v: Int, scale: Float, zeroPoint: Int, lo: Int, hi: Int): Int =
        if (scale > 0) Math.round(v / 255f / scale + zeroPoint).coerceIn(lo, hi) else v.coerceIn(lo, hi)

    /** How many prepared inputs the inference-only phase may keep within [budget] bytes (at least one). */
    fun preparedLimit(bytesPerFrame: Int, budget: Int = 256 shl 20): Int = maxOf(1, budget / maxOf(1, bytesPerFrame))
}
