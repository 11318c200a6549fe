package org.vst.bench

import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder

/**
 * A failure of vst's native backend (vst_litert.h), with the backend's own line as its message; [badInput] when
 * the caller's input is at fault (a missing or unloadable model, a frame it cannot prepare), so a runner exits 2.
 */
class NativeModelException(message: String, val badInput: Boolean = false) : RuntimeException(message)

/**
 * The JNI entry points of libvstjni (android_harness/jni/vst_jni.c). The library loads on first use: from the
 * path in the system property `vst.jni.lib` when set (the JVM runner), else by name from java.library.path or an
 * app's jniLibs (System.loadLibrary("vstjni")).
 */
object VstNative {
    init {
        val path = System.getProperty("vst.jni.lib")
        if (path != null) System.load(path) else System.loadLibrary("vstjni")
    }

    @JvmStatic external fun open(path: String, accelerator: String, threads: Int): Long
    @JvmStatic external fun close(handle: Long)
    @JvmStatic external fun info(handle: Long, output: Boolean): DoubleArray
    @JvmStatic external fun inputImage(handle: Long): IntArray
    @JvmStatic external fun run(handle: Long, input: ByteBuffer, output: ByteBuffer)
    @JvmStatic external fun prepare(handle: Long, rgb: ByteBuffer, width: Int, height: Int, dst: ByteBuffer)
    @JvmStatic external fun delegateUsed(handle: Long): String
    @JvmStatic external fun runtimeVersion(): String
    @JvmStatic external fun residentBytes(): Long
    @JvmStatic external fun peakResidentBytes(): Long
    @JvmStatic external fun resetPeak(): Int
}

/** A model's first input or output as the backend describes it (VstTensorInfo). */
data class TensorInfo(val shape: List<Int>, val dtype: String, val scale: Float, val zeroPoint: Int, val bytes: Int) {
    companion object {
        /** The backend's VstDType, in order, as vst's schemas name the types. */
        val DTYPES = listOf("float32", "float16", "uint8", "int8")

        /** VstNative.info's packing: rank, dims[8], dtype, scale, zero point, bytes. */
        fun unpack(v: DoubleArray): TensorInfo {
            val rank = v[0].toInt()
            require(rank in 0..8 && v.size == 13) { "tensor info of rank $rank from the backend" }
            return TensorInfo((0 until rank).map { v[1 + it].toInt() }, DTYPES[v[9].toInt()], v[10].toFloat(),
                              v[11].toInt(), v[12].toLong().toInt())
        }
    }
}

/**
 * A .tflite on LiteRT's CompiledModel through vst's native backend: what the phone apps and the JVM runner share
 * instead of each binding LiteRT its own way. Buffers are direct ByteBuffers in native order, reused frame after
 * frame: [prepare] writes a frame straight into an input buffer and [run] reads it from there.
 */
class NativeModel private constructor(private var handle: Long) : AutoCloseable {
    val input: TensorInfo = TensorInfo.unpack(VstNative.info(handle, false))
    val output: TensorInfo = TensorInfo.unpack(VstNative.info(handle, true))
    /** What ran the model, e.g. "xnnpack (cpu, every op delegated)" or "gpu (fully accelerated)". */
    val delegateUsed: String = VstNative.delegateUsed(handle)
    private val image: IntArray = VstNative.inputImage(handle)
    /** The input image as [prepare] fills it (the backend takes image models only). */
    val width: Int = image[0]
    val height: Int = image[1]
    val layout: String = if (image[2] != 0) "NCHW" else "NHWC"

    fun newInput(): ByteBuffer = ByteBuffer.allocateDirect(input.bytes).order(ByteOrder.nativeOrder())
    fun newOutput(): ByteBuffer = ByteBuffer.allocateDirect(output.bytes).order(ByteOrder.nativeOrder())

    /** One inference: [x] holds input.bytes bytes, [y] receives output.bytes. */
    fun run(x: ByteBuffer, y: ByteBuffer) = VstNative.run(live(), x, y)

    /** An RGB uint8 frame of any size (HxWx3 bytes in [rgb]) -> the model's input in [dst], as vst's host does. */
    fun prepare(rgb: ByteBuffer, frameWidth: Int, frameHeight: Int, dst: ByteBuffer) =
        VstNative.prepare(live(), rgb, frameWidth, frameHeight, dst)

    private fun live(): Long = if (handle != 0L) handle else throw NativeModelException("the model is closed")

    @Synchronized override fun close() {
        if (handle != 0L) VstNative.close(handle)
        handle = 0L
    }

    companion object {
        /** Loads [path] for "cpu" (XNNPACK) or "gpu"; [threads] 0 keeps LiteRT's default. */
        fun open(path: String, accelerator: String, threads: Int = 0): NativeModel {
            val handle = VstNative.open(path, accelerator, threads)
            try {
                return NativeModel(handle)
            } catch (t: Throwable) {
                VstNative.close(handle)
                throw t
            }
        }

        /** As [open], with a missing file refused as bad input before the backend is asked. */
        fun openFile(file: File, accelerator: String, threads: Int = 0): NativeModel {
            if (!file.isFile) throw NativeModelException("model $file does not exist; give a .tflite file", true)
            return open(file.path, accelerator, threads)
        }

        val runtimeVersion: String get() = VstNative.runtimeVersion()

        /** Resident bytes of this process now, and its high-water mark since [resetPeak]. */
        fun residentBytes(): Long = VstNative.residentBytes()
        fun peakResidentBytes(): Long = VstNative.peakResidentBytes()

        /** Starts a new high-water mark; false where the platform keeps one mark for the process's life. */
        fun resetPeak(): Boolean = VstNative.resetPeak() == 0
    }
}
