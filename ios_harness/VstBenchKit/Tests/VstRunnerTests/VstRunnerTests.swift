import Foundation
import XCTest
import VstBenchKit
@testable import VstRunnerCore

/// The shared vectors at the repository root (or VST_VECTORS), as VstBenchKitTests reads them.
private func vector(_ name: String) throws -> Data {
    if let dir = ProcessInfo.processInfo.environment["VST_VECTORS"] {
        return try Data(contentsOf: URL(fileURLWithPath: dir).appendingPathComponent(name))
    }
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<5 { url.deleteLastPathComponent() }
    return try Data(contentsOf: url.appendingPathComponent("tests/vectors").appendingPathComponent(name))
}

private func badInput(_ body: () throws -> Any, _ expected: String, file: StaticString = #filePath,
                      line: UInt = #line) {
    XCTAssertThrowsError(try body(), file: file, line: line) { error in
        guard let e = error as? RunnerError, case .badInput(let msg) = e else {
            return XCTFail("\(error) is not bad input", file: file, line: line)
        }
        XCTAssertEqual(e.exitCode, 2, file: file, line: line)
        XCTAssertTrue(msg.contains(expected), "\(msg) lacks \(expected)", file: file, line: line)
        XCTAssertFalse(msg.contains("\n"), "one line: \(msg)", file: file, line: line)
    }
}

final class CommandTests: XCTestCase {
    func testParsesBothCommands() throws {
        XCTAssertEqual(try Command.parse(["run", "--plan", "p.json", "--result", "r.json"]),
                       .run(plan: "p.json", result: "r.json"))
        XCTAssertEqual(try Command.parse(["infer", "--model", "m.tflite", "--frames", "f.bin", "--frame-size", "64x48",
                                          "--threads", "2", "--accelerator", "gpu", "--output", "y.bin"]),
                       .infer(.init(model: "m.tflite", accelerator: "gpu", threads: 2,
                                    source: .frames("f.bin", width: 64, height: 48), output: "y.bin")))
        XCTAssertEqual(try Command.parse(["infer", "--model", "m", "--input", "x.bin", "--output", "y"]),
                       .infer(.init(model: "m", source: .tensors("x.bin"), output: "y")))
        XCTAssertEqual(try Command.parse(["--help"]), .help)
    }

    func testMistakesAreOneLineOfBadInput() {
        badInput({ try Command.parse([]) }, "no command")
        badInput({ try Command.parse(["bench"]) }, "unknown command bench")
        badInput({ try Command.parse(["run", "--plan", "p.json"]) }, "run needs --result")
        badInput({ try Command.parse(["run", "--plan", "--result", "r"]) }, "--plan needs a value")
        badInput({ try Command.parse(["run", "--plan", "p", "--result", "r", "--threads", "2"]) }, "takes no --threads")
        badInput({ try Command.parse(["infer", "--model", "m", "--output", "y"]) }, "--input X.bin")
        badInput({ try Command.parse(["infer", "--model", "m", "--input", "x", "--frames", "f", "--output", "y"]) },
                 "not both")
        badInput({ try Command.parse(["infer", "--model", "m", "--frames", "f", "--frame-size", "64-48",
                                      "--output", "y"]) }, "WIDTHxHEIGHT")
        badInput({ try Command.parse(["infer", "--model", "m", "--input", "x", "--output", "y",
                                      "--accelerator", "npu"]) }, "give cpu (XNNPACK) or gpu")
        badInput({ try Command.parse(["infer", "--model", "m", "--input", "x", "--output", "y", "--threads", "-1"]) },
                 "--threads -1")
    }
}

final class LinuxRunnerTests: XCTestCase {
    func testTakesLiteRTPlansOnly() throws {
        let plan = try LinuxRunner.plan(from: vector("plan-litert.json"), path: "p.json")
        XCTAssertEqual(try LinuxRunner.accelerator(delegate: plan.delegate), "gpu")
        let text = String(decoding: try vector("plan-litert.json"), as: UTF8.self)
        badInput({ try LinuxRunner.plan(from: Data(text.replacingOccurrences(of: "\"gpu\"", with: "\"nnapi\"").utf8),
                                        path: "p.json") }, "p.json: invalid plan: delegate nnapi is not a delegate LiteRT takes here (xnnpack, gpu)")
        badInput({ try LinuxRunner.plan(from: vector("plan-coreml.json"), path: "c.json") }, "this harness runs LiteRT only")
        badInput({ try LinuxRunner.plan(from: Data(text.replacingOccurrences(of: "\"repeats\"", with: "\"rep\"").utf8),
                                        path: "p.json") }, "p.json: repeats is missing")
        badInput({ try LinuxRunner.plan(from: Data("[1]".utf8), path: "p.json") }, "p.json")
    }

    func testResultCarriesTheRunnersFacts() throws {
        let plan = try LinuxRunner.plan(from: vector("plan-litert.json"), path: "p.json")
        let doc = try JSONSerialization.jsonObject(with: vector("result-litert.json")) as! [String: Any]
        let reps = try JSONDecoder().decode([BenchResult.Repeat].self,
                                            from: JSONSerialization.data(withJSONObject: doc["repeats"]!))
        let host = HostInfo(hardware: "cpu", chip: "x86_64", os: "Linux 6", cpus: 2)
        let facts = ModelFacts(runtimeVersion: "2.3.0", delegateUsed: "gpu (fully accelerated)", width: 320,
                               height: 240, layout: "NHWC", dtype: "int8")
        let mem = MemoryReading(source: "/proc/self/status (VmRSS, VmHWM)", baseline: 30 << 20,
                                afterLoad: 40 << 20, peak: 50 << 20 + 1 << 19, peakReset: true)
        let r = LinuxRunner.result(plan: plan, runId: LinuxRunner.runId(), started: isoNow(), finished: isoNow(),
                                   host: host, facts: facts, loadMs: 12.5, firstMs: 3.25, repeats: reps, memory: mem)
        let json = try JSONSerialization.jsonObject(with: r.jsonData()) as! [String: Any]
        let env = json["environment"] as! [String: Any]
        XCTAssertEqual(env["platform"] as? String, "host")
        XCTAssertEqual(env["runtime"] as? String, "litert")
        XCTAssertEqual(env["threads"] as? Int, 4)
        XCTAssertEqual(env["delegate_used"] as? String, "gpu (fully accelerated)")
        XCTAssertTrue((env["harness"] as! String).hasPrefix("vst-runner swift (Swift "))
        XCTAssertTrue(env["thermal_start"] is NSNull)  // the driver fills what the runner cannot read
        let memory = json["memory"] as! [String: Any]
        XCTAssertEqual(memory["baseline_mb"] as? Double, 30)
        XCTAssertEqual(memory["peak_mb"] as? Double, 50.5)
        XCTAssertEqual(memory["peak_reset"] as? Bool, true)
        XCTAssertNotNil(json["summary"])
        XCTAssertTrue((json["run_id"] as! String).range(of: #"^\d{8}T\d{6}Z-[0-9a-f]{6}$"#,
                                                         options: .regularExpression) != nil)
        // a reading the platform could not take leaves the record out rather than writing a wrong one
        var failed = mem
        failed.peak = -1
        XCTAssertNil(failed.record)
    }

    func testTruncatedClipIsRefused() throws {
        let plan = try LinuxRunner.plan(from: vector("plan-litert.json"), path: "p.json")  // 10 of a 12-frame clip
        XCTAssertEqual(LinuxRunner.expectedFrames(plan), 10)
        func rep(_ n: Int) throws -> BenchResult.Repeat {
            let doc: [String: Any] = [
                "index": 0, "inference": ["frames": n, "wall_s": 1, "inference_ms": [Double]()],
                "e2e": ["frames": n, "wall_s": 1, "decode_ms": [Double](), "resize_ms": [Double](),
                        "inference_ms": [Double](), "e2e_ms": [Double]()]]
            return try JSONDecoder().decode(BenchResult.Repeat.self, from: JSONSerialization.data(withJSONObject: doc))
        }
        XCTAssertNoThrow(try LinuxRunner.checkComplete(plan, [rep(10)]))
        let short = [try rep(10), try rep(7)]
        badInput({ try LinuxRunner.checkComplete(plan, short) }, "decoded only 7 of the 10 frames")
    }

    func testReadsTheFrameSizeFfmpegAnnounces() {
        let log = """
            Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'c.mp4':
              Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(progressive), 1920x1080, 25 fps
            Output #0, rawvideo, to '/dev/null':
              Stream #0:0(und): Video: rawvideo (RGB[24] / 0x18424752), rgb24(pc, gbr/unknown/unknown, progressive), 1080x1920, q=2-31
            """
        XCTAssertTrue(FFmpegFrames.outputSize(log)! == (1080, 1920))  // turned upright, as ffmpeg turns the frames
        XCTAssertNil(FFmpegFrames.outputSize("Input #0 ...\nno output"))
    }
}
