import Foundation

/// A result in schema vst-bench-result/1: raw per-frame samples; Python recomputes the summary on import.
public struct BenchResult: Codable, Equatable {
    public struct Thermal: Codable, Equatable {
        public var source: String
        public var state: String?
        public var celsius: Double?
        public init(source: String, state: String?, celsius: Double?) {
            self.source = source; self.state = state; self.celsius = celsius
        }
        // readings the phone could not take are written as null, as the host runner writes them
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(source, forKey: .source)
            try c.encode(state, forKey: .state)
            try c.encode(celsius, forKey: .celsius)
        }
    }
    public struct Battery: Codable, Equatable {
        public var source: String
        public var level_pct: Double?
        public var celsius: Double?
        public var charging: Bool?
        public init(source: String, level_pct: Double?, celsius: Double?, charging: Bool?) {
            self.source = source; self.level_pct = level_pct; self.celsius = celsius; self.charging = charging
        }
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(source, forKey: .source)
            try c.encode(level_pct, forKey: .level_pct)
            try c.encode(celsius, forKey: .celsius)
            try c.encode(charging, forKey: .charging)
        }
    }
    public struct Environment: Codable, Equatable {
        public var device: String
        public var platform: String = "ios"
        public var hardware: String?
        public var chip: String?
        public var os: String
        public var runtime: String = "coreml"
        public var runtime_version: String
        public var delegate_requested: String
        public var delegate_used: String
        public var threads: Int?
        public var thermal_start: Thermal?
        public var thermal_end: Thermal?
        public var battery_start: Battery?
        public var battery_end: Battery?
        public var harness: String?

        public init(device: String, hardware: String?, chip: String?, os: String, runtime_version: String,
                    delegate_requested: String, delegate_used: String, thermal_start: Thermal?,
                    battery_start: Battery?, harness: String?) {
            self.device = device; self.hardware = hardware; self.chip = chip; self.os = os
            self.runtime_version = runtime_version; self.delegate_requested = delegate_requested
            self.delegate_used = delegate_used; self.thermal_start = thermal_start
            self.battery_start = battery_start; self.harness = harness
        }

        enum CodingKeys: String, CodingKey {
            case device, platform, hardware, chip, os, runtime, runtime_version, delegate_requested, delegate_used,
                 threads, thermal_start, thermal_end, battery_start, battery_end, harness
        }

        // the schema requires these keys even when null: write them out rather than omitting them
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(device, forKey: .device)
            try c.encode(platform, forKey: .platform)
            try c.encode(hardware, forKey: .hardware)
            try c.encode(chip, forKey: .chip)
            try c.encode(os, forKey: .os)
            try c.encode(runtime, forKey: .runtime)
            try c.encode(runtime_version, forKey: .runtime_version)
            try c.encode(delegate_requested, forKey: .delegate_requested)
            try c.encode(delegate_used, forKey: .delegate_used)
            try c.encode(threads, forKey: .threads)
            try c.encode(thermal_start, forKey: .thermal_start)
            try c.encode(thermal_end, forKey: .thermal_end)
            try c.encode(battery_start, forKey: .battery_start)
            try c.encode(battery_end, forKey: .battery_end)
            try c.encode(harness, forKey: .harness)
        }
    }
    public struct InputInfo: Codable, Equatable {
        public var width: Int
        public var height: Int
        public var layout: String
        public var dtype: String
        public init(width: Int, height: Int, layout: String, dtype: String) {
            self.width = width; self.height = height; self.layout = layout; self.dtype = dtype
        }
    }
    public struct EndToEnd: Codable, Equatable {
        public var frames: Int
        public var wall_s: Double
        public var decode_ms: [Double]
        public var resize_ms: [Double]
        public var inference_ms: [Double]
        public var e2e_ms: [Double]
    }
    public struct InferenceOnly: Codable, Equatable {
        public var frames: Int
        public var wall_s: Double
        public var inference_ms: [Double]
    }
    /// The runner process's resident memory around the cell, MiB (schema: memory).
    public struct Memory: Codable, Equatable {
        public var source: String
        public var baseline_mb: Double
        public var after_load_mb: Double
        public var peak_mb: Double
        public var peak_reset: Bool
        public var arena_mb: Double?
        public init(source: String, baseline_mb: Double, after_load_mb: Double, peak_mb: Double, peak_reset: Bool,
                    arena_mb: Double? = nil) {
            self.source = source; self.baseline_mb = baseline_mb; self.after_load_mb = after_load_mb
            self.peak_mb = peak_mb; self.peak_reset = peak_reset; self.arena_mb = arena_mb
        }
    }
    public struct Repeat: Codable, Equatable {
        public var index: Int
        public var e2e: EndToEnd
        public var inference: InferenceOnly
    }

    public var schema: String = "vst-bench-result/1"
    public var plan: Plan
    public var run_id: String
    public var started_at: String
    public var finished_at: String
    public var environment: Environment
    public var input: InputInfo
    public var load_ms: Double
    public var first_inference_ms: Double
    public var repeats: [Repeat]
    public var memory: Memory?      // left out of the JSON when the harness cannot read it
    public var summary: Summary?

    public init(plan: Plan, run_id: String, started_at: String, finished_at: String, environment: Environment,
                input: InputInfo, load_ms: Double, first_inference_ms: Double, repeats: [Repeat]) {
        self.plan = plan; self.run_id = run_id; self.started_at = started_at; self.finished_at = finished_at
        self.environment = environment; self.input = input; self.load_ms = load_ms
        self.first_inference_ms = first_inference_ms; self.repeats = repeats
        self.summary = Summary(repeats: repeats)
    }

    /// Pretty JSON with the plan's nulls preserved (measure.frames: null means "the whole clip").
    public func jsonData() throws -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try enc.encode(self)
    }
}
