package org.vst.bench

import android.media.Image
import android.media.MediaCodec
import android.media.MediaExtractor
import android.media.MediaFormat
import java.io.File
import java.nio.ByteBuffer

/** One decoded frame: the codec's output image, released back to the codec once resized. */
class DecodedFrame(val codec: MediaCodec, val index: Int, val image: Image)

/** Hardware H.264 decode with MediaCodec (synchronous mode), frames as YUV_420_888 images. */
class VideoReader(file: File) : FrameReader<DecodedFrame> {
    private val extractor = MediaExtractor()
    private val codec: MediaCodec
    private var inputDone = false
    private var outputDone = false
    private val info = MediaCodec.BufferInfo()

    init {
        extractor.setDataSource(file.path)
        val track = (0 until extractor.trackCount).firstOrNull {
            extractor.getTrackFormat(it).getString(MediaFormat.KEY_MIME)?.startsWith("video/") == true
        } ?: throw IllegalArgumentException("${file.name} has no video track")
        extractor.selectTrack(track)
        val format = extractor.getTrackFormat(track)
        codec = MediaCodec.createDecoderByType(format.getString(MediaFormat.KEY_MIME)!!)
        codec.configure(format, null, null, 0)
        codec.start()
    }

    override fun next(): DecodedFrame? {
        while (!outputDone) {
            if (!inputDone) {
                val inIdx = codec.dequeueInputBuffer(10_000)
                if (inIdx >= 0) {
                    val buf = codec.getInputBuffer(inIdx)!!
                    val size = extractor.readSampleData(buf, 0)
                    if (size < 0) {
                        codec.queueInputBuffer(inIdx, 0, 0, 0, MediaCodec.BUFFER_FLAG_END_OF_STREAM)
                        inputDone = true
                    } else {
                        codec.queueInputBuffer(inIdx, 0, size, extractor.sampleTime, 0)
                        extractor.advance()
                    }
                }
            }
            val outIdx = codec.dequeueOutputBuffer(info, 10_000)
            if (outIdx >= 0) {
                if (info.flags and MediaCodec.BUFFER_FLAG_END_OF_STREAM != 0) outputDone = true
                if (info.size > 0) {
                    val image = codec.getOutputImage(outIdx)
                    if (image != null) return DecodedFrame(codec, outIdx, image)
                }
                codec.releaseOutputBuffer(outIdx, false)
            }
        }
        return null
    }

    override fun close() {
        codec.stop()
        codec.release()
        extractor.release()
    }
}

/**
 * The resize step: YUV_420_888 -> RGB in the model's layout and type, scaled to cover the input size and
 * centre-cropped (like vst.common.images.resize_cover), sampling the nearest source pixel.
 */
fun resizeInto(frame: DecodedFrame, model: LiteRtModel): ByteBuffer {
    val img = frame.image
    val out = model.newInput()
    try {
        val sw = img.width; val sh = img.height
        val scale = maxOf(model.width.toDouble() / sw, model.height.toDouble() / sh)
        val x0 = (sw - model.width / scale) / 2; val y0 = (sh - model.height / scale) / 2
        val (yp, up, vp) = img.planes
        val yBuf: ByteBuffer = yp.buffer; val uBuf: ByteBuffer = up.buffer; val vBuf: ByteBuffer = vp.buffer
        for (y in 0 until model.height) {
            val sy = minOf(sh - 1, (y0 + (y + 0.5) / scale).toInt())
            for (x in 0 until model.width) {
                val sx = minOf(sw - 1, (x0 + (x + 0.5) / scale).toInt())
                val yy = (yBuf.get(sy * yp.rowStride + sx * yp.pixelStride).toInt() and 0xff) - 16
                val cu = (sy / 2) * up.rowStride + (sx / 2) * up.pixelStride
                val cv = (sy / 2) * vp.rowStride + (sx / 2) * vp.pixelStride
                val u = (uBuf.get(cu).toInt() and 0xff) - 128
                val v = (vBuf.get(cv).toInt() and 0xff) - 128
                // BT.601 limited range, as H.264 encoders write by default
                val r = (1.164f * yy + 1.596f * v).toInt().coerceIn(0, 255)
                val g = (1.164f * yy - 0.392f * u - 0.813f * v).toInt().coerceIn(0, 255)
                val b = (1.164f * yy + 2.017f * u).toInt().coerceIn(0, 255)
                model.put(out, x, y, r, g, b)
            }
        }
    } finally {
        img.close()
        frame.codec.releaseOutputBuffer(frame.index, false)
    }
    return out
}
