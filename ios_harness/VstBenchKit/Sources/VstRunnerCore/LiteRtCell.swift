import Foundation
import VstBenchKit

/// The platform's part of a cell: the clip's frames, full size, as RGB bytes (height x width x 3). ffmpeg on
/// Linux (vst-runner), AVFoundation in the iOS app.
public struct RGBClip {
    public var width: Int
    public var height: Int
    /// Opens the clip from its start; the function it returns gives the next frame, nil after the last.
    public var open: () throws -> BenchRunner<[UInt8], [UInt8]>.NextFrame

    public init(width: Int, height: Int, open: @escaping () throws -> BenchRunner<[UInt8], [UInt8]>.NextFrame) {
        self.width = width; self.height = height; self.open = open
    }
}

/// What one cell measured, before the platform adds its environment.
public struct CellMeasurement {
    public var facts: ModelFacts
    public var loadMs: Double
    public var firstMs: Double
    public var repeats: [BenchResult.Repeat]
    public var memory: MemoryReading

    public init(facts: ModelFacts, loadMs: Double, firstMs: Double, repeats: [BenchResult.Repeat],
                memory: MemoryReading) {
        self.facts = facts; self.loadMs = loadMs; self.firstMs = firstMs; self.repeats = repeats
        self.memory = memory
    }

    /// The result (schema vst-bench-result/1) with the platform's environment.
    public func result(plan: Plan, runId: String, started: String, finished: String,
                       environment: BenchResult.Environment) -> BenchResult {
        var r = BenchResult(plan: plan, run_id: runId, started_at: started, finished_at: finished,
                            environment: environment,
                            input: .init(width: facts.width, height: facts.height, layout: facts.layout,
                                         dtype: facts.dtype),
                            load_ms: loadMs, first_inference_ms: firstMs, repeats: repeats)
        r.memory = memory.record
        return r
    }
}

/// One LiteRT plan through vst's native backend, as vst-runner on Linux and the iOS app both run it: memory probed
/// from just before load to the last frame, the model opened (load time), BenchRunner's warmup (first inference)
/// and repeats over the platform's frames, each prepared by vst_prepare.
public enum LiteRtCell {
    /// `clip` is opened once the plan is checked, before the model loads.
    public static func measure(plan: Plan, modelPath: String, clip: () throws -> RGBClip) throws -> CellMeasurement {
        let accelerator = try LinuxRunner.accelerator(delegate: plan.delegate)
        if plan.artifact.format != "tflite" {
            throw RunnerError.badInput("\(plan.artifact.path) is a \(plan.artifact.format) artifact; LiteRT runs .tflite")
        }
        let frames = try clip()
        var memory = MemoryProbe.start()
        let model = try NativeModel(path: modelPath, accelerator: accelerator, threads: plan.threads ?? 0)
        memory.loaded()
        if (model.width, model.height) != (plan.input.width, plan.input.height) {
            throw RunnerError.badInput("\(plan.artifact.path) has a fixed \(model.width)x\(model.height) input; the "
                                       + "plan asks for \(plan.input.width)x\(plan.input.height)")
        }
        let (fw, fh) = (frames.width, frames.height)
        let runner = BenchRunner<[UInt8], [UInt8]>(
            openVideo: frames.open,
            resize: { try model.prepare($0, width: fw, height: fh) },
            infer: { try model.run($0) },
            maxPrepared: Frames.preparedLimit(bytesPerFrame: model.input.bytes))
        let first = try runner.warmup(plan)
        let repeats = try runner.measure(plan)
        let reading = memory.finish()
        try LinuxRunner.checkComplete(plan, repeats)
        let facts = ModelFacts(runtimeVersion: NativeModel.runtimeVersion, delegateUsed: model.delegateUsed,
                               width: model.width, height: model.height, layout: model.layout,
                               dtype: NativeModel.dtype(model.input.dtype))
        return CellMeasurement(facts: facts, loadMs: model.loadMs, firstMs: first, repeats: repeats, memory: reading)
    }
}
