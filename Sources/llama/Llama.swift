import ArgumentParser
import Foundation
import Llama

@main
struct LlamaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "llama",
        abstract: "A LLaMA-family language-model engine: tokenize, run, inspect and train small LLMs on the CPU.",
        version: BuildInfo.summary,
        subcommands: [Tokenize.self, Generate.self, Inspect.self, Template.self, Chat.self, Serve.self, Bench.self, Quantize.self, TrainTokenizer.self, Prepare.self, Train.self, Export.self, Plot.self, MakeRandomModel.self]
    )

    /// Parses and runs, with two differences from ArgumentParser's default: `llama help X`
    /// for an X that is no subcommand is an error (not the top-level help with status 0), and a
    /// `ValidationError` thrown while a subcommand runs shows that subcommand's usage, not
    /// the top-level one.
    ///
    /// Under `mpirun`, ranks other than 0 write nothing, and only a `DistributedCommand`
    /// (`train`) runs on every rank; see `Job`.
    static func main() async {
        Job.silenceOtherRanks()
        let arguments = Array(CommandLine.arguments.dropFirst())
        if let unknown = unknownHelpTopic(arguments) {
            printError("Error: \(unknown)")
            Foundation.exit(64)
        }
        let command = parseOrExit(arguments)
        let commandType = type(of: command)
        Job.start(for: command)
        do {
            try await run(command)
        } catch let error as ValidationError {
            printError("Error: \(error.message)")
            printError("Usage: " + usageString(for: commandType).trimmingCharacters(in: .whitespacesAndNewlines))
            printError("  See 'llama help \(commandPath(commandType))' for more information.")
            Job.exit(64, sameOnEveryRank: true)
        } catch {
            if Job.communicator.size == 1 { exit(withError: error) }
            // Several ranks: say it once (see Job.reportError) and end the whole job.
            let code = exitCode(for: error).rawValue
            // An ExitCode is a decision every rank took together (train's interrupt): no abort.
            if error is ExitCode { Job.communicator.finalize(); Foundation.exit(code) }
            if code != 0 { Job.reportError(error) }
            Job.exit(code, sameOnEveryRank: (error as? DistributedError)?.isSameOnEveryRank ?? false)
        }
        Job.exit(0)
    }

    static func parseOrExit(_ arguments: [String]) -> ParsableCommand {
        do { return try parseAsRoot(arguments) } catch { exit(withError: error) }
    }

    /// For `llama help A B …`: a message when some name is no subcommand there.
    static func unknownHelpTopic(_ arguments: [String]) -> String? {
        guard arguments.first == "help" else { return nil }
        var command: ParsableCommand.Type = LlamaCommand.self
        for name in arguments.dropFirst() where !name.hasPrefix("-") {
            let subs = command.configuration.subcommands
            guard let sub = subs.first(where: { commandName($0) == name }) else {
                return "unknown subcommand '\(name)' (subcommands: \(subs.map { commandName($0) }.joined(separator: ", ")))"
            }
            command = sub
        }
        return nil
    }

    static func run(_ command: ParsableCommand) async throws {
        if var asyncCommand = command as? AsyncParsableCommand {
            try await asyncCommand.run()
        } else {
            var plain = command
            try plain.run()
        }
    }

    /// The name a subcommand is typed as (ArgumentParser's, derived from the type name when
    /// the configuration gives none).
    static func commandName<C: ParsableCommand>(_ command: C.Type) -> String {
        command._commandName
    }

    /// "bench model" for BenchModel: the names from the root down to `target`.
    static func commandPath(_ target: ParsableCommand.Type) -> String {
        func search(_ c: ParsableCommand.Type, _ path: [String]) -> [String]? {
            if c == target { return path }
            for sub in c.configuration.subcommands {
                if let found = search(sub, path + [commandName(sub)]) { return found }
            }
            return nil
        }
        return (search(LlamaCommand.self, []) ?? []).joined(separator: " ")
    }
}
