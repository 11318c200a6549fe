import SwiftUI
import UIKit
import VstBenchKit

/// Launched by `xcrun devicectl device process launch ... org.vst.bench --plan P --result R` (paths relative to
/// Documents): runs the plan once (Core ML, or LiteRT through vst's native backend), writes the result atomically,
/// shows what it did.
@main
struct VstBenchApp: App {
    @StateObject private var job = BenchJob()

    var body: some Scene {
        WindowGroup {
            VStack(alignment: .leading, spacing: 12) {
                Text("vst-bench harness").font(.headline)
                Text(job.status).font(.system(.body, design: .monospaced))
            }
            .padding()
            .task { await job.start(arguments: CommandLine.arguments) }
        }
    }
}

@MainActor
final class BenchJob: ObservableObject {
    @Published var status = Job.usage

    func start(arguments: [String]) async {
        guard let job = Job(arguments: arguments) else { return }
        let docs = FileManager.default.urls(for: .documentDirectory, in: .userDomainMask)[0]
        status = "running \(job.planPath)"
        // keep the screen on and the app in front for the whole measurement
        UIApplication.shared.isIdleTimerDisabled = true
        defer { UIApplication.shared.isIdleTimerDisabled = false }
        let outcome = await Task.detached(priority: .userInitiated) {
            await job.run(in: docs) { plan in
                if plan.runtime == "litert" { return try LiteRtBench(plan: plan, documents: docs).run() }
                return try await CoreMLBench(plan: plan, documents: docs).run()
            }
        }.value
        status = outcome
        NSLog("VstBench: %@", outcome)
    }
}
