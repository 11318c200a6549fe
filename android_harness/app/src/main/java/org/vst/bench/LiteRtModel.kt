package org.vst.bench

import org.tensorflow.lite.DataType
import org.tensorflow.lite.Delegate
import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.gpu.GpuDelegate
import org.tensorflow.lite.nnapi.NnApiDelegate
import java.io.File
import java.io.RandomAccessFile
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.nio.channels.FileChannel

/**
 * A .tflite model on LiteRT with the plan's delegate. A delegate that cannot be created fails the cell instead
 * of silently falling back to the CPU, so `delegate_used` always names what actually ran.
 */
class LiteRtModel(file: File, val width: Int, val height: Int, threads: Int?, val choice: Delegate) :
    AutoCloseable {
    private val delegate: Delegate?
    val interpreter: Interpreter
    val layout: String
    val dtype: String
    private val scale: Float
    private val zeroPoint: Int
    private val output: ByteBuffer
    val delegateUsed: String

    init {
        val options = Interpreter.Options()
        threads?.let { options.setNumThreads(it) }
        options.setUseXNNPACK(choice == Delegate.XNNPACK)
        delegate = when (choice) {
            Delegate.GPU -> GpuDelegate()
            Delegate.NNAPI -> NnApiDelegate()
            Delegate.XNNPACK, Delegate.NONE -> null
        }
        delegate?.let { options.addDelegate(it) }
        val mapped = RandomAccessFile(file, "r").use { f ->
            f.channel.map(FileChannel.MapMode.READ_ONLY, 0, f.length())
        }
        interpreter = Interpreter(mapped, options)
        val inp = interpreter.getInputTensor(0)
        val shape = inp.shapeSignature()
        layout = InputFormat.layoutOf(shape)
        val wanted = InputFormat.shapeFor(layout, width, height)
        if (!inp.shape().contentEquals(wanted)) interpreter.resizeInput(0, wanted)
        interpreter.allocateTensors()
        dtype = when (inp.dataType()) {
            DataType.FLOAT32 -> "float32"
            DataType.UINT8 -> "uint8"
            DataType.INT8 -> "int8"
            DataType.FLOAT16 -> "float16"
            else -> throw IllegalArgumentException("input type ${inp.dataType()} is not supported")
        }
        scale = inp.quantizationParams().scale
        zeroPoint = inp.quantizationParams().zeroPoint
        output = ByteBuffer.allocateDirect(interpreter.getOutputTensor(0).numBytes()).order(ByteOrder.nativeOrder())
        delegateUsed = choice.used
    }

    fun newInput(): ByteBuffer {
        val bytes = width * height * 3 * (if (dtype == "float32") 4 else 1)
        return ByteBuffer.allocateDirect(bytes).order(ByteOrder.nativeOrder())
    }

    /** Store one RGB pixel (0..255) at (x, y) of [buf] in the model's layout and type, from [0, 1] floats. */
    fun put(buf: ByteBuffer, x: Int, y: Int, r: Int, g: Int, b: Int) {
        val rgb = intArrayOf(r, g, b)
        for (c in 0 until 3) {
            val idx = InputFormat.index(layout, width, height, x, y, c)
            when (dtype) {
                "float32" -> buf.putFloat(idx * 4, rgb[c] / 255f)
                "uint8" -> buf.put(idx, quantize(rgb[c], 0, 255).toByte())
                else -> buf.put(idx, quantize(rgb[c], -128, 127).toByte())
            }
        }
    }

    private fun quantize(v: Int, lo: Int, hi: Int): Int = InputFormat.quantize(v, scale, zeroPoint, lo, hi)

    fun infer(input: ByteBuffer) {
        input.rewind()
        output.rewind()
        interpreter.run(input, output)
    }

    override fun close() {
        interpreter.close()
        (delegate as? AutoCloseable)?.close()
    }
}
