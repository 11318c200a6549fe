package org.vst.bench

import org.json.JSONArray
import org.json.JSONObject

/** Per-frame samples of one pass over the clip (decode -> resize -> inference, overlapped). */
data class EndToEnd(val frames: Int, val wallS: Double, val decodeMs: List<Double>, val resizeMs: List<Double>,
                    val inferenceMs: List<Double>, val e2eMs: List<Double>)

/** Inference alone on the same frames, already prepared. */
data class InferenceOnly(val frames: Int, val wallS: Double, val inferenceMs: List<Double>)

data class Repeat(val index: Int, val e2e: EndToEnd, val inference: InferenceOnly)

data class Thermal(val source: String, val state: String?, val celsius: Double?)
data class Battery(val source: String, val levelPct: Double?, val celsius: Double?, val charging: Boolean?)

data class Environment(
    val device: String, val hardware: String?, val chip: String?, val os: String, val runtimeVersion: String,
    val delegateRequested: String, val delegateUsed: String, val threads: Int?,
    val thermalStart: Thermal?, val thermalEnd: Thermal?, val batteryStart: Battery?, val batteryEnd: Battery?,
    val harness: String?,
    val platform: String = "android"   // "host" for the JVM runner on a desktop machine
)

/** The runner process's resident memory around the cell (MiB), as the result's optional `memory` record. */
data class Memory(val source: String, val baselineMb: Double, val afterLoadMb: Double, val peakMb: Double,
                  val peakReset: Boolean, val arenaMb: Double? = null)

/** A result in schema vst-bench-result/1. Python validates it and recomputes the summary from the samples. */
data class BenchResult(
    val plan: Plan, val runId: String, val startedAt: String, val finishedAt: String, val env: Environment,
    val layout: String, val dtype: String, val loadMs: Double, val firstInferenceMs: Double,
    val repeats: List<Repeat>, val memory: Memory? = null
) {
    private fun arr(xs: List<Double>) = JSONArray().also { a -> xs.forEach { a.put(it) } }
    private fun nullable(v: Any?): Any = v ?: JSONObject.NULL

    private fun thermal(t: Thermal?): Any = t?.let {
        JSONObject().put("source", it.source).put("state", nullable(it.state)).put("celsius", nullable(it.celsius))
    } ?: JSONObject.NULL

    private fun battery(b: Battery?): Any = b?.let {
        JSONObject().put("source", it.source).put("level_pct", nullable(it.levelPct))
            .put("celsius", nullable(it.celsius)).put("charging", nullable(it.charging))
    } ?: JSONObject.NULL

    fun toJson(): JSONObject {
        val environment = JSONObject()
            .put("device", env.device).put("platform", env.platform).put("hardware", nullable(env.hardware))
            .put("chip", nullable(env.chip)).put("os", env.os).put("runtime", "litert")
            .put("runtime_version", env.runtimeVersion).put("delegate_requested", env.delegateRequested)
            .put("delegate_used", env.delegateUsed).put("threads", nullable(env.threads))
            .put("thermal_start", thermal(env.thermalStart)).put("thermal_end", thermal(env.thermalEnd))
            .put("battery_start", battery(env.batteryStart)).put("battery_end", battery(env.batteryEnd))
            .put("harness", nullable(env.harness))
        val reps = JSONArray()
        for (r in repeats) {
            reps.put(JSONObject().put("index", r.index)
                .put("e2e", JSONObject().put("frames", r.e2e.frames).put("wall_s", r.e2e.wallS)
                    .put("decode_ms", arr(r.e2e.decodeMs)).put("resize_ms", arr(r.e2e.resizeMs))
                    .put("inference_ms", arr(r.e2e.inferenceMs)).put("e2e_ms", arr(r.e2e.e2eMs)))
                .put("inference", JSONObject().put("frames", r.inference.frames).put("wall_s", r.inference.wallS)
                    .put("inference_ms", arr(r.inference.inferenceMs))))
        }
        return JSONObject()
            .put("schema", "vst-bench-result/1").put("plan", plan.json).put("run_id", runId)
            .put("started_at", startedAt).put("finished_at", finishedAt).put("environment", environment)
            .put("input", JSONObject().put("width", plan.width).put("height", plan.height)
                .put("layout", layout).put("dtype", dtype))
            .put("load_ms", loadMs).put("first_inference_ms", firstInferenceMs)
            .put("memory", memory?.let {
                JSONObject().put("source", it.source).put("baseline_mb", it.baselineMb)
                    .put("after_load_mb", it.afterLoadMb).put("peak_mb", it.peakMb).put("peak_reset", it.peakReset)
                    .put("arena_mb", nullable(it.arenaMb))
            })
            .put("repeats", reps).put("summary", Summary.of(repeats).toJson())
    }
}
