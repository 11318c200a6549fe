package org.vst.bench

import java.io.File
import java.nio.ByteBuffer
import java.time.Instant
import java.util.UUID
import java.util.concurrent.ConcurrentLinkedQueue

/**
 * The platform's part of a cell: the clip's frames, full size, as RGB bytes (height x width x 3) in a direct
 * ByteBuffer. ffmpeg on the JVM (jvm/FfmpegFrames), MediaCodec in the app (app/VideoFrames). A frame stays valid
 * until the reader's next call: BenchRunner prepares each frame before it decodes the next.
 */
interface RgbClip {
    val width: Int
    val height: Int
    fun open(): FrameReader<ByteBuffer>
}

/** What a platform says of itself in the result; thermal and battery are read as the cell starts and ends. */
interface HostFacts {
    /** How refusals name this runner, e.g. "the JVM runner". */
    val runner: String
    val hardware: String?
    val chip: String?
    val os: String
    val harness: String
    val platform: String
    fun thermal(): Thermal? = null
    fun battery(): Battery? = null
}

/**
 * One plan through vst's native backend, as every Kotlin runner measures it: the JVM runner and the Android app
 * call this with only their frame source and host facts differing. The process's memory is read around the cell
 * (high-water mark reset just before load, so the peak is this cell's and not the process's start-up), the model
 * is opened (load time), BenchRunner warms up (first inference) and measures, and the result is assembled.
 * Bad input (a delegate the backend lacks, a model that does not fit the plan, a truncated clip) is a
 * NativeModelException with badInput set.
 */
class NativeBench(private val host: HostFacts) {

    /** The accelerator vst_open takes for the plan's delegate. */
    fun accelerator(plan: Plan): String = when (plan.delegate) {
        "xnnpack" -> "cpu"
        "gpu" -> "gpu"
        else -> throw NativeModelException("delegate ${plan.delegate}: ${host.runner} takes xnnpack (LiteRT's CPU) " +
                                           "or gpu, what vst's native backend runs", true)
    }

    /** Runs [plan] on [model]; [clip] is opened after the plan is checked and before the model loads. */
    fun run(plan: Plan, model: File, clip: () -> RgbClip): BenchResult {
        val accelerator = accelerator(plan)
        val frames = clip()
        val fw = frames.width
        val fh = frames.height
        val started = Instant.now().toString()
        val thermal0 = host.thermal()
        val battery0 = host.battery()
        val peakReset = NativeModel.resetPeak()
        val baseline = NativeModel.residentBytes()
        val t0 = System.nanoTime()
        NativeModel.openFile(model, accelerator, plan.threads ?: 0).use { m ->
            val loadMs = (System.nanoTime() - t0) / 1e6
            val afterLoad = NativeModel.residentBytes()
            if (m.width != plan.width || m.height != plan.height) {
                throw NativeModelException("${plan.artifactPath} has a fixed ${m.width}x${m.height} input; the plan " +
                                           "asks for ${plan.width}x${plan.height}", true)
            }
            val output = m.newOutput()
            // end-to-end inputs come back once inferred and are reused, so the JVM does not pile up direct buffers
            // (freed only at a GC) and the peak counts what a frame needs, not the garbage collector's lag
            val free = ConcurrentLinkedQueue<ByteBuffer>()
            val runner = BenchRunner<ByteBuffer, ByteBuffer>(
                openVideo = { frames.open() },
                resize = { frame -> (free.poll() ?: m.newInput()).also { m.prepare(frame, fw, fh, it) } },
                infer = { m.run(it, output) },
                maxPrepared = InputFormat.preparedLimit(m.input.bytes),
                release = { free.add(it) }
            )
            val firstMs = runner.warmup(plan)
            val repeats = runner.measure(plan)
            checkComplete(plan, repeats)
            val memory = memory(baseline, afterLoad, NativeModel.peakResidentBytes(), peakReset)
            val env = Environment(
                device = plan.device, hardware = host.hardware, chip = host.chip, os = host.os,
                runtimeVersion = NativeModel.runtimeVersion, delegateRequested = plan.delegate,
                delegateUsed = m.delegateUsed, threads = plan.threads,
                thermalStart = thermal0, thermalEnd = host.thermal(), batteryStart = battery0,
                batteryEnd = host.battery(), harness = host.harness, platform = host.platform
            )
            return BenchResult(plan, UUID.randomUUID().toString(), started, Instant.now().toString(), env, m.layout,
                               m.input.dtype, loadMs, firstMs, repeats, memory)
        }
    }

    companion object {
        /** Where vst_litert.c reads memory on Linux and Android. */
        const val MEMORY_SOURCE = "/proc/self/status (VmRSS, VmHWM)"

        private fun mib(bytes: Long): Double = Math.round(bytes / 1048576.0 * 10) / 10.0

        /** The result's memory record in MiB, or null when a reading failed (no record beats a wrong one). */
        fun memory(baseline: Long, afterLoad: Long, peak: Long, peakReset: Boolean): Memory? =
            if (baseline < 0 || afterLoad < 0 || peak < 0) null
            else Memory(MEMORY_SOURCE, mib(baseline), mib(afterLoad), mib(peak), peakReset)

        /** As the host runner: a clip cut short must not pass for a complete measurement. */
        fun checkComplete(plan: Plan, repeats: List<Repeat>) {
            if (plan.measureSeconds != null) return
            val expected = listOfNotNull(plan.measureFrames, plan.clipFrames).min() ?: return
            val got = repeats.map { it.e2e.frames }.min() ?: return
            if (got < expected) {
                throw NativeModelException("${plan.clipPath} decoded only $got of the $expected frames the plan " +
                                           "announces; it is truncated: give a complete video", true)
            }
        }
    }
}
