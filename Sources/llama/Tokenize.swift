import ArgumentParser
import Foundation
import Llama

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Turn text into token ids, or ids back into text.",
        discussion: """
        The tokenizer kind is detected from the file's content: a tiktoken or SentencePiece \
        tokenizer.model, a Hugging Face tokenizer.json (or a folder holding one), a GGUF file \
        (its embedded vocabulary), or a llama2.c tokenizer.bin. A tokenizer.json always matches \
        its added tokens, and without --no-bos adds what its post-processor adds.

        Examples:
          llama tokenize --tokenizer tokenizer.model "Hello world"
          llama tokenize --tokenizer model.gguf --pieces --file notes.txt
          llama tokenize --tokenizer hf-model/tokenizer.json --no-bos "Hello world"
          llama tokenize --tokenizer tokenizer.model --decode 128000 9906 1917
        """)

    @Option(name: .long, help: "Tokenizer file (tokenizer.model, tokenizer.json, GGUF or tokenizer.bin), or a folder with tokenizer.json.")
    var tokenizer: String

    @Flag(name: .long, help: "Do not put the BOS id first (nor what a tokenizer.json post-processor adds).")
    var noBos = false

    @Flag(name: .long, help: "Let special-token text (such as <|eot_id|>) become special ids.")
    var special = false

    @Flag(name: .long, help: "Print each id with its piece, one per line.")
    var pieces = false

    @Option(name: .long, help: "Read the text from this file (UTF-8) instead of the argument; - reads standard input.")
    var file: String?

    @Flag(name: .long, help: "Replace invalid UTF-8 in --file with U+FFFD instead of failing.")
    var lossy = false

    @Flag(name: .long, help: "Decode: the arguments are token ids; print the text.")
    var decode = false

    @Argument(help: "The text to tokenize, or the ids with --decode.")
    var input: [String] = []

    func validate() throws {
        if decode {
            guard file == nil else { throw ValidationError("--decode takes ids as arguments, not --file") }
            guard !input.isEmpty else { throw ValidationError("--decode needs at least one token id") }
        } else {
            if file != nil && !input.isEmpty {
                throw ValidationError("give the text as one argument or with --file, not both")
            }
            if file == nil && input.isEmpty {
                throw ValidationError("no text: give the text as an argument, or a file with --file")
            }
        }
    }

    func run() throws {
        let tok = try TokenizerLoader.load(path: tokenizer)
        if decode {
            var ids: [TokenID] = []
            for arg in input {
                for part in arg.split(whereSeparator: { $0 == " " || $0 == "," }) {
                    guard let id = TokenID(part) else {
                        throw CLIError("'\(part)' is not a token id (expected a non-negative integer)")
                    }
                    ids.append(id)
                }
            }
            let bytes = try tok.decodeBytes(ids)
            FileHandle.standardOutput.write(Data(bytes))
            FileHandle.standardOutput.write(Data("\n".utf8))
            return
        }
        let text: String
        if let file {
            text = try readText(file, lossy: lossy)
        } else {
            text = input.joined(separator: " ")
        }
        let ids = tok.encode(text, addBOS: !noBos && tok.addsBOSByDefault, allowSpecial: special)
        if pieces {
            var out = ""
            for id in ids {
                out += "\(id)\t\((tok.pieceDescription(of: id) ?? "").debugDescription)\n"
            }
            print(out, terminator: "")
        } else {
            print(ids.map(String.init).joined(separator: " "))
        }
    }
}

/// Reads a UTF-8 text file ("-" is standard input, so `llama template … | llama tokenize --file -`
/// works); invalid UTF-8 is an error naming the byte offset unless `lossy`.
func readText(_ path: String, lossy: Bool) throws -> String {
    let contents = path == "-" ? FileHandle.standardInput.readDataToEndOfFile() : FileManager.default.contents(atPath: path)
    guard let data = contents else {
        throw CLIError("\(path): cannot read the file")
    }
    if let s = String(validating: data, as: UTF8.self) { return s }
    if lossy { return String(decoding: data, as: UTF8.self) }
    let offset = firstInvalidUTF8Offset(data) ?? 0
    throw CLIError("\(path): invalid UTF-8 at byte offset \(offset) (use --lossy to replace invalid bytes with U+FFFD)")
}

func firstInvalidUTF8Offset(_ data: Data) -> Int? {
    let bytes = [UInt8](data)
    var consumed = 0
    while consumed < bytes.count {
        var it = bytes[consumed...].makeIterator()
        var decoder = UTF8()
        switch decoder.decode(&it) {
        case let .scalarValue(s): consumed += UTF8.width(s)
        case .error: return consumed
        case .emptyInput: return nil
        }
    }
    return nil
}

/// An error the CLI prints as one line.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}
