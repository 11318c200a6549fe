package org.vst.bench.jvm

import org.json.JSONException
import org.vst.bench.BenchResult
import org.vst.bench.BenchRunner
import org.vst.bench.Environment
import org.vst.bench.InputFormat
import org.vst.bench.Job
import org.vst.bench.Memory
import org.vst.bench.NativeModel
import org.vst.bench.NativeModelException
import org.vst.bench.Plan
import org.vst.bench.Repeat
import java.io.File
import java.nio.ByteBuffer
import java.nio.channels.FileChannel
import java.nio.file.Files
import java.nio.file.StandardCopyOption
import java.nio.file.StandardOpenOption
import java.time.Instant
import java.util.UUID
import java.util.concurrent.ConcurrentLinkedQueue
import kotlin.system.exitProcess

/** Bad input (a plan, a file, an option): one line on stderr, exit 2. */
class UserError(message: String) : Exception(message)

const val USAGE = "usage: vst-runner run --plan PLAN.json --result RESULT.json | vst-runner infer --model M.tflite " +
    "[--accelerator cpu|gpu] [--threads N] (--input X.bin | --frames RGB.bin --frame-size WxH) --output Y.bin"

/**
 * vst-runner on the JVM, the Swift runner's command line: `run` executes one vst-bench plan with the core's
 * BenchRunner (the host runner's protocol) over vst's native backend, and `infer` runs raw tensors or RGB frames
 * through a model, so tests can hold its outputs against vst's Python runtime. Exit 0, 2 for bad input, 1 for a
 * failure of the runner or the runtime.
 */
fun main(args: Array<String>) {
    val code = try {
        when (args.firstOrNull()) {
            "run" -> runPlan(Options(args.drop(1), setOf("--plan", "--result")))
            "infer" -> infer(Options(args.drop(1), setOf("--model", "--accelerator", "--threads", "--input", "--frames",
                                                           "--frame-size", "--output")))
            else -> throw UserError(if (args.isEmpty()) USAGE else "unknown command ${args[0]}; $USAGE")
        }
        0
    } catch (e: UserError) {
        System.err.println("vst-runner: ${e.message}")
        2
    } catch (e: NativeModelException) {
        System.err.println("vst-runner: ${e.message}")
        if (e.badInput) 2 else 1
    } catch (e: LinkageError) {
        System.err.println("vst-runner: cannot load the JNI bridge ($e); run android_harness/jvm/build.sh")
        1
    } catch (t: Throwable) {
        System.err.println("vst-runner: internal error: $t")
        1
    }
    exitProcess(code)
}

class Options(args: List<String>, allowed: Set<String>) {
    private val values = HashMap<String, String>()

    init {
        var i = 0
        while (i < args.size) {
            val key = args[i]
            if (key !in allowed) throw UserError("unknown option $key; $USAGE")
            if (i + 1 >= args.size) throw UserError("$key needs a value; $USAGE")
            values[key] = args[i + 1]
            i += 2
        }
    }

    operator fun get(key: String): String? = values[key]
    fun need(key: String): String = values[key] ?: throw UserError("$key is required; $USAGE")

    fun positive(key: String): Int? = values[key]?.let {
        it.toIntOrNull()?.takeIf { n -> n > 0 } ?: throw UserError("$key $it: give a positive whole number")
    }
}

fun openModel(file: File, accelerator: String, threads: Int): NativeModel {
    if (!file.isFile) throw UserError("model $file does not exist; give a .tflite file")
    return NativeModel.open(file.path, accelerator, threads)
}

/** The ffmpeg that decodes clips: VST_FFMPEG, which the Python driver and run.sh set from imageio-ffmpeg. */
fun ffmpegPath(): String {
    val path = System.getenv("VST_FFMPEG")
        ?: throw UserError("VST_FFMPEG is not set; point it at an ffmpeg executable (vst's: .venv/bin/python -c " +
                           "\"import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())\")")
    if (!File(path).canExecute()) throw UserError("VST_FFMPEG=$path is not an executable; point it at ffmpeg")
    return path
}

private fun mib(bytes: Long): Double = Math.round(bytes / 1048576.0 * 10) / 10.0

fun runPlan(o: Options) {
    val planFile = File(o.need("--plan"))
    val resultFile = File(o.need("--result"))
    if (!planFile.isFile) throw UserError("plan $planFile does not exist; give a plan vst-bench wrote")
    val plan = try {
        Plan.parse(planFile.readText())
    } catch (e: JSONException) {
        throw UserError("$planFile is not a vst-bench plan: ${e.message}")
    } catch (e: IllegalArgumentException) {
        throw UserError("$planFile: ${e.message}")
    }
    val accelerator = when (plan.delegate) {
        "xnnpack" -> "cpu"
        "gpu" -> "gpu"
        else -> throw UserError("delegate ${plan.delegate}: the JVM runner takes xnnpack (LiteRT's CPU) or gpu")
    }
    val source = plan.json.getJSONObject("frame_source")
    if (!source.has("width") || !source.has("height")) {
        throw UserError("$planFile: frame_source has no width and height; the runner decodes full-size frames " +
                        "of that size (vst-bench writes them)")
    }
    val fw = source.getInt("width")
    val fh = source.getInt("height")
    val clip = File(plan.clipPath)
    if (!clip.isFile) throw UserError("clip $clip does not exist; give the plan's frame_source an H.264 video")
    val ffmpeg = ffmpegPath()

    val started = Instant.now().toString()
    // the high-water mark starts just before load, so the peak is this cell's and not the JVM's start-up
    val peakReset = NativeModel.resetPeak()
    val baseline = NativeModel.residentBytes()
    val t0 = System.nanoTime()
    openModel(File(plan.artifactPath), accelerator, plan.threads ?: 0).use { model ->
        val loadMs = (System.nanoTime() - t0) / 1e6
        val afterLoad = NativeModel.residentBytes()
        val layout = model.layout
        if (model.width != plan.width || model.height != plan.height) {
            throw UserError("${plan.artifactPath} has a fixed ${model.width}x${model.height} input; the plan asks " +
                            "for ${plan.width}x${plan.height}")
        }
        val output = model.newOutput()
        // end-to-end inputs come back once inferred and are reused, so the JVM does not pile up direct buffers
        // (freed only at a GC) and the peak counts what a frame needs, not the garbage collector's lag
        val free = ConcurrentLinkedQueue<ByteBuffer>()
        val runner = BenchRunner<ByteBuffer, ByteBuffer>(
            openVideo = { FfmpegFrames(ffmpeg, clip, fw, fh) },
            resize = { frame -> (free.poll() ?: model.newInput()).also { model.prepare(frame, fw, fh, it) } },
            infer = { model.run(it, output) },
            maxPrepared = InputFormat.preparedLimit(model.input.bytes),
            release = { free.add(it) }
        )
        val firstMs = runner.warmup(plan)
        val repeats = runner.measure(plan)
        checkComplete(plan, repeats)
        val peak = NativeModel.peakResidentBytes()
        val memory = if (baseline < 0 || afterLoad < 0 || peak < 0) null
                     else Memory("/proc/self/status (VmRSS, VmHWM)", mib(baseline), mib(afterLoad), mib(peak), peakReset)
        val os = System.getProperty("os.name")
        val env = Environment(
            device = plan.device, hardware = cpuName(), chip = machine(), os = "$os ${System.getProperty("os.version")}",
            runtimeVersion = NativeModel.runtimeVersion, delegateRequested = plan.delegate,
            delegateUsed = model.delegateUsed, threads = plan.threads,
            // thermal and battery are the driver's to read (vst reads them the same way for every host runner)
            thermalStart = null, thermalEnd = null, batteryStart = null, batteryEnd = null,
            harness = "vst-runner kotlin (JVM ${System.getProperty("java.specification.version")}, $os)",
            platform = "host"
        )
        val result = BenchResult(plan, UUID.randomUUID().toString(), started, Instant.now().toString(), env, layout,
                                 model.input.dtype, loadMs, firstMs, repeats, memory)
        Job.writeAtomically(resultFile, result.toJson().toString(1))
    }
}

/** As the host runner: a clip cut short must not pass for a complete measurement. */
private fun checkComplete(plan: Plan, repeats: List<Repeat>) {
    if (plan.measureSeconds != null) return
    val expected = listOfNotNull(plan.measureFrames, plan.clipFrames).min() ?: return
    val got = repeats.map { it.e2e.frames }.min() ?: return
    if (got < expected) {
        throw UserError("${plan.clipPath} decoded only $got of the $expected frames the plan announces; it is " +
                        "truncated: give a complete video")
    }
}

private fun cpuName(): String? = try {
    File("/proc/cpuinfo").readLines().firstOrNull { it.startsWith("model name") }?.substringAfter(":")?.trim()
} catch (e: java.io.IOException) {
    null
}

/** The machine as Python's platform.machine() names it (the JVM says amd64 for x86_64). */
private fun machine(): String = System.getProperty("os.arch").let { if (it == "amd64") "x86_64" else it }

/** `infer`: k inputs back to back in one file -> k outputs back to back, each through one vst_run. */
fun infer(o: Options) {
    val accelerator = o["--accelerator"] ?: "cpu"
    if (accelerator !in setOf("cpu", "gpu")) throw UserError("--accelerator $accelerator: give cpu or gpu")
    val threads = o.positive("--threads") ?: 0
    val outFile = File(o.need("--output"))
    val raw = o["--input"]
    val frames = o["--frames"]
    if ((raw == null) == (frames == null)) throw UserError("give --input X.bin or --frames RGB.bin, one of them")
    var fw = 0
    var fh = 0
    if (frames != null) {
        val size = o.need("--frame-size")
        val m = Regex("^([1-9][0-9]*)x([1-9][0-9]*)$").find(size)
            ?: throw UserError("--frame-size $size: give WIDTHxHEIGHT, e.g. 640x480")
        fw = m.groupValues[1].toInt()
        fh = m.groupValues[2].toInt()
    } else if (o["--frame-size"] != null) {
        throw UserError("--frame-size goes with --frames, not --input")
    }
    val inFile = File(raw ?: frames!!)
    if (!inFile.isFile) throw UserError("$inFile does not exist")
    openModel(File(o.need("--model")), accelerator, threads).use { model ->
        val item = if (raw != null) model.input.bytes.toLong() else fw.toLong() * fh * 3
        val what = if (raw != null) "input tensors of ${model.input.bytes} bytes" else "${fw}x$fh RGB frames"
        val length = inFile.length()
        if (length == 0L || length % item != 0L) {
            throw UserError("$inFile holds $length bytes, not a whole number of $what; give k of them back to back")
        }
        val x = model.newInput()
        val y = model.newOutput()
        val rgb = if (raw == null) ByteBuffer.allocateDirect(item.toInt()) else x
        val tmp = File(outFile.absoluteFile.parentFile, ".${outFile.name}.tmp")
        try {
            FileChannel.open(inFile.toPath()).use { src ->
                FileChannel.open(tmp.toPath(), StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                                 StandardOpenOption.TRUNCATE_EXISTING).use { dst ->
                    for (k in 0 until length / item) {
                        rgb.clear()
                        while (rgb.hasRemaining() && src.read(rgb) >= 0) { /* a read may return part of it */ }
                        if (raw == null) model.prepare(rgb, fw, fh, x)
                        model.run(x, y)
                        y.clear()
                        while (y.hasRemaining()) dst.write(y)
                    }
                }
            }
            Files.move(tmp.toPath(), outFile.toPath(), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE)
        } finally {
            tmp.delete()
        }
    }
}
