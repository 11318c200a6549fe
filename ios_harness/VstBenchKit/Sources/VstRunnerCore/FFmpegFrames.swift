import Foundation

// Process (a child ffmpeg) exists on macOS and Linux only; the iOS app decodes with AVFoundation instead
#if os(macOS) || os(Linux)

/// The clip's frames as RGB uint8 (height x width x 3), decoded by an ffmpeg process
/// (`ffmpeg -v error -i CLIP -f rawvideo -pix_fmt rgb24 -`): on Linux the runner's stand-in for the platform
/// decoder a phone app uses. Decoding runs in ffmpeg's own threads ahead of the reader, as a phone's hardware
/// decoder does, so a frame's decode time is the wait for it. Dropping the reader ends the process.
public final class FFmpegFrames {
    public let width: Int
    public let height: Int
    let clip: String
    let process = Process()
    let stdout = Pipe()
    let log: URL
    var finished = false
    var launched = false

    /// The ffmpeg to run: $VST_FFMPEG (the Python driver sets it from the imageio-ffmpeg wheel), else on PATH.
    public static var executable: String { ProcessInfo.processInfo.environment["VST_FFMPEG"] ?? "ffmpeg" }

    /// `filter`: an ffmpeg -vf chain whose output is width x height (coverFilter); nil: the clip's own frames.
    public init(clip: String, width: Int, height: Int, filter: String? = nil,
                ffmpeg: String = FFmpegFrames.executable) throws {
        self.clip = clip; self.width = width; self.height = height
        log = FileManager.default.temporaryDirectory.appendingPathComponent("vst-ffmpeg-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: try FFmpegFrames.resolve(ffmpeg))
        process.arguments = ["-nostdin", "-v", "error", "-i", clip] + (filter.map { ["-vf", $0] } ?? []) +
            ["-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = stdout
        process.standardError = try FileHandle(forWritingTo: log)
        do {
            try process.run()
            launched = true
        } catch {
            try? FileManager.default.removeItem(at: log)
            throw RunnerError.failure("cannot start \(ffmpeg) (\(error)); set VST_FFMPEG to an ffmpeg executable")
        }
    }

    deinit {
        if launched {
            if process.isRunning { process.terminate() }
            try? stdout.fileHandleForReading.close()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: log)
    }

    /// The next frame, nil after the last one; a decoding failure throws with ffmpeg's own words.
    public func next() throws -> [UInt8]? {
        if finished { return nil }
        let size = width * height * 3
        var frame = [UInt8](repeating: 0, count: size)
        let fd = stdout.fileHandleForReading.fileDescriptor
        var got = 0
        try frame.withUnsafeMutableBytes { buf in
            while got < size {
                let n = read(fd, buf.baseAddress! + got, size - got)
                if n == 0 { break }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw RunnerError.failure("reading frames from ffmpeg failed (errno \(errno))")
                }
                got += n
            }
        }
        if got == size { return frame }
        finished = true
        process.waitUntilExit()
        if process.terminationStatus != 0 || got != 0 {
            let said = (try? String(contentsOf: log, encoding: .utf8))?
                .split(separator: "\n").last.map(String.init) ?? "exit code \(process.terminationStatus)"
            throw RunnerError.badInput("decoding \(clip) failed (ffmpeg: \(said)); give an H.264 MP4/MOV file")
        }
        return nil
    }

    /// The -vf chain that scales a srcWidth x srcHeight clip to cover width x height and centre-crops it, as
    /// vst's host runner has swscale do while converting to RGB (vst.common.images.cover: area when shrinking,
    /// bilinear when enlarging): the frame source hands frames at the model's size, a phone's scaler's job.
    public static func coverFilter(srcWidth w: Int, srcHeight h: Int, width: Int, height: Int) -> String {
        let scale = max(Double(width) / Double(w), Double(height) / Double(h))
        // Python's round() rounds halves to even
        let nw = max(width, Int((Double(w) * scale).rounded(.toNearestOrEven)))
        let nh = max(height, Int((Double(h) * scale).rounded(.toNearestOrEven)))
        let flags = scale < 1 ? "area" : "bilinear"
        return "scale=\(nw):\(nh):flags=\(flags),crop=\(width):\(height):\((nw - width) / 2):\((nh - height) / 2)"
    }

    /// Width and height of the frames ffmpeg gives for `clip` (turned upright as it turns them), read from the
    /// output stream ffmpeg announces when it converts the first frame.
    public static func probe(clip: String, ffmpeg: String = FFmpegFrames.executable) throws -> (Int, Int) {
        guard FileManager.default.isReadableFile(atPath: clip) else {
            throw RunnerError.badInput("\(clip): no such video; give the plan's clip (an H.264 MP4/MOV file)")
        }
        let p = Process()
        let err = Pipe()
        p.executableURL = URL(fileURLWithPath: try resolve(ffmpeg))
        p.arguments = ["-nostdin", "-hide_banner", "-v", "info", "-i", clip, "-frames:v", "1", "-f", "rawvideo",
                       "-pix_fmt", "rgb24", "-y", "/dev/null"]
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        p.standardError = err
        do { try p.run() } catch {
            throw RunnerError.failure("cannot start \(ffmpeg) (\(error)); set VST_FFMPEG to an ffmpeg executable")
        }
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        if p.terminationStatus == 0, let size = outputSize(text) { return size }
        let said = text.split(separator: "\n").last.map(String.init) ?? "no video stream"
        throw RunnerError.badInput("\(clip) is not a readable video (ffmpeg: \(said)); give an H.264 MP4/MOV file")
    }

    /// "W x H" of the rawvideo stream in ffmpeg's "Output #0" section.
    static func outputSize(_ text: String) -> (Int, Int)? {
        guard let out = text.range(of: "Output #0") else { return nil }
        let rest = text[out.upperBound...]
        guard let line = rest.split(separator: "\n").first(where: { $0.contains("Video: rawvideo") }) else { return nil }
        for part in line.components(separatedBy: ", ") {
            let dims = part.split(separator: " ").first?.split(separator: "x") ?? []
            if dims.count == 2, let w = Int(dims[0]), let h = Int(dims[1]), w > 0, h > 0 { return (w, h) }
        }
        return nil
    }

    /// An executable path: as given when it names a file, else found on PATH.
    static func resolve(_ name: String) throws -> String {
        if name.contains("/") {
            if FileManager.default.isExecutableFile(atPath: name) { return name }
        } else {
            let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
            for dir in path.split(separator: ":") {
                let full = "\(dir)/\(name)"
                if FileManager.default.isExecutableFile(atPath: full) { return full }
            }
        }
        throw RunnerError.failure("ffmpeg not found (\(name)): set VST_FFMPEG to the ffmpeg of the imageio-ffmpeg "
                                  + "wheel (python -c \"import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())\")")
    }
}
#endif
