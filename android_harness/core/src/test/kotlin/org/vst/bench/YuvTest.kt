package org.vst.bench

import org.junit.Assert.assertArrayEquals
import org.junit.Test
import java.nio.ByteBuffer

class YuvTest {
    private fun rgb(out: ByteBuffer): IntArray = IntArray(out.capacity()) { out.get(it).toInt() and 0xff }

    /** A 4x2 image whose 2x2 blocks are (Y, U, V) = [a] and [b], as I420 with padded rows or as NV12. */
    private fun image(a: IntArray, b: IntArray, interleaved: Boolean): Triple<Plane, Plane, Plane> {
        val rowStride = 8   // rows padded past the 4 pixels, as decoders align them
        val y = ByteBuffer.allocate(rowStride * 2)
        for (row in 0 until 2) for (col in 0 until 4) y.put(row * rowStride + col, (if (col < 2) a[0] else b[0]).toByte())
        return if (interleaved) {
            val uv = ByteBuffer.allocate(rowStride)
            uv.put(0, a[1].toByte()); uv.put(1, a[2].toByte()); uv.put(2, b[1].toByte()); uv.put(3, b[2].toByte())
            val v = ByteBuffer.wrap(uv.array(), 1, rowStride - 1).slice()
            Triple(Plane(y, rowStride, 1), Plane(uv, rowStride, 2), Plane(v, rowStride, 2))
        } else {
            val u = ByteBuffer.allocate(rowStride)
            val v = ByteBuffer.allocate(rowStride)
            u.put(0, a[1].toByte()); u.put(1, b[1].toByte()); v.put(0, a[2].toByte()); v.put(1, b[2].toByte())
            Triple(Plane(y, rowStride, 1), Plane(u, rowStride / 2, 1), Plane(v, rowStride / 2, 1))
        }
    }

    @Test fun bt601LimitedRangeInPlanarAndInterleavedLayouts() {
        // black and white at the limits of the limited range; BT.601 red (81, 90, 240) -> 1.164*65 + 1.596*112
        val black = intArrayOf(16, 128, 128)
        val red = intArrayOf(81, 90, 240)
        val want = intArrayOf(0, 0, 0, 0, 0, 0, 254, 0, 0, 254, 0, 0)
        for (interleaved in listOf(false, true)) {
            val (y, u, v) = image(black, red, interleaved)
            val out = ByteBuffer.allocateDirect(4 * 2 * 3)
            Yuv.toRgb(y, u, v, 4, 2, 0, 0, out)
            assertArrayEquals("interleaved=$interleaved", want + want, rgb(out))
        }
        val (y, u, v) = image(intArrayOf(235, 128, 128), intArrayOf(126, 128, 128), false)
        val out = ByteBuffer.allocateDirect(2 * 1 * 3)
        Yuv.toRgb(y, u, v, 2, 1, 1, 1, out)    // a crop: the second row, columns 1 and 2
        assertArrayEquals(intArrayOf(255, 255, 255, 128, 128, 128), rgb(out))
    }
}
