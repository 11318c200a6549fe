import Foundation
import VstBenchKit

/// What the loaded model told the runner (through vst_litert.h), as the result records it.
public struct ModelFacts: Equatable {
    public var runtimeVersion: String
    public var delegateUsed: String
    public var width: Int
    public var height: Int
    public var layout: String   // NHWC or NCHW
    public var dtype: String    // float32, float16, uint8, int8

    public init(runtimeVersion: String, delegateUsed: String, width: Int, height: Int, layout: String,
                dtype: String) {
        self.runtimeVersion = runtimeVersion; self.delegateUsed = delegateUsed; self.width = width
        self.height = height; self.layout = layout; self.dtype = dtype
    }
}

/// The process's resident memory around a cell, bytes as vst_litert.h reads them (negative: not readable).
public struct MemoryReading: Equatable {
    public var source: String
    public var baseline: Int64
    public var afterLoad: Int64
    public var peak: Int64
    public var peakReset: Bool

    public init(source: String, baseline: Int64, afterLoad: Int64, peak: Int64, peakReset: Bool) {
        self.source = source; self.baseline = baseline; self.afterLoad = afterLoad; self.peak = peak
        self.peakReset = peakReset
    }

    /// The schema's record in MiB, or nil when a reading failed (the result then has no memory).
    public var record: BenchResult.Memory? {
        guard baseline >= 0, afterLoad >= 0, peak >= 0 else { return nil }
        func mb(_ b: Int64) -> Double { Double(b) / 1_048_576 }
        return BenchResult.Memory(source: source, baseline_mb: mb(baseline), after_load_mb: mb(afterLoad),
                                  peak_mb: mb(peak), peak_reset: peakReset)
    }
}

/// The machine the runner runs on, as the result's environment names it.
public struct HostInfo: Equatable {
    public var hardware: String?
    public var chip: String?
    public var os: String
    public var cpus: Int

    public init(hardware: String?, chip: String?, os: String, cpus: Int) {
        self.hardware = hardware; self.chip = chip; self.os = os; self.cpus = cpus
    }

    public static func current() -> HostInfo {
        var u = utsname()
        uname(&u)
        func field<T>(_ value: T) -> String {
            withUnsafeBytes(of: value) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        }
        let system = field(u.sysname), release = field(u.release)
        let pretty = keyValue(file: "/etc/os-release", key: "PRETTY_NAME", separator: "=")
            .map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
        let cpu = keyValue(file: "/proc/cpuinfo", key: "model name", separator: ":")
        return HostInfo(hardware: cpu, chip: field(u.machine),
                        os: pretty.map { "\(system) \(release) (\($0))" } ?? "\(system) \(release)",
                        cpus: ProcessInfo.processInfo.activeProcessorCount)
    }

    static func keyValue(file: String, key: String, separator: Character) -> String? {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: separator, maxSplits: 1)
            if parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == key {
                return parts[1].trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }
}

/// How vst-runner turns a LiteRT plan and its measurements into a result (schema vst-bench-result/1).
public enum LinuxRunner {
    public static var swiftVersion: String {
        #if compiler(>=6.5)
        return "6.5 or later"
        #elseif compiler(>=6.4)
        return "6.4"
        #elseif compiler(>=6.3)
        return "6.3"
        #elseif compiler(>=6.2)
        return "6.2"
        #elseif compiler(>=6.1)
        return "6.1"
        #elseif compiler(>=6.0)
        return "6.0"
        #else
        return "5"
        #endif
    }

    public static func harness(_ host: HostInfo) -> String {
        #if os(Linux)
        let system = "Linux"
        #else
        let system = "Apple"
        #endif
        return "vst-runner swift (Swift \(swiftVersion), \(system), \(host.cpus) cpus)"
    }

    /// The accelerator vst_open takes for a plan's delegate (Plan.validate(runtime: "litert") has checked it).
    public static func accelerator(delegate: String) throws -> String {
        switch delegate {
        case "xnnpack": return "cpu"
        case "gpu": return "gpu"
        default:
            let names = Plan.harnessDelegates["litert"]!.joined(separator: " or ")
            throw RunnerError.badInput("delegate \(delegate): vst-runner takes \(names)")
        }
    }

    /// The plan, checked for this runner: a schema-valid LiteRT plan with a delegate it takes.
    public static func plan(from data: Data, path: String) throws -> Plan {
        do {
            return try Plan.load(from: data, runtime: "litert")
        } catch let e as BenchError {
            throw RunnerError.badInput("\(path): \(e)")
        } catch let DecodingError.keyNotFound(key, ctx) {
            let field = (ctx.codingPath + [key]).map { $0.stringValue }.joined(separator: ".")
            throw RunnerError.badInput("\(path): \(field) is missing; give a plan vst-bench wrote")
        } catch let DecodingError.typeMismatch(_, ctx), let DecodingError.valueNotFound(_, ctx) {
            let field = ctx.codingPath.map { $0.stringValue }.joined(separator: ".")
            throw RunnerError.badInput("\(path): \(field.isEmpty ? "the plan" : field) has the wrong type; give a "
                                       + "plan vst-bench wrote")
        } catch {
            throw RunnerError.badInput("\(path) is not a vst-bench plan (JSON); give a plan vst-bench wrote")
        }
    }

    /// The frames a complete clip gives each repeat, when the plan says (as vst/bench/host.py checks).
    public static func expectedFrames(_ plan: Plan) -> Int? {
        guard plan.measure.seconds == nil else { return nil }
        switch (plan.measure.frames, plan.frame_source.frames) {
        case let (l?, a?): return min(l, a)
        case let (l, a): return l ?? a
        }
    }

    /// A clip cut short must not pass for a complete measurement.
    public static func checkComplete(_ plan: Plan, _ repeats: [BenchResult.Repeat]) throws {
        guard let want = expectedFrames(plan) else { return }
        if let short = repeats.first(where: { $0.e2e.frames < want }) {
            throw RunnerError.badInput("\(plan.frame_source.path) decoded only \(short.e2e.frames) of the \(want) "
                                       + "frames its header announces; it is truncated: give a complete video")
        }
    }

    public static func environment(plan: Plan, facts: ModelFacts, host: HostInfo) -> BenchResult.Environment {
        var env = BenchResult.Environment(
            device: plan.device, hardware: host.hardware, chip: host.chip, os: host.os,
            runtime_version: facts.runtimeVersion, delegate_requested: plan.delegate,
            delegate_used: facts.delegateUsed, thermal_start: nil, battery_start: nil, harness: harness(host))
        env.platform = "host"
        env.runtime = "litert"
        env.threads = plan.threads
        return env
    }

    public static func result(plan: Plan, runId: String, started: String, finished: String, host: HostInfo,
                              facts: ModelFacts, loadMs: Double, firstMs: Double, repeats: [BenchResult.Repeat],
                              memory: MemoryReading) -> BenchResult {
        CellMeasurement(facts: facts, loadMs: loadMs, firstMs: firstMs, repeats: repeats, memory: memory)
            .result(plan: plan, runId: runId, started: started, finished: finished,
                    environment: environment(plan: plan, facts: facts, host: host))
    }

    /// A run id in vst-bench's form (UTC time and six hex digits).
    public static func runId(date: Date = Date()) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return f.string(from: date) + "-" + String(format: "%06x", UInt32.random(in: 0..<(1 << 24)))
    }
}
