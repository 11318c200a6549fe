// swift-tools-version:5.9
// Platform-independent core of the iOS harness: plan/result types (bench/schemas/*.schema.json), statistics and
// the measurement protocol. Builds and tests on macOS or Linux (`swift test`); the app adds Core ML and video.
// vst-runner runs the same protocol on Linux with a .tflite through vst's native backend (CVstLiteRt: LiteRT's C
// API, opened at run time, so nothing here needs LiteRT to build or test).
import PackageDescription

let package = Package(
    name: "VstBenchKit",
    platforms: [.iOS(.v16), .macOS(.v13)],
    products: [
        .library(name: "VstBenchKit", targets: ["VstBenchKit"]),
        // the iOS app's LiteRT path and memory readings (project.yml): LiteRtCell over CVstLiteRt
        .library(name: "VstRunnerCore", targets: ["VstRunnerCore"]),
        .executable(name: "vst-runner", targets: ["VstRunner"]),
    ],
    targets: [
        .target(name: "VstBenchKit"),
        .target(name: "CVstLiteRt", linkerSettings: [.linkedLibrary("dl", .when(platforms: [.linux])),
                                                     .linkedLibrary("m", .when(platforms: [.linux]))]),
        .target(name: "VstRunnerCore", dependencies: ["VstBenchKit", "CVstLiteRt"]),
        .executableTarget(name: "VstRunner", dependencies: ["VstRunnerCore", "CVstLiteRt"]),
        .testTarget(name: "VstBenchKitTests", dependencies: ["VstBenchKit"]),
        .testTarget(name: "VstRunnerTests", dependencies: ["VstRunnerCore"]),
    ],
    cLanguageStandard: .c99
)
