package org.vst.bench

import org.json.JSONObject
import kotlin.math.sqrt

/** The statistics of vst/bench/stats.py, for the on-screen summary; stored figures are recomputed in Python. */
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

    fun median(xs: List<Double>) = percentile(xs, 50.0)

    fun trimmedMean(xs: List<Double>, trim: Double = TRIM): Double {
        val s = xs.sorted()
        val k = (s.size * trim).toInt()
        return if (s.size > 2 * k) s.subList(k, s.size - k).average() else s.average()
    }

    /** Sample standard deviation (ddof 1) over the mean. */
    fun cv(xs: List<Double>): Double {
        if (xs.size < 2) return 0.0
        val m = xs.average()
        val v = xs.sumOf { (it - m) * (it - m) } / (xs.size - 1)
        return if (m > 0) sqrt(v) / m else 0.0
    }

    fun fps(frames: Int, wallS: Double) = frames / wallS

    fun spread(xs: List<Double>): Double {
        if (xs.size < 2) return 0.0
        val m = median(xs)
        return if (m > 0) (xs.max() - xs.min()) / m else 0.0
    }
}

data class Summary(val fpsE2e: Double, val fpsInference: Double, val inferenceMedian: Double,
                   val inferenceP90: Double, val repeatSpread: Double, val spreadFlag: Boolean) {
    fun toJson(): JSONObject = JSONObject()
        .put("fps_e2e", fpsE2e).put("fps_inference", fpsInference).put("inference_ms_median", inferenceMedian)
        .put("inference_ms_p90", inferenceP90).put("repeat_spread", repeatSpread).put("spread_flag", spreadFlag)

    companion object {
        fun of(reps: List<Repeat>): Summary {
            val fe = reps.map { Stats.fps(it.e2e.frames, it.e2e.wallS) }
            val fi = reps.map { Stats.fps(it.inference.frames, it.inference.wallS) }
            val inf = reps.flatMap { it.inference.inferenceMs }
            val spread = maxOf(Stats.spread(fe), Stats.spread(fi))
            return Summary(Stats.median(fe), Stats.median(fi), Stats.median(inf), Stats.percentile(inf, 90.0),
                           spread, spread > Stats.SPREAD_LIMIT)
        }
    }
}
