import CoreML
import CoreVideo
import Foundation
import VstBenchKit
import VstRunnerCore

/// Executes one plan with Core ML: compile the .mlpackage on the device, load it with the requested compute
/// units, then run VstBenchKit's protocol over the clip (AVAssetReader decode, vImage resize).
struct CoreMLBench {
    let plan: Plan
    let documents: URL

    static func computeUnits(_ unit: ComputeUnit) -> MLComputeUnits {
        switch unit {
        case .all: return .all
        case .cpuOnly: return .cpuOnly
        case .cpuAndGPU: return .cpuAndGPU
        case .cpuAndNeuralEngine: return .cpuAndNeuralEngine
        }
    }

    func run() async throws -> BenchResult {
        let started = isoNow()
        let thermal0 = DeviceInfo.thermal(), battery0 = DeviceInfo.battery()
        let config = MLModelConfiguration()
        config.computeUnits = Self.computeUnits(plan.computeUnit)
        let source = documents.appendingPathComponent(plan.artifact.path)

        // load time covers on-device compilation and loading, as an app's first launch pays it
        let clock = { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
        // memory through vst's native backend (task_info), as for LiteRT plans: from just before load to the end
        var memory = MemoryProbe.start()
        let t0 = clock()
        var compiled = source
        if source.pathExtension != "mlmodelc" {
            compiled = try await MLModel.compileModel(at: source)
        }
        let model = try MLModel(contentsOf: compiled, configuration: config)
        let loadMs = (clock() - t0) * 1e3
        memory.loaded()

        let input = try InputAdapter(model: model, width: plan.input.width, height: plan.input.height)
        let clip = documents.appendingPathComponent(plan.frame_source.path)
        let runner = BenchRunner<CVPixelBuffer, MLFeatureProvider>(
            openVideo: { try VideoFrames.open(clip) },
            resize: { try input.features(VideoFrames.resize($0, width: plan.input.width, height: plan.input.height)) },
            infer: { _ = try model.prediction(from: $0) },
            maxPrepared: Frames.preparedLimit(bytesPerFrame: plan.input.width * plan.input.height * 4))
        let firstMs = try runner.warmup(plan)
        let repeats = try runner.measure(plan)
        let reading = memory.finish()

        var env = BenchResult.Environment(
            device: plan.device, hardware: DeviceInfo.hardware, chip: nil, os: DeviceInfo.os,
            runtime_version: "Core ML (\(DeviceInfo.os))", delegate_requested: plan.delegate,
            delegate_used: await Self.computeUsage(compiled: compiled, config: config, requested: plan.delegate),
            thermal_start: thermal0, battery_start: battery0, harness: "ios_harness VstBench 1")
        env.thermal_end = DeviceInfo.thermal()
        env.battery_end = DeviceInfo.battery()
        var result = BenchResult(plan: plan, run_id: "device", started_at: started, finished_at: isoNow(),
                                 environment: env, input: .init(width: plan.input.width, height: plan.input.height,
                                                                layout: input.layout, dtype: input.dtype),
                                 load_ms: loadMs, first_inference_ms: firstMs, repeats: repeats)
        result.memory = reading.record
        return result
    }

    /// Core ML picks a device per operation; iOS 17.4's MLComputePlan tells which one it prefers for each.
    static func computeUsage(compiled: URL, config: MLModelConfiguration, requested: String) async -> String {
        guard #available(iOS 17.4, *) else {
            return ComputePlacement.describe(requested: requested, counts: nil, why: "needs iOS 17.4")
        }
        guard let cp = try? await MLComputePlan.load(contentsOf: compiled, configuration: config),
              case .program(let program) = cp.modelStructure,
              let main = program.functions["main"] else {
            return ComputePlacement.describe(requested: requested, counts: nil)
        }
        var counts: [String: Int] = [:]
        for op in main.block.operations {
            guard let usage = cp.deviceUsage(for: op) else { continue }
            switch usage.preferred {
            case .cpu: counts["cpu", default: 0] += 1
            case .gpu: counts["gpu", default: 0] += 1
            case .neuralEngine: counts["ane", default: 0] += 1
            @unknown default: counts["other", default: 0] += 1
            }
        }
        return ComputePlacement.describe(requested: requested, counts: counts)
    }
}

/// Turns a resized BGRA frame into the model's input: an image input takes the pixel buffer as is; a
/// multi-array input (NCHW or NHWC, float32/float16) gets RGB in [0, 1], as the stylizers were trained.
struct InputAdapter {
    let name: String
    let isImage: Bool
    let layout: String
    let dtype: String
    let shape: [NSNumber]
    let arrayType: MLMultiArrayDataType

    init(model: MLModel, width: Int, height: Int) throws {
        guard let first = model.modelDescription.inputDescriptionsByName.first else {
            throw BenchError.runtime("the model has no inputs")
        }
        let (name, desc) = (first.key, first.value)
        self.name = name
        if desc.type == .image {
            isImage = true; layout = "NHWC"; dtype = "uint8"; shape = []; arrayType = .float32
        } else if let c = desc.multiArrayConstraint {
            isImage = false
            shape = c.shape
            layout = shape.count == 4 && shape[1].intValue == 3 ? "NCHW" : "NHWC"
            arrayType = c.dataType == .float16 ? .float16 : .float32
            dtype = arrayType == .float16 ? "float16" : "float32"
        } else {
            throw BenchError.runtime("input \(name) is neither an image nor a multi-array")
        }
    }

    func features(_ pb: CVPixelBuffer) throws -> MLFeatureProvider {
        if isImage {
            return try MLDictionaryFeatureProvider(dictionary: [name: MLFeatureValue(pixelBuffer: pb)])
        }
        let w = CVPixelBufferGetWidth(pb), h = CVPixelBufferGetHeight(pb)
        let shape: [NSNumber] = layout == "NCHW" ? [1, 3, NSNumber(value: h), NSNumber(value: w)]
                                                 : [1, NSNumber(value: h), NSNumber(value: w), 3]
        let arr = try MLMultiArray(shape: shape, dataType: .float32)
        CVPixelBufferLockBaseAddress(pb, .readOnly)
        defer { CVPixelBufferUnlockBaseAddress(pb, .readOnly) }
        let base = CVPixelBufferGetBaseAddress(pb)!.assumingMemoryBound(to: UInt8.self)
        let row = CVPixelBufferGetBytesPerRow(pb)
        let out = arr.dataPointer.assumingMemoryBound(to: Float.self)
        let plane = w * h
        for y in 0..<h {
            for x in 0..<w {
                let p = base + y * row + x * 4  // BGRA
                let rgb = [Float(p[2]), Float(p[1]), Float(p[0])]
                for c in 0..<3 {
                    let idx = layout == "NCHW" ? c * plane + y * w + x : (y * w + x) * 3 + c
                    out[idx] = rgb[c] / 255
                }
            }
        }
        // a float16 model input converts on the way in; Core ML accepts float32 arrays for it
        return try MLDictionaryFeatureProvider(dictionary: [name: MLFeatureValue(multiArray: arr)])
    }
}
