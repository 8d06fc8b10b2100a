import Foundation

/// A token id. Vocabularies here are at most a few hundred thousand entries.
public typealias TokenID = Int

/// What every tokenizer offers: text to ids, ids to bytes, and the special tokens.
///
/// `encode` never adds BOS; callers that want one use `encode(_:addBOS:allowSpecial:)`.
public protocol Tokenizer: Sendable {
    /// Number of ids, special tokens included.
    var vocabularySize: Int { get }
    /// Beginning-of-sequence id, if the vocabulary has one.
    var bosID: TokenID? { get }
    /// End-of-sequence id, if the vocabulary has one.
    var eosID: TokenID? { get }
    /// Ids that end a generation (EOS, and end-of-turn ids such as `<|eot_id|>`).
    var endOfGenerationIDs: Set<TokenID> { get }
    /// Special tokens by name, as the loaded file names them.
    var specialTokens: [String: TokenID] { get }
    /// Whether prompts start with BOS unless the user says otherwise (Qwen2 vocabularies don't).
    var addsBOSByDefault: Bool { get }
    /// The ids a default encode puts before and after the text: BOS first for most
    /// vocabularies; a `tokenizer.json` post-processor may add more (such as EOS after).
    var templateIDs: (prefix: [TokenID], suffix: [TokenID]) { get }

    /// Encodes text. Special-token text becomes special ids only when `allowSpecial` is true;
    /// otherwise it is tokenized as ordinary text.
    func encode(_ text: String, allowSpecial: Bool) -> [TokenID]

    /// The raw bytes of one id's piece as it appears in decoded text, or nil when out of range.
    /// `atStart` is true for the first id of a decoded sequence (SentencePiece drops the
    /// dummy-prefix space there).
    func decodedBytes(of id: TokenID, atStart: Bool) -> [UInt8]?

    /// A human-readable form of one id's piece (for `--pieces`), or nil when out of range.
    func pieceDescription(of id: TokenID) -> String?

    /// True for control tokens (BOS, EOS, …) that produce no text; the start of a decoded
    /// sequence lasts until the first id that is not one.
    func isControl(_ id: TokenID) -> Bool
}

public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    case idOutOfRange(id: TokenID, vocabularySize: Int)

    public var description: String {
        switch self {
        case let .idOutOfRange(id, size):
            return "token id \(id) is outside the vocabulary (valid ids: 0..<\(size))"
        }
    }
}

extension Tokenizer {
    public var addsBOSByDefault: Bool { bosID != nil }
    public func isControl(_ id: TokenID) -> Bool { false }
    public var templateIDs: (prefix: [TokenID], suffix: [TokenID]) { (bosID.map { [$0] } ?? [], []) }

    /// Encodes text, with the template's ids around it (BOS first) when asked.
    public func encode(_ text: String, addBOS: Bool, allowSpecial: Bool = false) -> [TokenID] {
        var ids: [TokenID] = []
        let template: (prefix: [TokenID], suffix: [TokenID]) = addBOS ? templateIDs : ([], [])
        ids.append(contentsOf: template.prefix)
        ids.append(contentsOf: encode(text, allowSpecial: allowSpecial))
        ids.append(contentsOf: template.suffix)
        return ids
    }

    /// Decodes ids into bytes; throws for an id outside the vocabulary.
    public func decodeBytes(_ ids: [TokenID]) throws -> [UInt8] {
        var out: [UInt8] = []
        var atStart = true
        for id in ids {
            // SentencePiece drops the dummy-prefix space of the first piece that is not a
            // control token, so "start" lasts through a leading BOS.
            guard let bytes = decodedBytes(of: id, atStart: atStart) else {
                throw TokenizerError.idOutOfRange(id: id, vocabularySize: vocabularySize)
            }
            if !isControl(id) { atStart = false }
            out.append(contentsOf: bytes)
        }
        return out
    }

    /// Decodes ids into text. Byte sequences that are not valid UTF-8 become U+FFFD.
    public func decode(_ ids: [TokenID]) throws -> String {
        String(decoding: try decodeBytes(ids), as: UTF8.self)
    }
}
