import ArgumentParser
import Foundation
import Llama

struct Plot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw a training run's loss curve (train and validation loss vs step) as a PNG.",
        discussion: """
        Reads RUN/log.csv as written by `llama train` and writes RUN/loss.png (or --out FILE), \
        replacing it atomically so a viewer never sees a half-written image. Prints the path. \
        The chart is titled with the run directory's name; loss is in nats per token.

        Example: llama plot runs/shakespeare
        """)

    // Not named `run`: that would clash with ParsableCommand's run().
    @Argument(help: ArgumentHelp("Run directory written by `llama train`.", valueName: "run"))
    var runDirectory: String
    @Option(name: .long, help: "Output PNG (default: RUN/loss.png).")
    var out: String?
    @Option(name: .long, help: "Title above the chart (default: the run directory's name).")
    var title: String?
    @Option(name: .long, help: "Image width in pixels.")
    var width: Int = 800
    @Option(name: .long, help: "Image height in pixels.")
    var height: Int = 500

    func validate() throws {
        guard (LossPlot.minWidth...PNG.maxSide).contains(width) else {
            throw ValidationError("--width must be \(LossPlot.minWidth)...\(PNG.maxSide)")
        }
        guard (LossPlot.minHeight...PNG.maxSide).contains(height) else {
            throw ValidationError("--height must be \(LossPlot.minHeight)...\(PNG.maxSide)")
        }
    }

    func run() throws {
        // "runs/x/" and "runs/x" name one run: join paths without doubling the slash.
        let dir = runDirectory.count > 1 && runDirectory.hasSuffix("/") ? String(runDirectory.dropLast()) : runDirectory
        let logPath = dir + "/log.csv"
        guard let data = FileManager.default.contents(atPath: logPath) else {
            throw ValidationError("\(logPath): cannot read the training log (is \(runDirectory) a `llama train` run directory?)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ValidationError("\(logPath): not UTF-8 text")
        }
        let runName = URL(fileURLWithPath: runDirectory).standardizedFileURL.lastPathComponent
        let png = try LossPlot.render(text, file: logPath, title: title ?? runName, width: width, height: height)
        let outPath = out ?? dir + "/loss.png"
        try AtomicFile.write(Data(png), to: outPath)
        print(outPath)
    }
}
