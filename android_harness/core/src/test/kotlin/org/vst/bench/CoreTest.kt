package org.vst.bench

import org.json.JSONArray
import org.json.JSONObject
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Rule
import org.junit.Test
import org.junit.rules.TemporaryFolder
import java.io.File

/** The shared vectors (tests/vectors at the repository root, or VST_VECTORS) that Python and Swift read too. */
object Vectors {
    val dir: File by lazy {
        System.getenv("VST_VECTORS")?.let { return@lazy File(it) }
        var d: File? = File("").absoluteFile
        while (d != null && !File(d, "tests/vectors/stats.json").isFile) d = d.parentFile
        File(d ?: throw IllegalStateException("tests/vectors not found above the working folder"), "tests/vectors")
    }

    fun text(name: String) = File(dir, name).readText()

    /** Same keys, same strings and nulls, numbers equal to [tol] relative. */
    fun assertSame(got: Any?, want: Any?, path: String = "$", tol: Double = 1e-9) {
        when {
            want is JSONObject && got is JSONObject -> {
                assertEquals("keys of $path", want.keys().asSequence().toSet(), got.keys().asSequence().toSet())
                for (k in want.keys()) assertSame(got.get(k), want.get(k), "$path.$k", tol)
            }
            want is JSONArray && got is JSONArray -> {
                assertEquals("length of $path", want.length(), got.length())
                for (i in 0 until want.length()) assertSame(got.get(i), want.get(i), "$path[$i]", tol)
            }
            want is Boolean || got is Boolean -> assertEquals(path, want, got)
            want is Number && got is Number -> {
                val a = got.toDouble()
                val b = want.toDouble()
                assertTrue("$path: $a != $b", Math.abs(a - b) <= tol * maxOf(Math.abs(a), Math.abs(b)))
            }
            want == JSONObject.NULL -> assertEquals(path, JSONObject.NULL, got)
            else -> assertEquals(path, want, got)
        }
    }

    fun doubles(a: JSONArray) = (0 until a.length()).map { a.getDouble(it) }

    fun repeats(a: JSONArray): List<Repeat> = (0 until a.length()).map {
        val r = a.getJSONObject(it)
        val e = r.getJSONObject("e2e")
        val i = r.getJSONObject("inference")
        Repeat(r.getInt("index"),
               EndToEnd(e.getInt("frames"), e.getDouble("wall_s"), doubles(e.getJSONArray("decode_ms")),
                        doubles(e.getJSONArray("resize_ms")), doubles(e.getJSONArray("inference_ms")),
                        doubles(e.getJSONArray("e2e_ms"))),
               InferenceOnly(i.getInt("frames"), i.getDouble("wall_s"), doubles(i.getJSONArray("inference_ms"))))
    }
}

class PlanTest {
    @Test fun parsesPythonPlan() {
        val p = Plan.parse(Vectors.text("plan-litert.json"))
        assertEquals(320, p.width)
        assertEquals(10, p.measureFrames)
        assertNull(p.measureSeconds)
        assertEquals(4, p.threads)
        assertEquals(12, p.clipFrames)
        assertEquals(Delegate.GPU, p.delegateChoice)
    }

    @Test fun rejectsWhatThisHarnessCannotRun() {
        val text = Vectors.text("plan-litert.json")
        for ((from, to) in listOf("\"gpu\"" to "\"cpuOnly\"", "\"litert\"" to "\"coreml\"",
                                  "\"repeats\": 3" to "\"repeats\": 0", "\"cell_id\": \"" to "\"cell_id\": \"X")) {
            assertTrue(from, text.contains(from))
            val e = assertThrows(IllegalArgumentException::class.java) { Plan.parse(text.replace(from, to)) }
            assertTrue(e.message, e.message!!.startsWith("invalid plan: "))
        }
        assertThrows(IllegalArgumentException::class.java) { Plan.parse(Vectors.text("plan-coreml.json")) }
    }
}

class StatsTest {
    @Test fun sharedVectors() {
        val doc = JSONObject(Vectors.text("stats.json"))
        val tol = doc.getDouble("tolerance_rel")
        val cases = doc.getJSONArray("summarize")
        assertTrue(cases.length() > 5)
        for (i in 0 until cases.length()) {
            val c = cases.getJSONObject(i)
            val got = Stats.summarize(Vectors.doubles(c.getJSONArray("samples_ms"))).toJson()
            Vectors.assertSame(JSONObject(got.toString()), c.getJSONObject("expected"), c.getString("name"), tol)
        }
        val results = doc.getJSONArray("summarize_result")
        for (i in 0 until results.length()) {
            val c = results.getJSONObject(i)
            val got = Summary.of(Vectors.repeats(c.getJSONArray("repeats"))).toJson()
            Vectors.assertSame(JSONObject(got.toString()), c.getJSONObject("expected"), c.getString("name"), tol)
        }
    }

    @Test fun definitions() {
        assertEquals(2.5, Stats.median(listOf(3.0, 1.0, 2.0, 10.0)), 0.0)
        assertEquals(9.1, Stats.percentile((1..10).map { it.toDouble() }, 90.0), 1e-12)
        assertEquals(10.0, Stats.trimmedMean(List(9) { 10.0 } + 1000.0), 0.0)
        assertEquals(0.0, Stats.spread(listOf(10.0)), 0.0)
    }
}

class ResultTest {
    /** The committed result vector, rebuilt from its plan and samples by the core: same JSON, same summary. */
    @Test fun reproducesTheCommittedResult() {
        val want = JSONObject(Vectors.text("result-litert.json"))
        val plan = Plan.parse(Vectors.text("plan-litert.json"))
        val thermal = "PowerManager.currentThermalStatus"
        val env = Environment("pixel7", "Google Pixel 7", "Tensor G2", "Android 14 (API 34)", "LiteRT 1.0.1",
                              plan.delegate, plan.delegateChoice.used, plan.threads, Thermal(thermal, "none", null),
                              Thermal(thermal, "light", null), Battery("BatteryManager", 64.0, 31.5, true), null,
                              "android_harness VstBench 1")
        val result = BenchResult(plan, "device", "2026-01-02T03:04:05.678Z", "2026-01-02T03:05:06.789Z", env, "NHWC",
                                 "int8", 812.5, 31.25, Vectors.repeats(want.getJSONArray("repeats")))
        val text = result.toJson().toString(1)
        Vectors.assertSame(JSONObject(text), want)
        // the Python suite imports this file with `vst-bench --import` and renders it in a report
        System.getenv("VST_HARNESS_OUT")?.let { Job.writeAtomically(File(it, "result-litert.json"), text) }
    }

    /** The JVM runner's additions: platform host and the memory record; a phone's result has neither. */
    @Test fun memoryAndPlatform() {
        val plan = Plan.parse(Vectors.text("plan-litert.json"))
        val env = Environment(plan.device, null, null, "Linux", "2.3.0", plan.delegate, "xnnpack (cpu)", 1, null,
                              null, null, null, "vst-runner kotlin", platform = "host")
        val rep = Vectors.repeats(JSONObject(Vectors.text("result-litert.json")).getJSONArray("repeats"))
        val mem = Memory("/proc/self/status (VmRSS, VmHWM)", 40.5, 52.25, 60.0, true)
        val j = BenchResult(plan, "r", "2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z", env, "NHWC", "int8", 1.0, 2.0,
                            rep, mem).toJson()
        assertEquals("host", j.getJSONObject("environment").getString("platform"))
        val m = j.getJSONObject("memory")
        assertEquals(listOf(40.5, 52.25, 60.0), listOf("baseline_mb", "after_load_mb", "peak_mb").map { m.getDouble(it) })
        assertTrue(m.getBoolean("peak_reset") && m.isNull("arena_mb"))
        assertFalse(BenchResult(plan, "r", "a", "b", env, "NHWC", "int8", 1.0, 2.0, rep).toJson().has("memory"))
    }

    @Test fun inputFormat() {
        assertEquals("NHWC", InputFormat.layoutOf(intArrayOf(1, 240, 320, 3)))
        assertEquals("NCHW", InputFormat.layoutOf(intArrayOf(1, 3, 240, 320)))
        assertThrows(IllegalArgumentException::class.java) { InputFormat.layoutOf(intArrayOf(1, 240, 320)) }
        assertEquals(listOf(1, 240, 320, 3), InputFormat.shapeFor("NHWC", 320, 240).toList())
        assertEquals((1 * 320 + 2) * 3 + 1, InputFormat.index("NHWC", 320, 240, 2, 1, 1))
        assertEquals(320 * 240 + 320 + 2, InputFormat.index("NCHW", 320, 240, 2, 1, 1))
        // int8 with scale 1/255 and zero point -128 maps 0..255 onto -128..127
        assertEquals(-128, InputFormat.quantize(0, 1f / 255, -128, -128, 127))
        assertEquals(127, InputFormat.quantize(255, 1f / 255, -128, -128, 127))
        assertEquals(200, InputFormat.quantize(200, 0f, 0, 0, 255))
        assertEquals(436, InputFormat.preparedLimit(320 * 480 * 4))
        assertEquals(1, InputFormat.preparedLimit(1 shl 30))
        assertNull(Delegate.of("tpu"))
    }
}

class JobTest {
    @get:Rule val tmp = TemporaryFolder()

    @Test fun runsThePlanAndWritesTheResult() {
        val files = tmp.root
        File(files, "plans").mkdirs()
        File(files, "plans/p.json").writeText(Vectors.text("plan-litert.json"))
        val line = Job("plans/p.json", "results/r.json").run(files) { plan ->
            val r = BenchRunner<Int, Int>({ counting(12) }, { it }, { Thread.sleep(1) }, sleep = {})
            val first = r.warmup(plan)
            val env = Environment(plan.device, null, null, "test", "test", plan.delegate, plan.delegateChoice.used,
                                  plan.threads, null, null, null, null, null)
            BenchResult(plan, "device", "2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z", env, "NHWC", "float32", 1.0,
                        first, r.measure(plan))
        }
        assertTrue(line, line.startsWith("models/k.tflite 320x240 gpu: "))
        val written = JSONObject(File(files, "results/r.json").readText())
        assertEquals(3, written.getJSONArray("repeats").length())
        assertEquals(10, written.getJSONArray("repeats").getJSONObject(0).getJSONObject("e2e").getInt("frames"))
        assertFalse(File(files, "results/.r.json.tmp").exists())
    }

    @Test fun failureLeavesOneReasonForTheDriver() {
        File(tmp.root, "plans").mkdirs()
        File(tmp.root, "plans/bad.json").writeText("{\"schema\": \"vst-bench-plan/0\"}")
        val line = Job("plans/bad.json", "results/bad.json").run(tmp.root) { fail("a bad plan must not run"); throw AssertionError() }
        assertTrue(line, line.startsWith("failed: "))
        assertTrue(File(tmp.root, "results/bad.json.error.txt").readText().contains("invalid plan"))
        assertFalse(File(tmp.root, "results/bad.json").exists())
    }
}

fun counting(n: Int) = object : FrameReader<Int> {
    var i = 0
    override fun next(): Int? = if (i < n) i++ else null
    override fun close() {}
}

class RunnerTest {
    private fun runner(n: Int = 12, seen: MutableList<Int> = mutableListOf()) = BenchRunner<Int, Int>(
        openVideo = { counting(n) }, resize = { it * 2 },
        infer = { synchronized(seen) { seen.add(it) }; Thread.sleep(1) }, maxPrepared = 5, sleep = {})

    @Test fun wholeClipEveryRepeat() {
        val plan = Plan.parse(Vectors.text("plan-coreml.json").replace("\"coreml\"", "\"litert\"")
                                  .replace("\"cpuAndNeuralEngine\"", "\"gpu\""))
        val r = runner()
        assertTrue(r.warmup(plan) > 0)
        val reps = r.measure(plan)
        assertEquals(2, reps.size)
        for (rep in reps) {
            assertEquals(12, rep.e2e.frames)
            assertEquals(12, rep.e2e.decodeMs.size)
            assertEquals(12, rep.inference.frames)
            // a frame's end-to-end latency covers its own inference
            assertTrue(rep.e2e.e2eMs.zip(rep.e2e.inferenceMs).all { (e, i) -> e >= i })
        }
    }

    @Test fun frameLimitKeepsOrder() {
        val seen = mutableListOf<Int>()
        val e2e = runner(seen = seen).pipeline(4, null)
        assertEquals(4, e2e.frames)
        assertEquals(listOf(0, 2, 4, 6), seen)
    }

    @Test fun secondsLimitStopsAnEndlessClip() {
        val endless = object : FrameReader<Int> {
            override fun next(): Int = 1
            override fun close() {}
        }
        val r = BenchRunner<Int, Int>({ endless }, { it }, { Thread.sleep(10) }, sleep = {})
        val e2e = r.pipeline(null, 0.1)
        assertTrue(e2e.frames in 3..49)
    }

    @Test fun emptyClipIsAnError() {
        assertThrows(IllegalStateException::class.java) { runner(n = 0).pipeline(null, null) }
    }

    /** Each end-to-end input comes back once, after its own inference; the kept inference-only inputs never. */
    @Test fun pipelineInputsAreReleasedAfterInference() {
        val inferred = mutableListOf<Int>()
        val released = mutableListOf<Int>()
        val r = BenchRunner<Int, Int>({ counting(6) }, { it + 100 }, { inferred.add(it) }, maxPrepared = 3,
                                      sleep = {}, release = { assertTrue(it in inferred); released.add(it) })
        val e2e = r.pipeline(null, null)
        assertEquals(listOf(100, 101, 102, 103, 104, 105), released)
        r.inferenceOnly(r.prepared(3), e2e.frames)
        assertEquals(6, released.size)
    }
}
