import Foundation
import XCTest
@testable import VstBenchKit

/// The shared vectors (tests/vectors at the repository root, or VST_VECTORS) that Python and Kotlin read too.
let vectors: URL = {
    if let dir = ProcessInfo.processInfo.environment["VST_VECTORS"] { return URL(fileURLWithPath: dir) }
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<5 { url.deleteLastPathComponent() }
    return url.appendingPathComponent("tests/vectors")
}()

func vector(_ name: String) throws -> Data { try Data(contentsOf: vectors.appendingPathComponent(name)) }
func json(_ data: Data) throws -> Any { try JSONSerialization.jsonObject(with: data) }

/// Same keys everywhere, same strings and nulls, numbers equal to `tol` relative.
func assertSameJSON(_ got: Any, _ want: Any, _ path: String = "$", tol: Double = 1e-9,
                    file: StaticString = #filePath, line: UInt = #line) {
    switch (got, want) {
    case let (g as [String: Any], w as [String: Any]):
        XCTAssertEqual(Set(g.keys), Set(w.keys), "keys of \(path)", file: file, line: line)
        for (k, wv) in w { if let gv = g[k] { assertSameJSON(gv, wv, "\(path).\(k)", tol: tol, file: file, line: line) } }
    case let (g as [Any], w as [Any]):
        XCTAssertEqual(g.count, w.count, "length of \(path)", file: file, line: line)
        for (i, (gv, wv)) in zip(g, w).enumerated() { assertSameJSON(gv, wv, "\(path)[\(i)]", tol: tol, file: file, line: line) }
    case let (g as String, w as String):
        XCTAssertEqual(g, w, path, file: file, line: line)
    case (is NSNull, is NSNull):
        break
    case let (g as NSNumber, w as NSNumber):
        let (a, b) = (g.doubleValue, w.doubleValue)
        XCTAssertLessThanOrEqual(abs(a - b), tol * max(abs(a), abs(b)), "\(path): \(a) != \(b)", file: file, line: line)
    default:
        XCTFail("\(path): \(got) is not \(want)", file: file, line: line)
    }
}

final class PlanTests: XCTestCase {
    func testDecodesPythonPlan() throws {
        let plan = try Plan.load(from: vector("plan-coreml.json"))
        XCTAssertEqual(plan.input.width, 480)
        XCTAssertNil(plan.measure.frames)
        XCTAssertEqual(plan.artifact.model?.params, 33000)
        XCTAssertEqual(plan.computeUnit, .cpuAndNeuralEngine)
    }

    func testEncodingReproducesThePlan() throws {
        let data = try vector("plan-coreml.json")
        let plan = try Plan.load(from: data)
        // nulls the schema requires (measure.frames, threads, zoo_name) are written, not left out
        assertSameJSON(try json(JSONEncoder().encode(plan)), try json(data))
    }

    func testRejectsWhatThisHarnessCannotRun() throws {
        let text = String(decoding: try vector("plan-coreml.json"), as: UTF8.self)
        for (from, to) in [("\"cpuAndNeuralEngine\"", "\"gpu\""), ("\"coreml\"", "\"litert\""),
                           ("\"repeats\": 2", "\"repeats\": 0"), ("\"cell_id\": \"", "\"cell_id\": \"X")] {
            XCTAssertTrue(text.contains(from), from)
            XCTAssertThrowsError(try Plan.load(from: Data(text.replacingOccurrences(of: from, with: to).utf8))) {
                XCTAssertTrue("\($0)".hasPrefix("invalid plan: "), "\($0)")
            }
        }
        XCTAssertThrowsError(try Plan.load(from: try vector("plan-litert.json")))
    }
}

final class StatsTests: XCTestCase {
    func testSharedVectors() throws {
        let doc = try json(vector("stats.json")) as! [String: Any]
        let tol = doc["tolerance_rel"] as! Double
        let cases = doc["summarize"] as! [[String: Any]]
        XCTAssertGreaterThan(cases.count, 5)
        for c in cases {
            let xs = (c["samples_ms"] as! [NSNumber]).map { $0.doubleValue }
            let got = try json(JSONEncoder().encode(Stats.summarize(xs)))
            assertSameJSON(got, c["expected"]!, c["name"] as! String, tol: tol)
        }
        for c in doc["summarize_result"] as! [[String: Any]] {
            let reps = try JSONDecoder().decode([BenchResult.Repeat].self,
                                                from: JSONSerialization.data(withJSONObject: c["repeats"]!))
            let got = try json(JSONEncoder().encode(Summary(repeats: reps)))
            assertSameJSON(got, c["expected"]!, c["name"] as! String, tol: tol)
        }
    }

    func testDefinitions() {
        XCTAssertEqual(Stats.median([3, 1, 2, 10]), 2.5)
        XCTAssertEqual(Stats.percentile((1...10).map(Double.init), 90), 9.1, accuracy: 1e-12)
        XCTAssertEqual(Stats.trimmedMean(Array(repeating: 10.0, count: 9) + [1000]), 10.0)
        XCTAssertEqual(Stats.spread([10]), 0)
    }
}

final class ResultTests: XCTestCase {
    /// The committed result vector, rebuilt from its plan and samples by the package: same JSON, same summary.
    func testReproducesTheCommittedResult() throws {
        let want = try json(vector("result-coreml.json")) as! [String: Any]
        let plan = try Plan.load(from: vector("plan-coreml.json"))
        let reps = try JSONDecoder().decode([BenchResult.Repeat].self,
                                            from: JSONSerialization.data(withJSONObject: want["repeats"]!))
        var env = BenchResult.Environment(
            device: plan.device, hardware: "iPhone12,3", chip: nil, os: "iOS 17.5 (Build 21F79)",
            runtime_version: "Core ML (iOS 17.5)", delegate_requested: plan.delegate,
            delegate_used: ComputePlacement.describe(requested: plan.delegate, counts: ["cpu": 2, "ane": 41]),
            thermal_start: .init(source: "ProcessInfo.thermalState", state: "nominal", celsius: nil),
            battery_start: .init(source: "UIDevice", level_pct: 87, celsius: nil, charging: false),
            harness: "ios_harness VstBench 1")
        env.thermal_end = .init(source: "ProcessInfo.thermalState", state: "fair", celsius: nil)
        let result = BenchResult(plan: plan, run_id: "device", started_at: "2026-01-02T03:04:05.678Z",
                                 finished_at: "2026-01-02T03:05:06.789Z", environment: env,
                                 input: .init(width: 480, height: 320, layout: "NHWC", dtype: "float16"),
                                 load_ms: 812.5, first_inference_ms: 31.25, repeats: reps)
        let data = try result.jsonData()
        assertSameJSON(try json(data), want)
        // the Python suite imports this file with `vst-bench --import` and renders it in a report
        if let out = ProcessInfo.processInfo.environment["VST_HARNESS_OUT"] {
            try Job.writeAtomically(data, to: URL(fileURLWithPath: out).appendingPathComponent("result-coreml.json"))
        }
    }

    func testPlacementWording() {
        XCTAssertEqual(ComputePlacement.describe(requested: "all", counts: nil, why: "needs iOS 17.4"),
                       "all (per-op placement needs iOS 17.4)")
        XCTAssertEqual(ComputePlacement.describe(requested: "all", counts: ["gpu": 3, "ane": 1]),
                       "all (ops preferred on: 1 ane, 3 gpu)")
    }

    func testFrameGeometry() {
        let c = Frames.coverCrop(sourceWidth: 1920, sourceHeight: 1080, width: 480, height: 320)
        XCTAssertEqual(c.height, 1080)
        XCTAssertEqual(c.width, 1620)  // 480/320 of the full height, centred
        XCTAssertEqual(c.x, 150)
        XCTAssertEqual(c.y, 0)
        XCTAssertEqual(Frames.preparedLimit(bytesPerFrame: 480 * 320 * 4), 436)
        XCTAssertEqual(Frames.preparedLimit(bytesPerFrame: 1 << 30), 1)
    }

    func testBGRARowsBecomePackedRGB() {
        // 2x2 BGRA with rows padded to 12 bytes, as CVPixelBuffer aligns them; padding bytes must not leak in
        let bgra: [UInt8] = [1, 2, 3, 255, 4, 5, 6, 255, 99, 99, 99, 99,
                             7, 8, 9, 255, 10, 11, 12, 255, 99, 99, 99, 99]
        let rgb = bgra.withUnsafeBytes { Frames.rgb(fromBGRA: $0.baseAddress!, width: 2, height: 2, rowBytes: 12) }
        XCTAssertEqual(rgb, [3, 2, 1, 6, 5, 4, 9, 8, 7, 12, 11, 10])
    }
}

final class JobTests: XCTestCase {
    var docs: URL!

    override func setUpWithError() throws {
        docs = FileManager.default.temporaryDirectory.appendingPathComponent("vstbench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: docs.appendingPathComponent("plans"), withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: docs) }

    func testArguments() {
        XCTAssertEqual(Job(arguments: ["VstBench", "--plan", "plans/a.json", "--result", "results/a.json"]),
                       Job(planPath: "plans/a.json", resultPath: "results/a.json"))
        XCTAssertNil(Job(arguments: ["VstBench"]))
        XCTAssertNil(Job(arguments: ["VstBench", "--plan", "plans/a.json", "--result"]))
    }

    func testRunsThePlanAndWritesTheResult() async throws {
        try vector("plan-coreml.json").write(to: docs.appendingPathComponent("plans/p.json"))
        let job = Job(planPath: "plans/p.json", resultPath: "results/r.json")
        let line = await job.run(in: docs) { plan in
            let runner = BenchRunner<Int, Int>(openVideo: { var i = 0; return { defer { i += 1 }; return i < 12 ? i : nil } },
                                               resize: { $0 }, infer: { _ in Thread.sleep(forTimeInterval: 0.001) },
                                               sleep: { _ in })
            let first = try runner.warmup(plan)
            let reps = try runner.measure(plan)
            let env = BenchResult.Environment(device: plan.device, hardware: nil, chip: nil, os: "test",
                                              runtime_version: "test", delegate_requested: plan.delegate,
                                              delegate_used: plan.delegate, thermal_start: nil, battery_start: nil,
                                              harness: nil)
            return BenchResult(plan: plan, run_id: "device", started_at: isoNow(), finished_at: isoNow(),
                               environment: env, input: .init(width: 480, height: 320, layout: "NHWC", dtype: "float32"),
                               load_ms: 1, first_inference_ms: first, repeats: reps)
        }
        XCTAssertTrue(line.hasPrefix("models/k.mlpackage 480x320 cpuAndNeuralEngine: "), line)
        let written = try JSONDecoder().decode(BenchResult.self, from: Data(contentsOf: docs.appendingPathComponent("results/r.json")))
        XCTAssertEqual(written.repeats.count, 2)
        XCTAssertEqual(written.repeats.map { $0.e2e.frames }, [12, 12])
    }

    func testLiteRTPlansReachTheApp() async throws {
        try vector("plan-litert.json").write(to: docs.appendingPathComponent("plans/l.json"))
        var seen: String?
        let line = await Job(planPath: "plans/l.json", resultPath: "results/l.json").run(in: docs) { plan in
            seen = "\(plan.runtime) \(plan.delegate)"
            throw BenchError.runtime("stop here")
        }
        XCTAssertEqual(seen, "litert gpu")
        XCTAssertTrue(line.contains("stop here"), line)
    }

    func testFailureLeavesOneReasonForTheDriver() async throws {
        try Data("{\"schema\": \"vst-bench-plan/0\"}".utf8).write(to: docs.appendingPathComponent("plans/bad.json"))
        let line = await Job(planPath: "plans/bad.json", resultPath: "results/bad.json").run(in: docs) { _ in
            XCTFail("a bad plan must not be measured")
            throw BenchError.runtime("unreachable")
        }
        XCTAssertTrue(line.hasPrefix("failed: "), line)
        let reason = try String(contentsOf: docs.appendingPathComponent("results/bad.json.error.txt"), encoding: .utf8)
        XCTAssertFalse(reason.isEmpty)
        XCTAssertFalse(FileManager.default.fileExists(atPath: docs.appendingPathComponent("results/bad.json").path))
    }
}

final class RunnerTests: XCTestCase {
    /// 12 "decoded frames" (ints); resize doubles them; inference records what it saw.
    func makeRunner(frames: Int = 12, seen: @escaping (Int) -> Void = { _ in }) -> BenchRunner<Int, Int> {
        BenchRunner<Int, Int>(
            openVideo: {
                var i = 0
                return { defer { i += 1 }; return i < frames ? i : nil }
            },
            resize: { $0 * 2 },
            infer: { x in seen(x); Thread.sleep(forTimeInterval: 0.001) },
            maxPrepared: 5, sleep: { _ in })
    }

    func testWholeClipEveryRepeatWithConsistentSamples() throws {
        let plan = try Plan.load(from: vector("plan-coreml.json"))
        let runner = makeRunner()
        XCTAssertGreaterThan(try runner.warmup(plan), 0)
        let reps = try runner.measure(plan)
        XCTAssertEqual(reps.count, 2)
        for r in reps {
            XCTAssertEqual(r.e2e.frames, 12)
            XCTAssertEqual(r.e2e.decode_ms.count, 12)
            XCTAssertEqual(r.e2e.e2e_ms.count, 12)
            XCTAssertEqual(r.inference.frames, 12)
            XCTAssertGreaterThan(r.e2e.wall_s, 0)
            // a frame's end-to-end latency covers its own inference
            XCTAssertTrue(zip(r.e2e.e2e_ms, r.e2e.inference_ms).allSatisfy { $0 >= $1 })
        }
        XCTAssertGreaterThan(Summary(repeats: reps).fps_inference, 0)
    }

    func testFrameLimitAndOrder() throws {
        var seen: [Int] = []
        let lock = NSLock()
        let runner = makeRunner(seen: { x in lock.lock(); seen.append(x); lock.unlock() })
        let e2e = try runner.pipeline(limit: 4, seconds: nil)
        XCTAssertEqual(e2e.frames, 4)
        XCTAssertEqual(seen, [0, 2, 4, 6])
    }

    func testSecondsLimitStopsEarly() throws {
        let runner = BenchRunner<Int, Int>(openVideo: { { 1 } }, resize: { $0 },
                                            infer: { _ in Thread.sleep(forTimeInterval: 0.01) }, sleep: { _ in })
        let e2e = try runner.pipeline(limit: nil, seconds: 0.1)  // an endless clip: only the time limit stops it
        XCTAssertGreaterThan(e2e.frames, 2)
        XCTAssertLessThan(e2e.frames, 50)
    }

    func testEmptyClipIsAnError() {
        let runner = makeRunner(frames: 0)
        XCTAssertThrowsError(try runner.pipeline(limit: nil, seconds: nil))
    }
}
