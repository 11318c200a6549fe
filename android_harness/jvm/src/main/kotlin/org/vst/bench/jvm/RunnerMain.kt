package org.vst.bench.jvm

import org.json.JSONException
import org.vst.bench.HostFacts
import org.vst.bench.Job
import org.vst.bench.NativeBench
import org.vst.bench.NativeModel
import org.vst.bench.NativeModelException
import org.vst.bench.Plan
import java.io.File
import java.nio.ByteBuffer
import java.nio.channels.FileChannel
import java.nio.file.Files
import java.nio.file.StandardCopyOption
import java.nio.file.StandardOpenOption
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

/** The ffmpeg that decodes clips: VST_FFMPEG, which the Python driver and run.sh set from imageio-ffmpeg. */
fun ffmpegPath(): String {
    val path = System.getenv("VST_FFMPEG")
        ?: throw UserError("VST_FFMPEG is not set; point it at an ffmpeg executable (vst's: .venv/bin/python -c " +
                           "\"import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())\")")
    if (!File(path).canExecute()) throw UserError("VST_FFMPEG=$path is not an executable; point it at ffmpeg")
    return path
}

/** The JVM as the result names it; thermal and battery are the driver's to read (as for every host runner). */
object JvmHost : HostFacts {
    private val osName: String = System.getProperty("os.name")
    override val runner = "the JVM runner"
    override val hardware = cpuName()
    override val chip = machine()
    override val os = "$osName ${System.getProperty("os.version")}"
    override val harness = "vst-runner kotlin (JVM ${System.getProperty("java.specification.version")}, $osName)"
    override val platform = "host"
}

/** `run`: the plan through the core's NativeBench, the one the app calls, over frames ffmpeg decodes. */
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
    val result = NativeBench(JvmHost).run(plan, File(plan.artifactPath)) {
        val source = plan.json.getJSONObject("frame_source")
        if (!source.has("width") || !source.has("height")) {
            throw UserError("$planFile: frame_source has no width and height; the runner decodes full-size " +
                            "frames of that size (vst-bench writes them)")
        }
        val clip = File(plan.clipPath)
        if (!clip.isFile) throw UserError("clip $clip does not exist; give the plan's frame_source an H.264 video")
        FfmpegClip(ffmpegPath(), clip, source.getInt("width"), source.getInt("height"), plan.width, plan.height)
    }
    Job.writeAtomically(resultFile, result.toJson().toString(1))
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
    NativeModel.openFile(File(o.need("--model")), accelerator, threads).use { model ->
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
