import CVstLiteRt
import Foundation

func nativeError(_ rc: Int32, _ err: [CChar]) -> RunnerError {
    let msg = String(cString: err)
    return rc == -2 ? .badInput(msg) : .failure(msg)
}

/// One model opened through vst_litert.h (vst's native backend: LiteRT's C API); `run` keeps the last output.
public final class NativeModel {
    let handle: OpaquePointer
    public let input: VstTensorInfo
    public let output: VstTensorInfo
    public let width: Int
    public let height: Int
    public let layout: String
    /// vst_open's time: reading, compiling and placing the model on its accelerator.
    public let loadMs: Double
    public private(set) var result: [UInt8]

    public init(path: String, accelerator: String, threads: Int) throws {
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw RunnerError.badInput("\(path): no such model; give a .tflite file")
        }
        var h: OpaquePointer?
        var err = [CChar](repeating: 0, count: 512)
        let t0 = DispatchTime.now().uptimeNanoseconds
        let rc = vst_open(path, accelerator, Int32(threads), &h, &err, err.count)
        let ms = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
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

    public var delegateUsed: String { String(cString: vst_delegate_used(handle)) }

    public static var runtimeVersion: String { String(cString: vst_runtime_version()) }

    public static func dtype(_ d: VstDType) -> String {
        switch d {
        case VST_FLOAT16: return "float16"
        case VST_UINT8: return "uint8"
        case VST_INT8: return "int8"
        default: return "float32"
        }
    }

    /// An RGB frame of any size -> the model's input bytes (cover-scale, centre crop, the input's dtype/layout).
    public func prepare(_ rgb: [UInt8], width w: Int, height h: Int) throws -> [UInt8] {
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

    public func run(_ x: [UInt8]) throws {
        var err = [CChar](repeating: 0, count: 512)
        let rc = x.withUnsafeBytes { src in
            result.withUnsafeMutableBytes { dst in
                vst_run(handle, src.baseAddress, dst.baseAddress, &err, err.count)
            }
        }
        if rc != 0 { throw nativeError(rc, err) }
    }
}

/// The process's memory around a cell through vst_litert.h (/proc/self/status on Linux and Android, task_info's
/// phys_footprint on Apple platforms, whose peak cannot be reset). Start just before load, so the peak is the cell's.
public struct MemoryProbe {
    #if canImport(Darwin)
    public static let source = "task_info (phys_footprint, its peak)"
    #else
    public static let source = "/proc/self/status (VmRSS, VmHWM)"
    #endif

    let baseline: Int64
    let peakReset: Bool
    var afterLoad: Int64 = -1

    /// Resets the high-water mark where the platform can and reads the baseline.
    public static func start() -> MemoryProbe {
        let reset = vst_reset_peak() == 0
        return MemoryProbe(baseline: vst_resident_bytes(), peakReset: reset)
    }

    public mutating func loaded() { afterLoad = vst_resident_bytes() }

    /// The reading at the end of the cell: baseline, after load, peak since start().
    public func finish() -> MemoryReading {
        MemoryReading(source: MemoryProbe.source, baseline: baseline, afterLoad: afterLoad,
                      peak: vst_peak_resident_bytes(), peakReset: peakReset)
    }
}
