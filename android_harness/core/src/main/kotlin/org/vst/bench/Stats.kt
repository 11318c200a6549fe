package org.vst.bench

import org.json.JSONArray
import org.json.JSONObject
import kotlin.math.sqrt

/**
 * The statistics of bench/stats.py, definition for definition (numpy's linear percentile, ddof-1 standard
 * deviation, 10% trimmed mean with k = int(n * 0.1)), so the summary a phone writes equals the one vst recomputes
 * on import; tests/vectors/stats.json holds the cases Python, Swift and Kotlin must all reproduce.
 */
object Stats {
    const val TRIM = 0.10
    const val SPREAD_LIMIT = 0.05

    /** numpy.percentile's default (linear interpolation). */
    fun percentile(xs: List<Double>, q: Double): Double {
        require(xs.isNotEmpty()) { "no samples" }
        val s = xs.sorted()
        val pos = q / 100.0 * (s.size - 1)
        val lo = pos.toInt()
        val hi = minOf(lo + 1, s.size - 1)
        return s[lo] + (s[hi] - s[lo]) * (pos - lo)
    }

    /** numpy.median: the middle sample, or the mean of the two middle ones. */
    fun median(xs: List<Double>): Double {
        require(xs.isNotEmpty()) { "no samples" }
        val s = xs.sorted()
        val m = s.size / 2
        return if (s.size % 2 == 1) s[m] else (s[m - 1] + s[m]) / 2
    }

    fun mean(xs: List<Double>): Double = xs.sum() / xs.size

    fun trimmedMean(xs: List<Double>, trim: Double = TRIM): Double {
        val s = xs.sorted()
        val k = (s.size * trim).toInt()
        return if (s.size > 2 * k) mean(s.subList(k, s.size - k)) else mean(s)
    }

    /** Sample standard deviation (ddof 1); 0 for a single sample. */
    fun std(xs: List<Double>): Double {
        if (xs.size < 2) return 0.0
        val m = mean(xs)
        return sqrt(xs.sumByDouble { (it - m) * (it - m) } / (xs.size - 1))
    }

    fun cv(xs: List<Double>): Double {
        val m = mean(xs)
        return if (m > 0) std(xs) / m else 0.0
    }

    fun fps(frames: Int, wallS: Double) = frames / wallS

    /** (max - min) / median of per-repeat figures; 0 for a single repeat. */
    fun spread(xs: List<Double>): Double {
        val m = median(xs)
        return if (xs.size > 1 && m > 0) (xs.max()!! - xs.min()!!) / m else 0.0
    }

    /** bench.stats.summarize. */
    fun summarize(xs: List<Double>): Latency {
        require(xs.isNotEmpty()) { "no samples to summarize" }
        val m = mean(xs)
        val sd = std(xs)
        return Latency(xs.size, m, median(xs), percentile(xs, 90.0), percentile(xs, 99.0), xs.min()!!, xs.max()!!,
                       trimmedMean(xs), sd, if (m > 0) sd / m else 0.0)
    }
}

/** One series' figures, keys as bench.stats.summarize names them. */
data class Latency(val n: Int, val mean: Double, val median: Double, val p90: Double, val p99: Double,
                   val min: Double, val max: Double, val trimmedMean: Double, val std: Double, val cv: Double) {
    fun toJson(): JSONObject = JSONObject().put("n", n).put("mean", mean).put("median", median).put("p90", p90)
        .put("p99", p99).put("min", min).put("max", max).put("trimmed_mean", trimmedMean).put("std", std)
        .put("cv", cv)
}

/**
 * bench.stats.summarize_result: latency pooled over repeats, FPS per repeat and their median. Written as the
 * result's informative `summary` and shown on screen.
 */
data class Summary(val latencyMs: Map<String, Latency>, val fpsE2e: Double, val fpsInference: Double,
                   val fpsE2eRepeats: List<Double>, val fpsInferenceRepeats: List<Double>,
                   val e2eOverInference: Double, val repeatSpread: Double, val spreadFlag: Boolean) {
    fun toJson(): JSONObject {
        val lat = JSONObject()
        for ((k, v) in latencyMs) lat.put(k, v.toJson())
        return JSONObject().put("latency_ms", lat).put("fps_e2e", fpsE2e).put("fps_inference", fpsInference)
            .put("fps_e2e_repeats", JSONArray(fpsE2eRepeats)).put("fps_inference_repeats", JSONArray(fpsInferenceRepeats))
            .put("e2e_over_inference", e2eOverInference).put("repeat_spread", repeatSpread)
            .put("spread_flag", spreadFlag)
    }

    /** The line the app shows when a cell is done. */
    fun statusLine(plan: Plan): String = "%s %dx%d %s: %.1f fps end to end, %.1f fps inference".format(
        plan.artifactPath, plan.width, plan.height, plan.delegate, fpsE2e, fpsInference)

    companion object {
        fun of(reps: List<Repeat>): Summary {
            val series = listOf(
                "decode_ms" to reps.flatMap { it.e2e.decodeMs },
                "resize_ms" to reps.flatMap { it.e2e.resizeMs },
                "e2e_ms" to reps.flatMap { it.e2e.e2eMs },
                "inference_ms" to reps.flatMap { it.inference.inferenceMs },
                "pipeline_inference_ms" to reps.flatMap { it.e2e.inferenceMs })
            val lat = LinkedHashMap<String, Latency>()
            for ((k, xs) in series) if (xs.isNotEmpty()) lat[k] = Stats.summarize(xs)
            val fe = reps.map { Stats.fps(it.e2e.frames, it.e2e.wallS) }
            val fi = reps.map { Stats.fps(it.inference.frames, it.inference.wallS) }
            val medE2e = Stats.median(fe)
            val medInf = Stats.median(fi)
            val spread = maxOf(Stats.spread(fe), Stats.spread(fi))
            // 1.0 means decode and resize are fully hidden behind inference
            return Summary(lat, medE2e, medInf, fe, fi, if (medInf > 0) medE2e / medInf else 0.0, spread,
                           spread > Stats.SPREAD_LIMIT)
        }
    }
}
