package org.vst.bench

import org.json.JSONObject

/** A plan as vst.bench.plan.make_plan writes it (schema vst-bench-plan/1); paths relative to the files folder. */
data class Plan(
    val json: JSONObject,              // kept whole: the result embeds the plan unchanged
    val cellId: String,
    val device: String,
    val artifactPath: String,
    val width: Int,
    val height: Int,
    val clipPath: String,
    val clipFrames: Int?,
    val warmupFrames: Int,
    val warmupSeconds: Double,
    val measureFrames: Int?,
    val measureSeconds: Double?,
    val repeats: Int,
    val cooldownS: Double,
    val threads: Int?,
    val delegate: String
) {
    /** The LiteRT delegate the plan asks for; parse() has checked the name. */
    val delegateChoice: Delegate get() = Delegate.of(delegate)!!

    companion object {
        const val SCHEMA = "vst-bench-plan/1"

        private fun JSONObject.optIntOrNull(key: String): Int? = if (isNull(key)) null else getInt(key)
        private fun JSONObject.optDoubleOrNull(key: String): Double? = if (isNull(key)) null else getDouble(key)

        /** Parse and check what this harness relies on; the message names the field. */
        fun parse(text: String): Plan {
            val j = JSONObject(text)
            fun fail(msg: String): Nothing = throw IllegalArgumentException("invalid plan: $msg")
            if (j.optString("schema") != SCHEMA) fail("schema is ${j.optString("schema")}, expected $SCHEMA")
            if (j.getString("runtime") != "litert") fail("runtime ${j.getString("runtime")}: this harness runs LiteRT only")
            val delegate = j.getString("delegate")
            if (Delegate.of(delegate) == null) {
                fail("delegate $delegate is not one of ${Delegate.values().joinToString { it.key }}")
            }
            val input = j.getJSONObject("input")
            val src = j.getJSONObject("frame_source")
            val warm = j.getJSONObject("warmup")
            val measure = j.getJSONObject("measure")
            val plan = Plan(
                json = j, cellId = j.getString("cell_id"), device = j.getString("device"),
                artifactPath = j.getJSONObject("artifact").getString("path"),
                width = input.getInt("width"), height = input.getInt("height"),
                clipPath = src.getString("path"), clipFrames = src.optIntOrNull("frames"),
                warmupFrames = warm.getInt("frames"), warmupSeconds = warm.getDouble("seconds"),
                measureFrames = measure.optIntOrNull("frames"), measureSeconds = measure.optDoubleOrNull("seconds"),
                repeats = j.getInt("repeats"), cooldownS = j.getDouble("cooldown_s"),
                threads = j.optIntOrNull("threads"), delegate = delegate
            )
            if (plan.width < 1 || plan.height < 1) fail("input size ${plan.width}x${plan.height}")
            if (plan.repeats < 1) fail("repeats must be at least 1")
            if (plan.warmupFrames < 0 || plan.warmupSeconds < 0 || plan.cooldownS < 0) fail("negative warmup or cooldown")
            if (plan.measureFrames != null && plan.measureFrames < 1) fail("measure.frames must be at least 1")
            if (plan.measureSeconds != null && plan.measureSeconds <= 0) fail("measure.seconds must be positive")
            if (!Regex("^[0-9a-f]{16}$").matches(plan.cellId)) fail("cell_id must be 16 hex digits")
            return plan
        }
    }
}
