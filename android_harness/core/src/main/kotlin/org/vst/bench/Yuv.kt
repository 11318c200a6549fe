package org.vst.bench

import java.nio.ByteBuffer

/** One plane of a YUV 4:2:0 image as Android's Image.Plane gives it: bytes, row stride, pixel stride. */
class Plane(val buffer: ByteBuffer, val rowStride: Int, val pixelStride: Int) {
    fun at(x: Int, y: Int): Int = buffer.get(y * rowStride + x * pixelStride).toInt() and 0xff
}

/**
 * YUV_420_888 (planar I420 or interleaved NV12/NV21, any strides) to packed RGB, so a decoder's frames can go to
 * vst_prepare as every runner's frames do. Free of Android classes so the JVM tests check it; the app only hands
 * over MediaCodec's planes.
 */
object Yuv {
    /**
     * The [width] x [height] region at ([left], [top]) of the image into [out] (width * height * 3 bytes, RGB),
     * BT.601 limited range as H.264 encoders write by default; each 2x2 block shares its chroma sample.
     */
    fun toRgb(y: Plane, u: Plane, v: Plane, width: Int, height: Int, left: Int, top: Int, out: ByteBuffer) {
        require(out.capacity() >= width * height * 3) { "the RGB buffer holds ${out.capacity()} bytes" }
        var o = 0
        for (row in top until top + height) {
            for (col in left until left + width) {
                val yy = 1.164f * (y.at(col, row) - 16)
                val cu = u.at(col / 2, row / 2) - 128
                val cv = v.at(col / 2, row / 2) - 128
                out.put(o, clamp(yy + 1.596f * cv))
                out.put(o + 1, clamp(yy - 0.392f * cu - 0.813f * cv))
                out.put(o + 2, clamp(yy + 2.017f * cu))
                o += 3
            }
        }
    }

    private fun clamp(v: Float): Byte = Math.round(v).coerceIn(0, 255).toByte()
}
