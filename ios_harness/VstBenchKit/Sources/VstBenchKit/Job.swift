import Foundation

/// One launch of the app: `--plan P --result R` (paths relative to Documents). Reads and checks the plan (Core ML
/// or LiteRT), lets
/// the app measure it, and writes the result atomically (the driver polls for the file and must never read half
/// of it) or, on failure, `R.error.txt` with the reason, which bench/drivers_ios.py reports.
public struct Job: Equatable {
    public var planPath: String
    public var resultPath: String

    public init(planPath: String, resultPath: String) {
        self.planPath = planPath; self.resultPath = resultPath
    }

    /// The job in the launch arguments, or nil when the app was opened by hand (it then waits, showing how).
    public init?(arguments: [String]) {
        func value(_ name: String) -> String? {
            guard let i = arguments.firstIndex(of: name), i + 1 < arguments.count else { return nil }
            return arguments[i + 1]
        }
        guard let plan = value("--plan"), let result = value("--result") else { return nil }
        self.init(planPath: plan, resultPath: result)
    }

    public static let usage = "waiting for a plan (--plan plans/<cell>.json --result results/<cell>.json)"

    /// Run the plan with `measure` and store what came of it; returns the line the app shows.
    public func run(in documents: URL, measure: (Plan) async throws -> BenchResult) async -> String {
        let resultURL = documents.appendingPathComponent(resultPath)
        do {
            let data = try Data(contentsOf: documents.appendingPathComponent(planPath))
            let plan = try Plan.load(from: data, runtime: Job.runtime(of: data))
            let result = try await measure(plan)
            try Job.writeAtomically(result.jsonData(), to: resultURL)
            return result.summary?.statusLine(plan: plan) ?? "done"
        } catch {
            let reason = "\(error)"
            try? Job.writeAtomically(Data(reason.utf8), to: URL(fileURLWithPath: resultURL.path + ".error.txt"))
            return "failed: \(reason)"
        }
    }

    /// The app runs Core ML plans and LiteRT plans (through vst's native backend); any other runtime is checked as
    /// Core ML, whose check then names it.
    static func runtime(of data: Data) -> String {
        let doc = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        return doc?["runtime"] as? String == "litert" ? "litert" : "coreml"
    }

    static func writeAtomically(_ data: Data, to url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: url, options: .atomic)
    }
}

/// How Core ML placed the model's operations, as `delegate_used` states it. `counts` maps a compute device (cpu,
/// gpu, ane) to the number of operations that prefer it; nil when the OS cannot report placement (`why`).
public enum ComputePlacement {
    public static func describe(requested: String, counts: [String: Int]?, why: String = "not reported") -> String {
        guard let counts = counts, !counts.isEmpty else { return "\(requested) (per-op placement \(why))" }
        let parts = counts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }
        return "\(requested) (ops preferred on: \(parts.joined(separator: ", ")))"
    }
}

/// Frame geometry and memory budget the app's video path uses.
public enum Frames {
    /// The centred source rectangle that, scaled, covers width x height (vst.common.images.resize_cover).
    public static func coverCrop(sourceWidth sw: Int, sourceHeight sh: Int, width: Int, height: Int)
        -> (x: Int, y: Int, width: Int, height: Int) {
        let scale = Swift.max(Double(width) / Double(sw), Double(height) / Double(sh))
        let cw = Swift.min(sw, Int((Double(width) / scale).rounded()))
        let ch = Swift.min(sh, Int((Double(height) / scale).rounded()))
        return ((sw - cw) / 2, (sh - ch) / 2, cw, ch)
    }

    /// Packed RGB (height x width x 3) from 32-bit BGRA rows `rowBytes` apart, as AVFoundation decodes: the iOS
    /// app's frames for vst_prepare, which then scales and crops them as every runner does.
    public static func rgb(fromBGRA base: UnsafeRawPointer, width: Int, height: Int, rowBytes: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: width * height * 3)
        out.withUnsafeMutableBufferPointer { dst in
            for y in 0..<height {
                let row = base.advanced(by: y * rowBytes).assumingMemoryBound(to: UInt8.self)
                var o = y * width * 3
                for x in 0..<width {
                    dst[o] = row[x * 4 + 2]
                    dst[o + 1] = row[x * 4 + 1]
                    dst[o + 2] = row[x * 4]
                    o += 3
                }
            }
        }
        return out
    }

    /// How many prepared inputs the inference-only phase may keep so they fit in `budget` bytes (at least one).
    public static func preparedLimit(bytesPerFrame: Int, budget: Int = 256 << 20) -> Int {
        Swift.max(1, budget / Swift.max(1, bytesPerFrame))
    }
}
