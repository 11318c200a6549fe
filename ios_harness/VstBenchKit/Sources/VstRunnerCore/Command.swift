import Foundation

/// What went wrong, and whose fault it was: the runner exits 2 for bad input (a missing file, wrong sizes, a plan
/// it cannot run) and 1 for its own or LiteRT's failures; either way with one line on stderr.
public enum RunnerError: Error, CustomStringConvertible, Equatable {
    case badInput(String)
    case failure(String)

    public var description: String {
        switch self {
        case .badInput(let m), .failure(let m): return m
        }
    }

    public var exitCode: Int32 {
        switch self {
        case .badInput: return 2
        case .failure: return 1
        }
    }
}

/// vst-runner's command line, the same as the Kotlin runner's (bench/drivers_native.py calls both alike).
public enum Command: Equatable {
    /// Execute one vst-bench plan and write its result.
    case run(plan: String, result: String)
    /// Run a model on raw inputs: how vst proves the runner's numerics against its Python runtimes.
    case infer(Infer)
    case help

    public struct Infer: Equatable {
        public enum Source: Equatable {
            /// k raw input tensors back to back, the model's input bytes each
            case tensors(String)
            /// k RGB uint8 frames of width x height, prepared as vst_prepare does
            case frames(String, width: Int, height: Int)
        }
        public var model: String
        public var accelerator: String
        public var threads: Int
        public var source: Source
        public var output: String

        public init(model: String, accelerator: String = "cpu", threads: Int = 0, source: Source, output: String) {
            self.model = model; self.accelerator = accelerator; self.threads = threads
            self.source = source; self.output = output
        }
    }

    public static let usage = """
        usage: vst-runner run --plan PLAN.json --result RESULT.json
               vst-runner infer --model M.tflite [--accelerator cpu|gpu] [--threads N]
                                (--input X.bin | --frames RGB.bin --frame-size WxH) --output Y.bin
        """

    /// The command in `args` (without the program name); a usage mistake throws badInput naming it.
    public static func parse(_ args: [String]) throws -> Command {
        guard let verb = args.first else { throw RunnerError.badInput("no command; " + oneLineUsage) }
        if ["-h", "--help", "help"].contains(verb) { return .help }
        let options = try pairs(Array(args.dropFirst()), verb: verb)
        switch verb {
        case "run":
            try allow(options, ["--plan", "--result"], verb: verb)
            return .run(plan: try need(options, "--plan", verb), result: try need(options, "--result", verb))
        case "infer":
            try allow(options, ["--model", "--accelerator", "--threads", "--input", "--frames", "--frame-size",
                                "--output"], verb: verb)
            let accelerator = options["--accelerator"] ?? "cpu"
            if !["cpu", "gpu"].contains(accelerator) {
                throw RunnerError.badInput("--accelerator \(accelerator): give cpu (XNNPACK) or gpu")
            }
            var threads = 0
            if let t = options["--threads"] {
                guard let n = Int(t), n >= 0 else {
                    throw RunnerError.badInput("--threads \(t): give a whole number, 0 for LiteRT's default")
                }
                threads = n
            }
            let source: Infer.Source
            switch (options["--input"], options["--frames"]) {
            case (let x?, nil):
                if options["--frame-size"] != nil {
                    throw RunnerError.badInput("--frame-size goes with --frames, not --input")
                }
                source = .tensors(x)
            case (nil, let f?):
                let (w, h) = try frameSize(try need(options, "--frame-size", verb))
                source = .frames(f, width: w, height: h)
            case (nil, nil):
                throw RunnerError.badInput("infer needs --input X.bin (model inputs) or --frames RGB.bin "
                                           + "--frame-size WxH (RGB frames)")
            default:
                throw RunnerError.badInput("give --input or --frames, not both")
            }
            return .infer(Infer(model: try need(options, "--model", verb), accelerator: accelerator,
                                threads: threads, source: source, output: try need(options, "--output", verb)))
        default:
            throw RunnerError.badInput("unknown command \(verb); " + oneLineUsage)
        }
    }

    static let oneLineUsage = "give run --plan PLAN.json --result RESULT.json, or infer (see vst-runner --help)"

    static func pairs(_ args: [String], verb: String) throws -> [String: String] {
        var out: [String: String] = [:]
        var i = 0
        while i < args.count {
            let key = args[i]
            guard key.hasPrefix("--") else { throw RunnerError.badInput("\(verb): unexpected argument \(key)") }
            guard i + 1 < args.count, !args[i + 1].hasPrefix("--") else {
                throw RunnerError.badInput("\(verb): \(key) needs a value")
            }
            if out[key] != nil { throw RunnerError.badInput("\(verb): \(key) is given twice") }
            out[key] = args[i + 1]
            i += 2
        }
        return out
    }

    static func allow(_ options: [String: String], _ known: [String], verb: String) throws {
        if let bad = options.keys.sorted().first(where: { !known.contains($0) }) {
            throw RunnerError.badInput("\(verb) takes no \(bad) (it takes \(known.joined(separator: ", ")))")
        }
    }

    static func need(_ options: [String: String], _ key: String, _ verb: String) throws -> String {
        guard let v = options[key], !v.isEmpty else { throw RunnerError.badInput("\(verb) needs \(key)") }
        return v
    }

    /// "WxH" with both sides positive.
    public static func frameSize(_ text: String) throws -> (Int, Int) {
        let parts = text.lowercased().split(separator: "x", omittingEmptySubsequences: false)
        guard parts.count == 2, let w = Int(parts[0]), let h = Int(parts[1]), w > 0, h > 0 else {
            throw RunnerError.badInput("--frame-size \(text): give WIDTHxHEIGHT, e.g. 640x480")
        }
        return (w, h)
    }
}
