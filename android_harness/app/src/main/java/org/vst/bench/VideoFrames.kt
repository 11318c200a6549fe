package org.vst.bench

import android.media.MediaCodec
import android.media.MediaExtractor
import android.media.MediaFormat
import java.io.File
import java.nio.ByteBuffer

/**
 * The app's frame source for NativeBench: hardware H.264 decode with MediaCodec, each frame turned from the
 * codec's YUV_420_888 image into full-size RGB (core's Yuv), which vst_prepare then scales and crops as on every
 * runner. The size is the track's; a rotated clip is measured unrotated.
 */
class MediaCodecClip(private val file: File) : RgbClip {
    override val width: Int
    override val height: Int

    init {
        if (!file.isFile) {
            throw NativeModelException("clip $file does not exist; push the plan's frame_source with the plan", true)
        }
        val extractor = MediaExtractor()
        try {
            extractor.setDataSource(file.path)
            val format = extractor.getTrackFormat(videoTrack(extractor, file))
            width = format.getInteger(MediaFormat.KEY_WIDTH)
            height = format.getInteger(MediaFormat.KEY_HEIGHT)
        } finally {
            extractor.release()
        }
    }

    override fun open(): FrameReader<ByteBuffer> = VideoReader(file, width, height)

    companion object {
        fun videoTrack(extractor: MediaExtractor, file: File): Int =
            (0 until extractor.trackCount).firstOrNull {
                extractor.getTrackFormat(it).getString(MediaFormat.KEY_MIME)?.startsWith("video/") == true
            } ?: throw NativeModelException("${file.name} has no video track; give an H.264 video", true)
    }
}

/** MediaCodec in synchronous mode; next() refills one RGB buffer, valid until the following call. */
class VideoReader(file: File, private val width: Int, private val height: Int) : FrameReader<ByteBuffer> {
    private val extractor = MediaExtractor()
    private val codec: MediaCodec
    private val rgb: ByteBuffer = ByteBuffer.allocateDirect(width * height * 3)
    private var inputDone = false
    private var outputDone = false
    private val info = MediaCodec.BufferInfo()

    init {
        extractor.setDataSource(file.path)
        val track = MediaCodecClip.videoTrack(extractor, file)
        extractor.selectTrack(track)
        val format = extractor.getTrackFormat(track)
        codec = MediaCodec.createDecoderByType(format.getString(MediaFormat.KEY_MIME)!!)
        codec.configure(format, null, null, 0)
        codec.start()
    }

    override fun next(): ByteBuffer? {
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
                try {
                    val image = if (info.size > 0) codec.getOutputImage(outIdx) else null
                    if (image != null) {
                        image.use {
                            val (y, u, v) = it.planes.map { p -> Plane(p.buffer, p.rowStride, p.pixelStride) }
                            val crop = it.cropRect
                            Yuv.toRgb(y, u, v, width, height, crop.left, crop.top, rgb)
                        }
                        rgb.rewind()
                        return rgb
                    }
                } finally {
                    // the codec's buffer goes back as soon as the frame is copied out, so decoding runs ahead
                    codec.releaseOutputBuffer(outIdx, false)
                }
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
