import AVFoundation
import Accelerate
import CoreVideo
import VstBenchKit

/// H.264 decode with AVAssetReader (VideoToolbox, hardware) to BGRA: full-size RGB for LiteRT plans (vst_prepare
/// scales and crops), and for Core ML the resize step, scale to cover the input size and centre-crop, like
/// vst.common.images.resize_cover on the host.
enum VideoFrames {
    static func open(_ url: URL) throws -> BenchRunner<CVPixelBuffer, CVPixelBuffer>.NextFrame {
        let asset = AVURLAsset(url: url)
        guard let track = asset.tracks(withMediaType: .video).first else {
            throw BenchError.noFrames("\(url.lastPathComponent) has no video track")
        }
        let reader = try AVAssetReader(asset: asset)
        let output = AVAssetReaderTrackOutput(track: track, outputSettings: [
            kCVPixelBufferPixelFormatTypeKey as String: kCVPixelFormatType_32BGRA])
        output.alwaysCopiesSampleData = false
        reader.add(output)
        guard reader.startReading() else {
            throw BenchError.noFrames("cannot read \(url.lastPathComponent): \(String(describing: reader.error))")
        }
        return {
            // the reader is captured so it lives as long as frames are pulled
            guard reader.status == .reading, let sample = output.copyNextSampleBuffer() else { return nil }
            return CMSampleBufferGetImageBuffer(sample)
        }
    }

    /// The size of the frames `open` gives (the track's natural size; a rotated clip is measured unrotated).
    static func size(_ url: URL) throws -> (Int, Int) {
        guard let track = AVURLAsset(url: url).tracks(withMediaType: .video).first else {
            throw BenchError.noFrames("\(url.lastPathComponent) has no video track")
        }
        return (Int(track.naturalSize.width), Int(track.naturalSize.height))
    }

    /// A decoded BGRA frame as packed RGB for vst_prepare (VstBenchKit's Frames.rgb, tested on Linux).
    static func rgb(_ pb: CVPixelBuffer) -> [UInt8] {
        CVPixelBufferLockBaseAddress(pb, .readOnly)
        defer { CVPixelBufferUnlockBaseAddress(pb, .readOnly) }
        return Frames.rgb(fromBGRA: CVPixelBufferGetBaseAddress(pb)!, width: CVPixelBufferGetWidth(pb),
                          height: CVPixelBufferGetHeight(pb), rowBytes: CVPixelBufferGetBytesPerRow(pb))
    }

    static func makeBuffer(width: Int, height: Int) throws -> CVPixelBuffer {
        var pb: CVPixelBuffer?
        let attrs = [kCVPixelBufferIOSurfacePropertiesKey as String: [:] as [String: Any]] as CFDictionary
        guard CVPixelBufferCreate(nil, width, height, kCVPixelFormatType_32BGRA, attrs, &pb) == kCVReturnSuccess,
              let out = pb else { throw BenchError.runtime("cannot allocate a \(width)x\(height) pixel buffer") }
        return out
    }

    /// Scale-to-cover then centre-crop into a new BGRA buffer of the model's input size.
    static func resize(_ src: CVPixelBuffer, width: Int, height: Int) throws -> CVPixelBuffer {
        let dst = try makeBuffer(width: width, height: height)
        CVPixelBufferLockBaseAddress(src, .readOnly)
        CVPixelBufferLockBaseAddress(dst, [])
        defer {
            CVPixelBufferUnlockBaseAddress(dst, [])
            CVPixelBufferUnlockBaseAddress(src, .readOnly)
        }
        let sw = CVPixelBufferGetWidth(src), sh = CVPixelBufferGetHeight(src)
        let (x0, y0, cw, ch) = Frames.coverCrop(sourceWidth: sw, sourceHeight: sh, width: width, height: height)
        let srcRow = CVPixelBufferGetBytesPerRow(src)
        var inBuf = vImage_Buffer(data: CVPixelBufferGetBaseAddress(src)! + y0 * srcRow + x0 * 4,
                                  height: vImagePixelCount(ch), width: vImagePixelCount(cw), rowBytes: srcRow)
        var outBuf = vImage_Buffer(data: CVPixelBufferGetBaseAddress(dst)!, height: vImagePixelCount(height),
                                   width: vImagePixelCount(width), rowBytes: CVPixelBufferGetBytesPerRow(dst))
        let err = vImageScale_ARGB8888(&inBuf, &outBuf, nil, vImage_Flags(kvImageHighQualityResampling))
        if err != kvImageNoError { throw BenchError.runtime("vImageScale failed (\(err))") }
        return dst
    }
}
