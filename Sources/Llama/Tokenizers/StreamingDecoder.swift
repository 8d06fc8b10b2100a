/// Turns ids into text one at a time without ever emitting half a UTF-8 character.
///
/// Bytes that end in an incomplete sequence are held back until the next id completes
/// them; bytes that can never become valid UTF-8 are emitted as U+FFFD.
public struct StreamingDecoder {
    private let tokenizer: any Tokenizer
    private var pending: [UInt8] = []
    private var atStart = true

    public init(tokenizer: any Tokenizer) {
        self.tokenizer = tokenizer
    }

    /// Adds one id and returns the text that is now complete (possibly empty).
    public mutating func append(_ id: TokenID) throws -> String {
        guard let bytes = tokenizer.decodedBytes(of: id, atStart: atStart) else {
            throw TokenizerError.idOutOfRange(id: id, vocabularySize: tokenizer.vocabularySize)
        }
        if !tokenizer.isControl(id) { atStart = false }
        pending.append(contentsOf: bytes)
        let complete = StreamingDecoder.completePrefixLength(pending)
        guard complete > 0 else { return "" }
        let text = String(decoding: pending[0..<complete], as: UTF8.self)
        pending.removeFirst(complete)
        return text
    }

    /// Whatever is still held back, with incomplete sequences as U+FFFD.
    public mutating func flush() -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }

    /// Length of the longest prefix that does not end inside a UTF-8 sequence that could
    /// still be completed by more bytes.
    static func completePrefixLength(_ bytes: [UInt8]) -> Int {
        let n = bytes.count
        // A UTF-8 sequence is at most 4 bytes: look back at most 3 for a lead byte.
        var i = n - 1
        var back = 0
        while i >= 0 && back < 4 {
            let b = bytes[i]
            if b & 0xC0 != 0x80 {
                let need: Int
                if b < 0x80 { need = 1 } else if b & 0xE0 == 0xC0 { need = 2 }
                else if b & 0xF0 == 0xE0 { need = 3 } else if b & 0xF8 == 0xF0 { need = 4 } else { need = 1 }
                let have = n - i
                return have < need ? i : n
            }
            i -= 1
            back += 1
        }
        return n
    }
}
