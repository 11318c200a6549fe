import Foundation
import UIKit
import VstBenchKit

/// Environment readings for the result: hardware, OS, thermal state and battery.
enum DeviceInfo {
    static var hardware: String {
        var u = utsname()
        uname(&u)
        return withUnsafeBytes(of: &u.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    static var os: String {
        "iOS \(ProcessInfo.processInfo.operatingSystemVersionString)"
    }

    static func thermal() -> BenchResult.Thermal {
        let state: String
        switch ProcessInfo.processInfo.thermalState {
        case .nominal: state = "nominal"
        case .fair: state = "fair"
        case .serious: state = "serious"
        case .critical: state = "critical"
        @unknown default: state = "unknown"
        }
        return BenchResult.Thermal(source: "ProcessInfo.thermalState", state: state, celsius: nil)
    }

    static func battery() -> BenchResult.Battery? {
        let read = {
            UIDevice.current.isBatteryMonitoringEnabled = true
            let level = UIDevice.current.batteryLevel
            let st = UIDevice.current.batteryState
            return BenchResult.Battery(source: "UIDevice", level_pct: level < 0 ? nil : Double(level) * 100,
                                       celsius: nil, charging: st == .unknown ? nil : (st == .charging || st == .full))
        }
        return Thread.isMainThread ? read() : DispatchQueue.main.sync(execute: read)
    }
}
