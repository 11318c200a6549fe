package org.vst.bench.jvm

import org.vst.bench.FrameReader
import org.vst.bench.RgbClip
import java.io.File
import java.nio.ByteBuffer
import java.nio.channels.Channels
import java.nio.channels.ReadableByteChannel
import java.util.concurrent.TimeUnit

/**
 * The JVM's frame source for NativeBench: each open() starts an ffmpeg on the clip (srcWidth x srcHeight) that
 * scales it to cover width x height and centre-crops it, as vst's host runner has swscale do while converting to
 * RGB (vst.common.images.cover: area when shrinking, bilinear when enlarging): the frames arrive at the model's
 * size, a phone's scaler's job.
 */
class FfmpegClip(private val ffmpeg: String, private val clip: File, srcWidth: Int, srcHeight: Int,
                 override val width: Int, override val height: Int) : RgbClip {
    private val filter = coverFilter(srcWidth, srcHeight, width, height)
    override fun open(): FrameReader<ByteBuffer> = FfmpegFrames(ffmpeg, clip, width, height, filter)
}

fun coverFilter(w: Int, h: Int, width: Int, height: Int): String {
    val scale = maxOf(width.toDouble() / w, height.toDouble() / h)
    // Math.rint rounds halves to even, as Python's round()
    val nw = maxOf(width, Math.rint(w * scale).toInt())
    val nh = maxOf(height, Math.rint(h * scale).toInt())
    val flags = if (scale < 1) "area" else "bilinear"
    return "scale=$nw:$nh:flags=$flags,crop=$width:$height:${(nw - width) / 2}:${(nh - height) / 2}"
}

/**
 * The clip's frames as RGB bytes: `ffmpeg -v error -i CLIP [-vf FILTER] -f rawvideo -pix_fmt rgb24 -` in a child
 * process (the JVM has no H.264 decoder; the phones use their platform's). next() refills one direct buffer, so
 * a frame is valid until the next call: BenchRunner prepares each frame before it decodes the next.
 */
class FfmpegFrames(ffmpeg: String, private val clip: File, val width: Int, val height: Int,
                   filter: String? = null) : FrameReader<ByteBuffer> {
    // ffmpeg's stderr goes to a file, read only when it fails: a pipe nobody drains could stall the decoder
    private val log: File = File.createTempFile("vst-ffmpeg", ".log")
    private val process: Process = ProcessBuilder(listOf(ffmpeg, "-nostdin", "-v", "error", "-i", clip.path) +
                                                  (if (filter != null) listOf("-vf", filter) else emptyList()) +
                                                  listOf("-f", "rawvideo", "-pix_fmt", "rgb24", "-"))
        .redirectError(log).start()
    private val stdout: ReadableByteChannel = Channels.newChannel(process.inputStream)
    private val frame: ByteBuffer = ByteBuffer.allocateDirect(width * height * 3)
    private var done = false

    override fun next(): ByteBuffer? {
        if (done) return null
        frame.clear()
        while (frame.hasRemaining()) {
            if (stdout.read(frame) < 0) break
        }
        if (frame.position() == 0) {
            done = true
            checkExit()
            return null
        }
        if (frame.hasRemaining()) {
            throw UserError("ffmpeg gave ${frame.position()} bytes of a ${width}x$height frame from $clip: give the " +
                            "clip's own size as the plan's frame_source width and height")
        }
        frame.flip()
        return frame
    }

    private fun checkExit() {
        if (!process.waitFor(30, TimeUnit.SECONDS)) throw IllegalStateException("ffmpeg did not exit after $clip")
        if (process.exitValue() != 0) {
            val said = log.readLines().lastOrNull { it.isNotBlank() }?.trim()
            throw UserError("ffmpeg could not decode $clip (${said ?: "exit code ${process.exitValue()}"}); give an " +
                            "H.264 video")
        }
    }

    override fun close() {
        // a pipeline that stops early (measure.seconds) leaves ffmpeg mid-clip: it is stopped, not drained
        if (process.isAlive) process.destroy()
        if (!process.waitFor(5, TimeUnit.SECONDS)) process.destroyForcibly()
        stdout.close()
        log.delete()
    }
}
