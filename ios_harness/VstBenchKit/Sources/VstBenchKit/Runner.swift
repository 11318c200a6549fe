import Foundation

/// The measurement protocol of vst/bench/host.py, independent of Core ML and AVFoundation so it can be tested
/// anywhere: warm up, then per repeat cool down, run the overlapped decode -> resize -> inference pipeline over
/// the clip, then inference alone on the same (prepared) frames.
public final class BenchRunner<Frame, Input> {
    public typealias NextFrame = () throws -> Frame?

    let openVideo: () throws -> NextFrame
    let resize: (Frame) throws -> Input
    let infer: (Input) throws -> Void
    let clock: () -> Double
    let sleep: (Double) -> Void
    let maxPrepared: Int
    let queueDepth = 4

    /// - openVideo: opens the clip from its start and returns a function yielding decoded frames (nil at the end)
    /// - maxPrepared: how many prepared inputs the inference-only phase may hold (memory); reused cyclically
    public init(openVideo: @escaping () throws -> NextFrame, resize: @escaping (Frame) throws -> Input,
                infer: @escaping (Input) throws -> Void, maxPrepared: Int = 64,
                clock: @escaping () -> Double = { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 },
                sleep: @escaping (Double) -> Void = { Thread.sleep(forTimeInterval: $0) }) {
        self.openVideo = openVideo; self.resize = resize; self.infer = infer
        self.maxPrepared = max(1, maxPrepared); self.clock = clock; self.sleep = sleep
    }

    func prepared(_ count: Int) throws -> [Input] {
        let next = try openVideo()
        var out: [Input] = []
        while out.count < min(count, maxPrepared), let f = try next() { out.append(try resize(f)) }
        if out.isEmpty { throw BenchError.noFrames("the clip yielded no frames") }
        return out
    }

    /// First inference time (ms) and warmup until both the frame count and the seconds are reached.
    public func warmup(_ plan: Plan) throws -> Double {
        let inputs = try prepared(max(1, min(plan.warmup.frames, 32)))
        let t0 = clock()
        try infer(inputs[0])
        let first = (clock() - t0) * 1e3
        var done = 1
        let w0 = clock()
        while done < plan.warmup.frames || clock() - w0 < plan.warmup.seconds {
            try infer(inputs[done % inputs.count]); done += 1
        }
        return first
    }

    public func measure(_ plan: Plan) throws -> [BenchResult.Repeat] {
        let inputs = try prepared(plan.measure.frames ?? plan.frame_source.frames ?? Int.max)
        var reps: [BenchResult.Repeat] = []
        for r in 0..<plan.repeats {
            sleep(plan.cooldown_s)
            let e2e = try pipeline(limit: plan.measure.frames, seconds: plan.measure.seconds)
            let inf = try inferenceOnly(inputs, frames: e2e.frames)
            reps.append(BenchResult.Repeat(index: r, e2e: e2e, inference: inf))
        }
        return reps
    }

    private struct Item { let input: Input; let t0, t1, t2, t3: Double }

    /// State shared by the producer thread and the consumer; every access holds `lock`.
    private final class Shared: @unchecked Sendable {
        let lock = NSLock()
        var buffer: [Item?] = []
        var failure: Error?
        var cancelled = false
        func sync<T>(_ body: () -> T) -> T { lock.lock(); defer { lock.unlock() }; return body() }
    }

    /// Producer thread decodes and resizes into a bounded queue; this thread runs inference.
    func pipeline(limit: Int?, seconds: Double?) throws -> BenchResult.EndToEnd {
        let next = try openVideo()
        let state = Shared()
        // created empty and then filled: libdispatch traps when a semaphore is freed below its initial value,
        // which a producer that took a slot and then met the end of the clip (or a cancel) would leave behind
        let slots = DispatchSemaphore(value: 0)
        for _ in 0..<queueDepth { slots.signal() }
        let filled = DispatchSemaphore(value: 0)
        let producerDone = DispatchSemaphore(value: 0)

        let producer = Thread { [self] in
            defer { producerDone.signal() }
            var n = 0
            while limit == nil || n < limit! {
                // wait for room, but notice a consumer that stopped early
                while slots.wait(timeout: .now() + .milliseconds(50)) == .timedOut {
                    if state.sync({ state.cancelled }) { return }
                }
                if state.sync({ state.cancelled }) { return }
                do {
                    let t0 = clock()
                    guard let frame = try next() else { break }
                    let t1 = clock()
                    let x = try resize(frame)
                    let t3 = clock()
                    state.sync { state.buffer.append(Item(input: x, t0: t0, t1: t1, t2: t1, t3: t3)) }
                    filled.signal()
                    n += 1
                } catch {
                    state.sync { state.failure = error }
                    break
                }
            }
            state.sync { state.buffer.append(nil) }
            filled.signal()
        }
        producer.qualityOfService = .userInitiated
        producer.start()

        var dec: [Double] = [], res: [Double] = [], inf: [Double] = [], e2e: [Double] = []
        var start: Double?
        var end = 0.0
        defer {
            state.sync { state.cancelled = true }
            producerDone.wait()
        }
        while true {
            filled.wait()
            guard let item = state.sync({ state.buffer.removeFirst() }) else { break }
            slots.signal()
            let first = start ?? item.t0
            start = first
            let i0 = clock()
            try infer(item.input)
            end = clock()
            dec.append((item.t1 - item.t0) * 1e3)
            res.append((item.t3 - item.t2) * 1e3)
            inf.append((end - i0) * 1e3)
            e2e.append((end - item.t0) * 1e3)
            if let s = seconds, end - first >= s { break }
        }
        if let f = state.sync({ state.failure }) { throw f }
        guard let s = start else { throw BenchError.noFrames("the clip yielded no frames") }
        return BenchResult.EndToEnd(frames: inf.count, wall_s: end - s, decode_ms: dec, resize_ms: res,
                                    inference_ms: inf, e2e_ms: e2e)
    }

    func inferenceOnly(_ inputs: [Input], frames: Int) throws -> BenchResult.InferenceOnly {
        var samples: [Double] = []
        let start = clock()
        var end = start
        for i in 0..<frames {
            let t0 = clock()
            try infer(inputs[i % inputs.count])
            end = clock()
            samples.append((end - t0) * 1e3)
        }
        return BenchResult.InferenceOnly(frames: samples.count, wall_s: end - start, inference_ms: samples)
    }
}

/// ISO 8601 with milliseconds, as Python's isoformat writes it.
public func isoNow() -> String {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return f.string(from: Date())
}
