import Foundation

/// The same statistics as vst/bench/stats.py (median, p90 with linear interpolation, 10% trimmed mean, CV),
/// shown on the phone's screen; the stored figures are recomputed by Python from the raw samples.
public enum Stats {
    public static let trim = 0.10
    public static let spreadLimit = 0.05

    public static func median(_ xs: [Double]) -> Double { percentile(xs, 50) }

    /// numpy.percentile's default (linear) definition.
    public static func percentile(_ xs: [Double], _ q: Double) -> Double {
        precondition(!xs.isEmpty, "no samples")
        let s = xs.sorted()
        let pos = (q / 100) * Double(s.count - 1)
        let lo = Int(pos.rounded(.down)), hi = Int(pos.rounded(.up))
        return s[lo] + (s[hi] - s[lo]) * (pos - Double(lo))
    }

    public static func mean(_ xs: [Double]) -> Double { xs.reduce(0, +) / Double(xs.count) }

    public static func trimmedMean(_ xs: [Double], trim: Double = Stats.trim) -> Double {
        let s = xs.sorted()
        let k = Int(Double(s.count) * trim)
        return s.count > 2 * k ? mean(Array(s[k..<(s.count - k)])) : mean(s)
    }

    /// Sample standard deviation (ddof 1) over the mean.
    public static func cv(_ xs: [Double]) -> Double {
        guard xs.count > 1 else { return 0 }
        let m = mean(xs)
        let v = xs.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(xs.count - 1)
        return m > 0 ? v.squareRoot() / m : 0
    }

    public static func fps(frames: Int, wallSeconds: Double) -> Double { Double(frames) / wallSeconds }

    /// (max - min) / median of per-repeat figures.
    public static func spread(_ xs: [Double]) -> Double {
        guard xs.count > 1 else { return 0 }
        let m = median(xs)
        return m > 0 ? (xs.max()! - xs.min()!) / m : 0
    }
}

/// What the harness shows and writes as its informative `summary`.
public struct Summary: Codable, Equatable {
    public var fps_e2e: Double
    public var fps_inference: Double
    public var inference_ms_median: Double
    public var inference_ms_p90: Double
    public var inference_ms_trimmed_mean: Double
    public var inference_cv: Double
    public var repeat_spread: Double
    public var spread_flag: Bool

    public init(repeats: [BenchResult.Repeat]) {
        let fe = repeats.map { Stats.fps(frames: $0.e2e.frames, wallSeconds: $0.e2e.wall_s) }
        let fi = repeats.map { Stats.fps(frames: $0.inference.frames, wallSeconds: $0.inference.wall_s) }
        let inf = repeats.flatMap { $0.inference.inference_ms }
        fps_e2e = Stats.median(fe)
        fps_inference = Stats.median(fi)
        inference_ms_median = Stats.median(inf)
        inference_ms_p90 = Stats.percentile(inf, 90)
        inference_ms_trimmed_mean = Stats.trimmedMean(inf)
        inference_cv = Stats.cv(inf)
        repeat_spread = max(Stats.spread(fe), Stats.spread(fi))
        spread_flag = repeat_spread > Stats.spreadLimit
    }
}
