package org.vst.bench

import org.json.JSONObject
import org.junit.Assert.assertEquals
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test

/** A plan exactly as vst.bench.plan.make_plan writes it (nulls included). */
val PLAN = """
{"schema": "vst-bench-plan/1", "cell_id": "0123456789abcdef", "device": "pixel7", "runtime": "litert",
 "artifact": {"path": "models/k.tflite", "format": "tflite", "sha256": "${"a".repeat(64)}", "zoo_name": null},
 "input": {"width": 480, "height": 320, "layout": "NHWC"},
 "frame_source": {"kind": "video", "path": "clips/clip.mp4", "sha256": null, "width": 1920, "height": 1080,
                  "fps": 25.0, "frames": 12},
 "warmup": {"frames": 2, "seconds": 0.0}, "measure": {"frames": null, "seconds": null}, "repeats": 2,
 "cooldown_s": 0.0, "threads": null, "delegate": "gpu"}
"""

class PlanTest {
    @Test fun parsesPythonPlan() {
        val p = Plan.parse(PLAN)
        assertEquals(480, p.width)
        assertEquals(null, p.measureFrames)
        assertEquals(null, p.threads)
        assertEquals(12, p.clipFrames)
        assertEquals("gpu", p.delegate)
    }

    @Test fun rejectsWhatThisHarnessCannotRun() {
        for ((from, to) in listOf("\"gpu\"" to "\"cpuOnly\"", "\"litert\"" to "\"coreml\"",
                                  "\"repeats\": 2" to "\"repeats\": 0")) {
            assertThrows(IllegalArgumentException::class.java) { Plan.parse(PLAN.replace(from, to)) }
        }
    }
}

class StatsTest {
    // the same expectations as tests/test_bench_schema.py::test_statistics
    @Test fun matchesPython() {
        val xs = (1..10).map { it.toDouble() }
        assertEquals(5.5, Stats.median(xs), 1e-12)
        assertEquals(9.1, Stats.percentile(xs, 90.0), 1e-9)
        assertEquals(10.0, Stats.trimmedMean(List(9) { 10.0 } + 1000.0), 1e-12)
        assertEquals(25.0, Stats.fps(525, 21.0), 1e-12)
        assertEquals(4.0 / 102, Stats.spread(listOf(100.0, 104.0, 102.0)), 1e-12)
        assertEquals(2.138089935 / 5, Stats.cv(listOf(2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0)), 1e-6)
    }
}

class RunnerTest {
    private fun reader(n: Int) = object : FrameReader<Int> {
        var i = 0
        override fun next(): Int? = if (i < n) i++ else null
        override fun close() {}
    }

    private fun runner(n: Int = 12, seen: MutableList<Int> = mutableListOf()) = BenchRunner<Int, Int>(
        openVideo = { reader(n) }, resize = { it * 2 },
        infer = { synchronized(seen) { seen.add(it) }; Thread.sleep(1) }, maxPrepared = 5, sleep = {})

    @Test fun wholeClipEveryRepeatAndResultJson() {
        val plan = Plan.parse(PLAN)
        val r = runner()
        assertTrue(r.warmup(plan) > 0)
        val reps = r.measure(plan)
        assertEquals(2, reps.size)
        for (rep in reps) {
            assertEquals(12, rep.e2e.frames)
            assertEquals(12, rep.e2e.decodeMs.size)
            assertEquals(12, rep.inference.frames)
            assertTrue(rep.e2e.e2eMs.zip(rep.e2e.inferenceMs).all { (e, i) -> e >= i })
        }
        val env = Environment("pixel7", "Google Pixel 7", "Tensor G2", "Android 14 (API 34)", "LiteRT 1.0.1",
                              "gpu", "gpu", null, null, null, null, null, "test")
        val json = JSONObject(BenchResult(plan, "r", "2024-01-01T00:00:00Z", "2024-01-01T00:00:01Z", env, "NHWC",
                                          "float32", 1.0, 2.0, reps).toJson().toString())
        // keys the schema requires even when null are written as null, not left out
        assertTrue(json.getJSONObject("environment").isNull("thermal_start"))
        assertTrue(json.getJSONObject("environment").has("battery_end"))
        assertTrue(json.getJSONObject("plan").getJSONObject("measure").isNull("frames"))
        assertEquals(2, json.getJSONArray("repeats").length())
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
}
