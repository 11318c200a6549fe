import XCTest
@testable import VstBenchKit

/// A plan exactly as vst.bench.plan.make_plan writes it (nulls included).
let planJSON = """
{"schema": "vst-bench-plan/1", "cell_id": "0123456789abcdef", "device": "iphone11pro", "runtime": "coreml",
 "artifact": {"path": "models/k.mlpackage", "format": "mlpackage", "sha256": "\(String(repeating: "a", count: 64))",
              "zoo_name": null, "model": {"name": "kunster-t2-04", "arch": "kunster", "params": 33000, "precision": "fp16"}},
 "input": {"width": 480, "height": 320, "layout": "NHWC"},
 "frame_source": {"kind": "video", "path": "clips/clip.mp4", "sha256": null, "width": 1920, "height": 1080,
                  "fps": 25.0, "frames": 12},
 "warmup": {"frames": 2, "seconds": 0.0}, "measure": {"frames": null, "seconds": null}, "repeats": 2,
 "cooldown_s": 0.0, "threads": null, "delegate": "cpuAndNeuralEngine"}
"""

final class PlanTests: XCTestCase {
    func testDecodesPythonPlan() throws {
        let plan = try Plan.load(from: Data(planJSON.utf8))
        XCTAssertEqual(plan.input.width, 480)
        XCTAssertNil(plan.measure.frames)
        XCTAssertEqual(plan.artifact.model?.params, 33000)
    }

    func testEncodingKeepsRequiredNulls() throws {
        let plan = try Plan.load(from: Data(planJSON.utf8))
        let obj = try JSONSerialization.jsonObject(with: JSONEncoder().encode(plan)) as! [String: Any]
        let measure = obj["measure"] as! [String: Any]
        XCTAssertTrue(measure["frames"] is NSNull)
        XCTAssertTrue(obj["threads"] is NSNull)
        XCTAssertEqual(try JSONDecoder().decode(Plan.self, from: JSONEncoder().encode(plan)), plan)
    }

    func testRejectsWhatThisHarnessCannotRun() throws {
        for (from, to) in [("\"cpuAndNeuralEngine\"", "\"gpu\""), ("\"coreml\"", "\"litert\""), ("\"repeats\": 2", "\"repeats\": 0")] {
            XCTAssertThrowsError(try Plan.load(from: Data(planJSON.replacingOccurrences(of: from, with: to).utf8)))
        }
    }
}

final class StatsTests: XCTestCase {
    // the same expectations as tests/test_bench_schema.py::test_statistics
    func testMatchesPython() {
        let xs = (1...10).map(Double.init)
        XCTAssertEqual(Stats.median(xs), 5.5)
        XCTAssertEqual(Stats.percentile(xs, 90), 9.1, accuracy: 1e-9)
        XCTAssertEqual(Stats.trimmedMean(Array(repeating: 10.0, count: 9) + [1000]), 10.0)
        XCTAssertEqual(Stats.mean(Array(repeating: 10.0, count: 9) + [1000]), 109.0)
        XCTAssertEqual(Stats.fps(frames: 525, wallSeconds: 21), 25)
        XCTAssertEqual(Stats.spread([100, 104, 102]), 4.0 / 102, accuracy: 1e-12)
        XCTAssertEqual(Stats.spread([10]), 0)
        XCTAssertEqual(Stats.cv([2, 4, 4, 4, 5, 5, 7, 9]), 2.138089935 / 5, accuracy: 1e-6)
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
        let plan = try Plan.load(from: Data(planJSON.utf8))
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
        let s = Summary(repeats: reps)
        XCTAssertGreaterThan(s.fps_inference, 0)
    }

    func testFrameLimitAndOrder() throws {
        var plan = try Plan.load(from: Data(planJSON.utf8))
        plan.measure.frames = 4
        var seen: [Int] = []
        let lock = NSLock()
        let runner = makeRunner(seen: { x in lock.lock(); seen.append(x); lock.unlock() })
        let e2e = try runner.pipeline(limit: plan.measure.frames, seconds: nil)
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
