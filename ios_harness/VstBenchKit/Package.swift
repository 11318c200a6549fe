// swift-tools-version:5.9
// Platform-independent core of the iOS harness: plan/result types (bench/schemas/*.schema.json), statistics and
// the measurement protocol. Builds and tests on macOS or Linux (`swift test`); the app adds Core ML and video.
import PackageDescription

let package = Package(
    name: "VstBenchKit",
    platforms: [.iOS(.v16), .macOS(.v13)],
    products: [.library(name: "VstBenchKit", targets: ["VstBenchKit"])],
    targets: [
        .target(name: "VstBenchKit"),
        .testTarget(name: "VstBenchKitTests", dependencies: ["VstBenchKit"]),
    ]
)
