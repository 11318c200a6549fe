// vst-runner: the harness's measurement protocol (VstBenchKit's BenchRunner) on Linux, over vst's native backend
// (CVstLiteRt: a .tflite through LiteRT's C API). `run` executes a vst-bench plan as the phone apps do; `infer`
// runs raw inputs so that vst can check the numerics against its Python runtimes. See Command.usage.
import CVstLiteRt
import Foundation
import VstBenchKit
import VstRunnerCore

/// The process's stderr for the runner's own lines, kept apart from what LiteRT's libraries print there.
let ownStderr = FileHandle(fileDescriptor: dup(2), closeOnDealloc: true)

func say(_ line: String) { ownStderr.write(Data((line + "\n").utf8)) }

/// Sends the process's stdout and stderr to $VST_LITERT_LOG, else nowhere, for the rest of its life: LiteRT,
/// TFLite and the GPU stack print INFO lines on both while loading and running (and TFLite its own error beside
/// the one vst_open gives), which the runner's terminal should not show; its own lines go to `ownStderr`.
func silenceNativeLogs() {
    let target = ProcessInfo.processInfo.environment["VST_LITERT_LOG"] ?? "/dev/null"
    let fd = open(target, O_WRONLY | O_CREAT | O_APPEND, 0o644)
    guard fd >= 0 else { return }
    dup2(fd, 1)
    dup2(fd, 2)
    close(fd)
}

func writeAtomically(_ data: Data, to path: String) throws {
    let url = URL(fileURLWithPath: path)
    do {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: url, options: .atomic)
    } catch {
        throw RunnerError.badInput("cannot write \(path) (\(error.localizedDescription)); give a writable path")
    }
}

/// `run`: one plan through VstRunnerCore's LiteRtCell (what the iOS app calls too), frames decoded by ffmpeg.
func runPlan(planPath: String, resultPath: String) throws {
    guard let data = FileManager.default.contents(atPath: planPath) else {
        throw RunnerError.badInput("\(planPath): no such plan; give the plan file vst-bench wrote")
    }
    let plan = try LinuxRunner.plan(from: data, path: planPath)
    let host = HostInfo.current()
    let started = isoNow()
    let cell = try LiteRtCell.measure(plan: plan, modelPath: plan.artifact.path) {
        let clip = plan.frame_source.path
        let (w, h) = try FFmpegFrames.probe(clip: clip)
        let (pw, ph) = (plan.input.width, plan.input.height)
        let filter = FFmpegFrames.coverFilter(srcWidth: w, srcHeight: h, width: pw, height: ph)
        return RGBClip(width: pw, height: ph) {
            let frames = try FFmpegFrames(clip: clip, width: pw, height: ph, filter: filter)
            return { try frames.next() }
        }
    }
    let result = cell.result(plan: plan, runId: LinuxRunner.runId(), started: started, finished: isoNow(),
                             environment: LinuxRunner.environment(plan: plan, facts: cell.facts, host: host))
    try writeAtomically(try result.jsonData(), to: resultPath)
}

func readInput(_ path: String) throws -> Data {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw RunnerError.badInput("\(path): no such file; give the raw input file")
    }
    return data
}

/// `infer`: k inputs (raw tensors or RGB frames) through the model, the k raw outputs back to back.
func infer(_ a: Command.Infer) throws {
    let model = try NativeModel(path: a.model, accelerator: a.accelerator, threads: a.threads)
    let inBytes = model.input.bytes
    var inputs: [[UInt8]] = []
    switch a.source {
    case .tensors(let path):
        let data = try readInput(path)
        guard !data.isEmpty, data.count % inBytes == 0 else {
            throw RunnerError.badInput("\(path) holds \(data.count) bytes, not a whole number of the model's "
                                       + "inputs (\(inBytes) bytes each: \(model.width)x\(model.height) "
                                       + "\(model.layout) \(NativeModel.dtype(model.input.dtype)))")
        }
        inputs = stride(from: 0, to: data.count, by: inBytes).map { [UInt8](data[$0..<($0 + inBytes)]) }
    case .frames(let path, let w, let h):
        let data = try readInput(path)
        let frame = w * h * 3
        guard !data.isEmpty, data.count % frame == 0 else {
            throw RunnerError.badInput("\(path) holds \(data.count) bytes, not a whole number of \(w)x\(h) RGB "
                                       + "frames (\(frame) bytes each)")
        }
        inputs = try stride(from: 0, to: data.count, by: frame).map {
            try model.prepare([UInt8](data[$0..<($0 + frame)]), width: w, height: h)
        }
    }
    var out = Data(capacity: inputs.count * model.output.bytes)
    for x in inputs {
        try model.run(x)
        out.append(contentsOf: model.result)
    }
    try writeAtomically(out, to: a.output)
}

func exitCode(_ error: Error) -> (String, Int32) {
    switch error {
    case let e as RunnerError: return (e.description, e.exitCode)
    case let e as BenchError:
        if case .runtime = e { return (e.description, 1) }
        return (e.description, 2)
    default: return ("\(error)", 1)
    }
}

do {
    let command = try Command.parse(Array(CommandLine.arguments.dropFirst()))
    if command == .help {
        print(Command.usage)
        exit(0)
    }
    silenceNativeLogs()
    switch command {
    case .help: break
    case .run(let plan, let result): try runPlan(planPath: plan, resultPath: result)
    case .infer(let a): try infer(a)
    }
} catch {
    let (line, code) = exitCode(error)
    say("vst-runner: error: " + line.split(separator: "\n").joined(separator: " "))
    exit(code)
}
