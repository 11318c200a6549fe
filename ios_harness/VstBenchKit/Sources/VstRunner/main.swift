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

func seconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

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

func nativeError(_ rc: Int32, _ err: [CChar]) -> RunnerError {
    let msg = String(cString: err)
    return rc == -2 ? .badInput(msg) : .failure(msg)
}

/// One model opened through vst_litert.h; `run` keeps the last output.
final class NativeModel {
    let handle: OpaquePointer
    let input: VstTensorInfo
    let output: VstTensorInfo
    let width: Int
    let height: Int
    let layout: String
    let loadMs: Double
    private(set) var result: [UInt8]

    init(path: String, accelerator: String, threads: Int) throws {
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw RunnerError.badInput("\(path): no such model; give a .tflite file")
        }
        var h: OpaquePointer?
        var err = [CChar](repeating: 0, count: 512)
        let t0 = seconds()
        let rc = vst_open(path, accelerator, Int32(threads), &h, &err, err.count)
        let ms = (seconds() - t0) * 1e3
        guard rc == 0, let opened = h else { throw nativeError(rc, err) }
        handle = opened
        loadMs = ms
        var i = VstTensorInfo(), o = VstTensorInfo()
        vst_input_info(opened, &i)
        vst_output_info(opened, &o)
        input = i
        output = o
        var w: Int32 = 0, hh: Int32 = 0, nchw: Int32 = 0
        vst_input_image(opened, &w, &hh, &nchw)
        width = Int(w)
        height = Int(hh)
        layout = nchw == 1 ? "NCHW" : "NHWC"
        result = [UInt8](repeating: 0, count: o.bytes)
    }

    deinit { vst_close(handle) }

    var delegateUsed: String { String(cString: vst_delegate_used(handle)) }

    static func dtype(_ d: VstDType) -> String {
        switch d {
        case VST_FLOAT16: return "float16"
        case VST_UINT8: return "uint8"
        case VST_INT8: return "int8"
        default: return "float32"
        }
    }

    /// An RGB frame of any size -> the model's input bytes (cover-scale, centre crop, the input's dtype/layout).
    func prepare(_ rgb: [UInt8], width w: Int, height h: Int) throws -> [UInt8] {
        var x = [UInt8](repeating: 0, count: input.bytes)
        var err = [CChar](repeating: 0, count: 512)
        let rc = rgb.withUnsafeBufferPointer { src in
            x.withUnsafeMutableBytes { dst in
                vst_prepare(handle, src.baseAddress, Int32(w), Int32(h), dst.baseAddress, &err, err.count)
            }
        }
        if rc != 0 { throw nativeError(rc, err) }
        return x
    }

    func run(_ x: [UInt8]) throws {
        var err = [CChar](repeating: 0, count: 512)
        let rc = x.withUnsafeBytes { src in
            result.withUnsafeMutableBytes { dst in
                vst_run(handle, src.baseAddress, dst.baseAddress, &err, err.count)
            }
        }
        if rc != 0 { throw nativeError(rc, err) }
    }
}

#if canImport(Darwin)
let memorySource = "task_info (phys_footprint, its peak)"
#else
let memorySource = "/proc/self/status (VmRSS, VmHWM)"
#endif

func writeAtomically(_ data: Data, to path: String) throws {
    let url = URL(fileURLWithPath: path)
    do {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: url, options: .atomic)
    } catch {
        throw RunnerError.badInput("cannot write \(path) (\(error.localizedDescription)); give a writable path")
    }
}

/// `run`: one plan, measured as vst/bench/host.py measures it, the result written as the phone apps write it.
func runPlan(planPath: String, resultPath: String) throws {
    guard let data = FileManager.default.contents(atPath: planPath) else {
        throw RunnerError.badInput("\(planPath): no such plan; give the plan file vst-bench wrote")
    }
    let plan = try LinuxRunner.plan(from: data, path: planPath)
    let accelerator = try LinuxRunner.accelerator(delegate: plan.delegate)
    if plan.artifact.format != "tflite" {
        throw RunnerError.badInput("\(plan.artifact.path) is a \(plan.artifact.format) artifact; vst-runner runs .tflite")
    }
    let clip = plan.frame_source.path
    let (cw, ch) = try FFmpegFrames.probe(clip: clip)
    let host = HostInfo.current()
    let started = isoNow()

    // memory: the mark is reset just before load, so the peak covers this cell from load to its last frame
    let baseline = vst_resident_bytes()
    let reset = vst_reset_peak() == 0
    let model = try NativeModel(path: plan.artifact.path, accelerator: accelerator, threads: plan.threads ?? 0)
    let afterLoad = vst_resident_bytes()
    if (model.width, model.height) != (plan.input.width, plan.input.height) {
        throw RunnerError.badInput("\(plan.artifact.path) has a fixed \(model.width)x\(model.height) input; the plan "
                                   + "asks for \(plan.input.width)x\(plan.input.height)")
    }
    let runner = BenchRunner<[UInt8], [UInt8]>(
        openVideo: {
            let frames = try FFmpegFrames(clip: clip, width: cw, height: ch)
            return { try frames.next() }
        },
        resize: { try model.prepare($0, width: cw, height: ch) },
        infer: { try model.run($0) },
        maxPrepared: Frames.preparedLimit(bytesPerFrame: model.input.bytes))
    let first = try runner.warmup(plan)
    let repeats = try runner.measure(plan)
    let peak = vst_peak_resident_bytes()
    try LinuxRunner.checkComplete(plan, repeats)

    let facts = ModelFacts(runtimeVersion: String(cString: vst_runtime_version()), delegateUsed: model.delegateUsed,
                           width: model.width, height: model.height, layout: model.layout,
                           dtype: NativeModel.dtype(model.input.dtype))
    let memory = MemoryReading(source: memorySource, baseline: baseline, afterLoad: afterLoad, peak: peak,
                               peakReset: reset)
    let result = LinuxRunner.result(plan: plan, runId: LinuxRunner.runId(), started: started, finished: isoNow(),
                                    host: host, facts: facts, loadMs: model.loadMs, firstMs: first,
                                    repeats: repeats, memory: memory)
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
