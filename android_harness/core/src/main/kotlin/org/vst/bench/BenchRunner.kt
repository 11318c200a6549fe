package org.vst.bench

import java.util.concurrent.ArrayBlockingQueue
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicBoolean
import kotlin.concurrent.thread

/** A decoder over the clip: next() gives the next decoded frame or null at the end; close() frees it. */
interface FrameReader<F> : AutoCloseable {
    fun next(): F?
}

/**
 * The measurement protocol of vst/bench/host.py, free of Android classes so JVM unit tests run it: warm up, then
 * per repeat cool down, run the overlapped decode -> resize -> inference pipeline, then inference alone on the
 * same prepared frames. [maxPrepared] bounds the memory held for the inference-only phase (reused cyclically).
 * [release] gets each end-to-end input back once inferred, so a runner can recycle its buffer (the prepared
 * inputs of the inference-only phase are kept, never released).
 */
class BenchRunner<F, I>(
    private val openVideo: () -> FrameReader<F>,
    private val resize: (F) -> I,
    private val infer: (I) -> Unit,
    private val maxPrepared: Int = 64,
    private val clock: () -> Double = { System.nanoTime() / 1e9 },
    private val sleep: (Double) -> Unit = { Thread.sleep((it * 1000).toLong()) },
    private val release: (I) -> Unit = {}
) {
    private val queueDepth = 4

    private class Item<I>(val input: I, val t0: Double, val t1: Double, val t2: Double, val t3: Double)

    fun prepared(count: Int): List<I> {
        val out = ArrayList<I>()
        openVideo().use { r ->
            while (out.size < minOf(count, maxOf(1, maxPrepared))) {
                val f = r.next() ?: break
                out.add(resize(f))
            }
        }
        require(out.isNotEmpty()) { "the clip yielded no frames" }
        return out
    }

    /** First inference time in ms; warms up until both the frame count and the seconds are reached. */
    fun warmup(plan: Plan): Double {
        val inputs = prepared(maxOf(1, minOf(plan.warmupFrames, 32)))
        val t0 = clock()
        infer(inputs[0])
        val first = (clock() - t0) * 1e3
        var done = 1
        val w0 = clock()
        while (done < plan.warmupFrames || clock() - w0 < plan.warmupSeconds) {
            infer(inputs[done % inputs.size]); done++
        }
        return first
    }

    fun measure(plan: Plan): List<Repeat> {
        val inputs = prepared(plan.measureFrames ?: plan.clipFrames ?: Int.MAX_VALUE)
        return (0 until plan.repeats).map { r ->
            sleep(plan.cooldownS)
            val e2e = pipeline(plan.measureFrames, plan.measureSeconds)
            Repeat(r, e2e, inferenceOnly(inputs, e2e.frames))
        }
    }

    /** A producer thread decodes and resizes into a bounded queue; this thread runs inference. */
    fun pipeline(limit: Int?, seconds: Double?): EndToEnd {
        val queue = ArrayBlockingQueue<Any>(queueDepth + 1)
        val end = Any()
        val stop = AtomicBoolean(false)
        var failure: Throwable? = null
        val producer = thread(name = "vst-decode") {
            try {
                openVideo().use { reader ->
                    var n = 0
                    while (!stop.get() && (limit == null || n < limit)) {
                        val t0 = clock()
                        val frame = reader.next() ?: break
                        val t1 = clock()
                        val x = resize(frame)
                        val item = Item(x, t0, t1, t1, clock())
                        while (!stop.get() && !queue.offer(item, 50, TimeUnit.MILLISECONDS)) { /* consumer busy */ }
                        n++
                    }
                }
            } catch (t: Throwable) {
                failure = t
            } finally {
                while (!stop.get() && !queue.offer(end, 50, TimeUnit.MILLISECONDS)) { /* wait for room */ }
            }
        }
        val dec = ArrayList<Double>(); val res = ArrayList<Double>()
        val inf = ArrayList<Double>(); val e2e = ArrayList<Double>()
        var start: Double? = null
        var last = 0.0
        try {
            while (true) {
                val got = queue.take()
                if (got === end) break
                @Suppress("UNCHECKED_CAST") val item = got as Item<I>
                val first = start ?: item.t0
                start = first
                val i0 = clock()
                infer(item.input)
                last = clock()
                release(item.input)
                dec.add((item.t1 - item.t0) * 1e3); res.add((item.t3 - item.t2) * 1e3)
                inf.add((last - i0) * 1e3); e2e.add((last - item.t0) * 1e3)
                if (seconds != null && last - first >= seconds) break
            }
        } finally {
            stop.set(true)
            producer.join()
        }
        failure?.let { throw it }
        val s = start ?: throw IllegalStateException("the clip yielded no frames")
        return EndToEnd(inf.size, last - s, dec, res, inf, e2e)
    }

    fun inferenceOnly(inputs: List<I>, frames: Int): InferenceOnly {
        val samples = ArrayList<Double>(frames)
        val start = clock()
        var end = start
        for (i in 0 until frames) {
            val t0 = clock()
            infer(inputs[i % inputs.size])
            end = clock()
            samples.add((end - t0) * 1e3)
        }
        return InferenceOnly(samples.size, end - start, samples)
    }
}
