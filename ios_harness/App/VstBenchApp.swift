import SwiftUI
import UIKit
import VstBenchKit

/// Launched by `xcrun devicectl device process launch ... org.vst.bench --plan P --result R` (paths relative to
/// Documents): runs the plan once, writes the result atomically, shows what it did.
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
    @Published var status = "waiting for a plan (--plan plans/<cell>.json --result results/<cell>.json)"

    static func argument(_ name: String, in args: [String]) -> String? {
        guard let i = args.firstIndex(of: name), i + 1 < args.count else { return nil }
        return args[i + 1]
    }

    func start(arguments: [String]) async {
        guard let planRel = Self.argument("--plan", in: arguments),
              let resultRel = Self.argument("--result", in: arguments) else { return }
        let docs = FileManager.default.urls(for: .documentDirectory, in: .userDomainMask)[0]
        status = "running \(planRel)"
        // keep the screen on and the app in front for the whole measurement
        UIApplication.shared.isIdleTimerDisabled = true
        defer { UIApplication.shared.isIdleTimerDisabled = false }
        let outcome = await Task.detached(priority: .userInitiated) { () -> String in
            do {
                let plan = try Plan.load(from: Data(contentsOf: docs.appendingPathComponent(planRel)))
                let result = try await CoreMLBench(plan: plan, documents: docs).run()
                let url = docs.appendingPathComponent(resultRel)
                try FileManager.default.createDirectory(at: url.deletingLastPathComponent(),
                                                        withIntermediateDirectories: true)
                // atomic: the driver polls for this file and must never read half of it
                try result.jsonData().write(to: url, options: .atomic)
                let s = result.summary!
                return String(format: "%@ %dx%d %@: %.1f fps end to end, %.1f fps inference",
                              plan.artifact.path, plan.input.width, plan.input.height, plan.delegate,
                              s.fps_e2e, s.fps_inference)
            } catch {
                let url = docs.appendingPathComponent(resultRel + ".error.txt")
                try? "\(error)".write(to: url, atomically: true, encoding: .utf8)
                return "failed: \(error)"
            }
        }.value
        status = outcome
        NSLog("VstBench: %@", outcome)
    }
}
