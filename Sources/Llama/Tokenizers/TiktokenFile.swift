import Foundation

// Meta's tiktoken `tokenizer.model`: one token per line, `base64(bytes) SP rank LF`.
// Ranks are the ids of the ordinary tokens, and their merge priority. Special tokens are not
// in the file: Llama 3 puts 256 of them right after the 128 000 ranks; a file we trained
// ourselves (any other size) has two, BOS then EOS.

public enum TiktokenFileError: Error, CustomStringConvertible {
    case malformedLine(path: String, line: Int, reason: String)
    case duplicateRank(path: String, line: Int, rank: Int)
    case duplicateToken(path: String, line: Int)
    case missingByte(path: String, byte: UInt8)
    case empty(path: String)
    case rankGap(path: String, missing: Int, count: Int)

    public var description: String {
        switch self {
        case let .malformedLine(path, line, reason):
            return "\(path): line \(line): \(reason) (expected \"<base64 token> <rank>\")"
        case let .duplicateRank(path, line, rank): return "\(path): line \(line): rank \(rank) appears twice"
        case let .duplicateToken(path, line): return "\(path): line \(line): token bytes appear twice"
        case let .missingByte(path, byte): return "\(path): no token for the single byte 0x\(String(byte, radix: 16)); byte-level BPE needs all 256"
        case let .empty(path): return "\(path): no tokens"
        case let .rankGap(path, missing, count): return "\(path): ranks must run from 0 to \(count - 1) without gaps; rank \(missing) is missing"
        }
    }
}

public enum TiktokenFile {
    /// Meta's Llama 3 special tokens, ids 128000…128255, as its current tokenizer names them.
    public static let llama3SpecialTokens: [String] = {
        var names = [
            "<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
            "<|finetune_right_pad_id|>", "<|step_id|>", "<|start_header_id|>", "<|end_header_id|>",
            "<|eom_id|>", "<|eot_id|>", "<|python_tag|>", "<|image|>",
        ]
        for i in 2...245 { names.append("<|reserved_special_token_\(i)|>") }
        return names
    }()

    /// True when the bytes start like a tiktoken file: base64 characters, a space, digits.
    public static func looksLikeTiktoken(_ prefix: some Collection<UInt8>) -> Bool {
        var sawBase64 = false
        var sawSpace = false
        var sawDigit = false
        for b in prefix {
            if !sawSpace {
                if b == UInt8(ascii: " ") { sawSpace = true; continue }
                let ok = (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || (b >= 48 && b <= 57) || b == 43 || b == 47 || b == 61
                guard ok else { return false }
                sawBase64 = true
            } else {
                if b == 10 || b == 13 { return sawBase64 && sawDigit }
                guard b >= 48 && b <= 57 else { return false }
                sawDigit = true
            }
        }
        return sawBase64 && sawDigit
    }

    /// Reads a tiktoken file into a Llama 3-style tokenizer.
    public static func load(path: String) throws -> ByteLevelBPETokenizer {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) } catch {
            throw FileError.cannotOpen(path: path, reason: error.localizedDescription)
        }
        return try parse(data, path: path)
    }

    public static func parse(_ data: Data, path: String) throws -> ByteLevelBPETokenizer {
        var ranked: [(bytes: [UInt8], rank: Int)] = []
        var lineNo = 0
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let bytes = raw.bindMemory(to: UInt8.self)
            var i = 0
            let n = bytes.count
            while i < n {
                var j = i
                while j < n && bytes[j] != 10 { j += 1 }
                lineNo += 1
                var end = j
                if end > i && bytes[end - 1] == 13 { end -= 1 }
                if end > i {
                    let line = UnsafeBufferPointer(rebasing: bytes[i..<end])
                    guard let sp = line.firstIndex(of: 32) else {
                        throw TiktokenFileError.malformedLine(path: path, line: lineNo, reason: "no space")
                    }
                    guard let token = Data(base64Encoded: Data(UnsafeBufferPointer(rebasing: line[..<sp]))) else {
                        throw TiktokenFileError.malformedLine(path: path, line: lineNo, reason: "token is not valid base64")
                    }
                    guard let rankText = String(validating: UnsafeBufferPointer(rebasing: line[(sp + 1)...]), as: UTF8.self),
                          let rank = Int(rankText), rank >= 0, rank < 1 << 24 else {
                        throw TiktokenFileError.malformedLine(path: path, line: lineNo, reason: "rank is not an integer in 0..<16777216")
                    }
                    guard !token.isEmpty else {
                        throw TiktokenFileError.malformedLine(path: path, line: lineNo, reason: "empty token")
                    }
                    ranked.append((Array(token), rank))
                }
                i = j + 1
            }
        }
        guard !ranked.isEmpty else { throw TiktokenFileError.empty(path: path) }
        let baseCount = (ranked.map(\.rank).max() ?? 0) + 1
        // Ranks are ids: a gap would be an id with no bytes. Real files are dense.
        guard baseCount <= ranked.count else {
            var seen = [Bool](repeating: false, count: baseCount)
            for r in ranked { seen[r.rank] = true }
            throw TiktokenFileError.rankGap(path: path, missing: seen.firstIndex(of: false) ?? 0, count: baseCount)
        }
        var pieces = [[UInt8]](repeating: [], count: baseCount)
        var present = [Bool](repeating: false, count: baseCount)
        var table = ByteStringTable(capacity: ranked.count)
        for (line, entry) in ranked.enumerated() {
            guard !present[entry.rank] else { throw TiktokenFileError.duplicateRank(path: path, line: line + 1, rank: entry.rank) }
            present[entry.rank] = true
            pieces[entry.rank] = entry.bytes
            guard table.insert(entry.bytes, value: Int32(entry.rank)) else {
                throw TiktokenFileError.duplicateToken(path: path, line: line + 1)
            }
        }
        var byteIDs = [Int32](repeating: -1, count: 256)
        for b in 0..<256 {
            guard let id = table.lookupArray([UInt8(b)]) else { throw TiktokenFileError.missingByte(path: path, byte: UInt8(b)) }
            byteIDs[b] = id
        }
        let specialNames = baseCount == 128_000 ? llama3SpecialTokens : ["<|begin_of_text|>", "<|end_of_text|>"]
        var specials: [ByteLevelBPETokenizer.SpecialToken] = []
        var isSpecial = [Bool](repeating: false, count: baseCount)
        for (k, name) in specialNames.enumerated() {
            specials.append(.init(text: name, id: baseCount + k, alwaysMatched: false))
            pieces.append(Array(name.utf8))
            isSpecial.append(true)
        }
        let bos = baseCount
        let eos = baseCount + 1
        var ends: Set<TokenID> = [eos]
        if baseCount == 128_000 {
            ends.insert(128_008)  // <|eom_id|>
            ends.insert(128_009)  // <|eot_id|>
        }
        return ByteLevelBPETokenizer(
            pieces: pieces, isSpecial: isSpecial, table: table, mode: .byConcatenation, byteIDs: byteIDs,
            specials: specials, bosID: bos, eosID: eos, endOfGeneration: ends,
            preTokenizer: PreTokenizer(.llama3), wholePieceShortcut: true)
    }
}
