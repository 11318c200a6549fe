import Foundation

/// A benchmark plan as `vst.bench.plan.make_plan` writes it (schema vst-bench-plan/1).
public struct Plan: Codable, Equatable {
    public struct Model: Codable, Equatable {
        public var name: String?
        public var arch: String?
        public var params: Int?
        public var precision: String?
        public var named_config: String?

        // Swift leaves nil out; the plan Python wrote has these keys (null allowed), so keep them
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(name, forKey: .name)
            try c.encode(arch, forKey: .arch)
            try c.encode(params, forKey: .params)
            try c.encode(precision, forKey: .precision)
            try c.encodeIfPresent(named_config, forKey: .named_config)  // newer plans only
        }
    }
    public struct Artifact: Codable, Equatable {
        public var path: String
        public var format: String
        public var sha256: String
        public var zoo_name: String?
        public var model: Model?

        // zoo_name is part of the cell id: a null must come back as a null
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(path, forKey: .path)
            try c.encode(format, forKey: .format)
            try c.encode(sha256, forKey: .sha256)
            try c.encode(zoo_name, forKey: .zoo_name)
            try c.encodeIfPresent(model, forKey: .model)
        }
    }
    public struct Input: Codable, Equatable {
        public var width: Int
        public var height: Int
        public var layout: String?
    }
    public struct FrameSource: Codable, Equatable {
        public var kind: String
        public var path: String
        public var sha256: String?
        public var width: Int?
        public var height: Int?
        public var fps: Double?
        public var frames: Int?

        // sha256 may be null; the clip's size, rate and length may only be absent
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(kind, forKey: .kind)
            try c.encode(path, forKey: .path)
            try c.encode(sha256, forKey: .sha256)
            try c.encodeIfPresent(width, forKey: .width)
            try c.encodeIfPresent(height, forKey: .height)
            try c.encodeIfPresent(fps, forKey: .fps)
            try c.encodeIfPresent(frames, forKey: .frames)
        }
    }
    public struct Warmup: Codable, Equatable {
        public var frames: Int
        public var seconds: Double
    }
    public struct Measure: Codable, Equatable {
        public var frames: Int?
        public var seconds: Double?
        enum CodingKeys: String, CodingKey { case frames, seconds }

        // null means "no limit" and the schema requires both keys, so write nulls instead of omitting them
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(frames, forKey: .frames)
            try c.encode(seconds, forKey: .seconds)
        }
    }

    public var schema: String
    public var cell_id: String
    public var device: String
    public var runtime: String
    public var artifact: Artifact
    public var input: Input
    public var frame_source: FrameSource
    public var warmup: Warmup
    public var measure: Measure
    public var repeats: Int
    public var cooldown_s: Double
    public var threads: Int?
    public var delegate: String

    public static let schemaName = "vst-bench-plan/1"

    /// The Core ML compute units the plan asks for; validate() has checked that the name is one of them (Core ML
    /// plans only).
    public var computeUnit: ComputeUnit { ComputeUnit(rawValue: delegate)! }

    public enum CodingKeys: String, CodingKey {
        case schema, cell_id, device, runtime, artifact, input, frame_source, warmup, measure, repeats, cooldown_s,
             threads, delegate
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(schema, forKey: .schema)
        try c.encode(cell_id, forKey: .cell_id)
        try c.encode(device, forKey: .device)
        try c.encode(runtime, forKey: .runtime)
        try c.encode(artifact, forKey: .artifact)
        try c.encode(input, forKey: .input)
        try c.encode(frame_source, forKey: .frame_source)
        try c.encode(warmup, forKey: .warmup)
        try c.encode(measure, forKey: .measure)
        try c.encode(repeats, forKey: .repeats)
        try c.encode(cooldown_s, forKey: .cooldown_s)
        try c.encode(threads, forKey: .threads)  // required key, null = runtime default
        try c.encode(delegate, forKey: .delegate)
    }

    /// The runtimes a harness built on this package runs, with the delegates each takes: the iPhone app's Core ML
    /// (compute units) and vst-runner's LiteRT (XNNPACK on the CPU, or the GPU accelerator).
    public static let harnessDelegates: [String: [String]] = [
        "coreml": ComputeUnit.allCases.map { $0.rawValue },
        "litert": ["xnnpack", "gpu"],
    ]
    static let runtimeNames = ["coreml": "Core ML", "litert": "LiteRT"]

    /// Decode and check what the schema checks that the harness relies on; the message names the field.
    /// `runtime`: the one the harness runs (the app: coreml; vst-runner: litert).
    public static func load(from data: Data, runtime: String = "coreml") throws -> Plan {
        let plan = try JSONDecoder().decode(Plan.self, from: data)
        try plan.validate(runtime: runtime)
        return plan
    }

    public func validate(runtime expected: String = "coreml") throws {
        func fail(_ msg: String) -> BenchError { BenchError.invalidPlan(msg) }
        let name = Plan.runtimeNames[expected] ?? expected
        if schema != Plan.schemaName { throw fail("schema is \(schema), expected \(Plan.schemaName)") }
        if runtime != expected { throw fail("runtime \(runtime): this harness runs \(name) only") }
        let delegates = Plan.harnessDelegates[expected] ?? []
        if !delegates.contains(delegate) {
            let what = expected == "coreml" ? "a Core ML compute unit" : "a delegate \(name) takes here"
            throw fail("delegate \(delegate) is not \(what) (\(delegates.joined(separator: ", ")))")
        }
        if input.width < 1 || input.height < 1 { throw fail("input size \(input.width)x\(input.height)") }
        if repeats < 1 { throw fail("repeats must be at least 1") }
        if warmup.frames < 0 || warmup.seconds < 0 || cooldown_s < 0 { throw fail("negative warmup or cooldown") }
        if let f = measure.frames, f < 1 { throw fail("measure.frames must be at least 1") }
        if let s = measure.seconds, s <= 0 { throw fail("measure.seconds must be positive") }
        if cell_id.count != 16 || !cell_id.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) { throw fail("cell_id must be 16 hex digits") }
    }
}

/// MLComputeUnits by the names plans use; the app maps each case to Core ML's value.
public enum ComputeUnit: String, CaseIterable {
    case all, cpuAndGPU, cpuOnly, cpuAndNeuralEngine
}

public enum BenchError: Error, CustomStringConvertible {
    case invalidPlan(String)
    case noFrames(String)
    case runtime(String)

    public var description: String {
        switch self {
        case .invalidPlan(let m): return "invalid plan: \(m)"
        case .noFrames(let m): return "no frames: \(m)"
        case .runtime(let m): return "runtime error: \(m)"
        }
    }
}
