import Foundation

/// The statistics of bench/stats.py, definition for definition (numpy's linear percentile, ddof-1 standard
/// deviation, 10% trimmed mean with k = int(n * 0.1)), so the summary a phone writes equals the one vst recomputes
/// on import; tests/vectors/stats.json holds the cases all three languages must reproduce.
public enum Stats {
    public static let trim = 0.10
    public static let spreadLimit = 0.05

    /// numpy.percentile's default (linear) definition.
    public static func percentile(_ xs: [Double], _ q: Double) -> Double {
        precondition(!xs.isEmpty, "no samples")
        let s = xs.sorted()
        let pos = (q / 100) * Double(s.count - 1)
        let lo = Int(pos.rounded(.down)), hi = min(lo + 1, s.count - 1)
        return s[lo] + (s[hi] - s[lo]) * (pos - Double(lo))
    }

    /// numpy.median: the middle sample, or the mean of the two middle ones.
    public static func median(_ xs: [Double]) -> Double {
        precondition(!xs.isEmpty, "no samples")
        let s = xs.sorted(), m = s.count / 2
        return s.count % 2 == 1 ? s[m] : (s[m - 1] + s[m]) / 2
    }

    public static func mean(_ xs: [Double]) -> Double { xs.reduce(0, +) / Double(xs.count) }

    public static func trimmedMean(_ xs: [Double], trim: Double = Stats.trim) -> Double {
        let s = xs.sorted()
        let k = Int(Double(s.count) * trim)
        return s.count > 2 * k ? mean(Array(s[k..<(s.count - k)])) : mean(s)
    }

    /// Sample standard deviation (ddof 1); 0 for a single sample.
    public static func std(_ xs: [Double]) -> Double {
        guard xs.count > 1 else { return 0 }
        let m = mean(xs)
        return (xs.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(xs.count - 1)).squareRoot()
    }

    public static func cv(_ xs: [Double]) -> Double {
        let m = mean(xs)
        return m > 0 ? std(xs) / m : 0
    }

    public static func fps(frames: Int, wallSeconds: Double) -> Double { Double(frames) / wallSeconds }

    /// (max - min) / median of per-repeat figures; 0 for a single repeat.
    public static func spread(_ xs: [Double]) -> Double {
        let m = median(xs)
        return xs.count > 1 && m > 0 ? (xs.max()! - xs.min()!) / m : 0
    }

    /// bench.stats.summarize.
    public static func summarize(_ xs: [Double]) -> Latency {
        precondition(!xs.isEmpty, "no samples to summarize")
        let m = mean(xs), sd = std(xs)
        return Latency(n: xs.count, mean: m, median: median(xs), p90: percentile(xs, 90), p99: percentile(xs, 99),
                       min: xs.min()!, max: xs.max()!, trimmed_mean: trimmedMean(xs), std: sd,
                       cv: m > 0 ? sd / m : 0)
    }
}

/// One series' figures, keys as bench.stats.summarize names them.
public struct Latency: Codable, Equatable {
    public var n: Int
    public var mean, median, p90, p99, min, max, trimmed_mean, std, cv: Double
}

/// bench.stats.summarize_result: latency pooled over repeats, FPS per repeat and their median. The harness writes
/// it as the result's informative `summary` and shows it on screen.
public struct Summary: Codable, Equatable {
    public var latency_ms: [String: Latency]
    public var fps_e2e: Double
    public var fps_inference: Double
    public var fps_e2e_repeats: [Double]
    public var fps_inference_repeats: [Double]
    public var e2e_over_inference: Double
    public var repeat_spread: Double
    public var spread_flag: Bool

    public init(repeats: [BenchResult.Repeat]) {
        let series: [(String, [Double])] = [
            ("decode_ms", repeats.flatMap { $0.e2e.decode_ms }),
            ("resize_ms", repeats.flatMap { $0.e2e.resize_ms }),
            ("e2e_ms", repeats.flatMap { $0.e2e.e2e_ms }),
            ("inference_ms", repeats.flatMap { $0.inference.inference_ms }),
            ("pipeline_inference_ms", repeats.flatMap { $0.e2e.inference_ms }),
        ]
        var lat: [String: Latency] = [:]
        for (key, xs) in series where !xs.isEmpty { lat[key] = Stats.summarize(xs) }
        latency_ms = lat
        fps_e2e_repeats = repeats.map { Stats.fps(frames: $0.e2e.frames, wallSeconds: $0.e2e.wall_s) }
        fps_inference_repeats = repeats.map { Stats.fps(frames: $0.inference.frames, wallSeconds: $0.inference.wall_s) }
        fps_e2e = Stats.median(fps_e2e_repeats)
        fps_inference = Stats.median(fps_inference_repeats)
        // 1.0 means decode and resize are fully hidden behind inference
        e2e_over_inference = fps_inference > 0 ? fps_e2e / fps_inference : 0
        repeat_spread = Swift.max(Stats.spread(fps_e2e_repeats), Stats.spread(fps_inference_repeats))
        spread_flag = repeat_spread > Stats.spreadLimit
    }

    /// The line the app shows when a cell is done.
    public func statusLine(plan: Plan) -> String {
        "\(plan.artifact.path) \(plan.input.width)x\(plan.input.height) \(plan.delegate): "
            + String(format: "%.1f fps end to end, %.1f fps inference", fps_e2e, fps_inference)
    }
}
