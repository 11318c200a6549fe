import CoreVideo
import Foundation
import VstBenchKit
import VstRunnerCore

/// Executes one LiteRT plan with the code vst-runner runs on Linux (VstRunnerCore's LiteRtCell over vst's native
/// backend, CVstLiteRt), AVFoundation's decoder as the only part of its own.
struct LiteRtBench {
    let plan: Plan
    let documents: URL

    /// The LiteRT-Swift release project.yml links: the result states it (vst_litert.c cannot read it on iOS).
    static let liteRtVersion = "2.3.0"

    func run() throws -> BenchResult {
        setenv("VST_LITERT_VERSION", LiteRtBench.liteRtVersion, 0)
        let started = isoNow()
        let thermal0 = DeviceInfo.thermal(), battery0 = DeviceInfo.battery()
        let clipURL = documents.appendingPathComponent(plan.frame_source.path)
        let cell = try LiteRtCell.measure(plan: plan, modelPath: documents.appendingPathComponent(plan.artifact.path).path) {
            let (w, h) = try VideoFrames.size(clipURL)
            return RGBClip(width: w, height: h) {
                let next = try VideoFrames.open(clipURL)
                return { try next().map { VideoFrames.rgb($0) } }
            }
        }
        var env = BenchResult.Environment(
            device: plan.device, hardware: DeviceInfo.hardware, chip: nil, os: DeviceInfo.os,
            runtime_version: cell.facts.runtimeVersion, delegate_requested: plan.delegate,
            delegate_used: cell.facts.delegateUsed, thermal_start: thermal0, battery_start: battery0,
            harness: "ios_harness VstBench 2 (vst's native backend)")
        env.runtime = "litert"
        env.threads = plan.threads
        env.thermal_end = DeviceInfo.thermal()
        env.battery_end = DeviceInfo.battery()
        return cell.result(plan: plan, runId: "device", started: started, finished: isoNow(), environment: env)
    }
}
