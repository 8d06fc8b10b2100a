/// Splits text into the pieces that byte-level BPE encodes independently.
///
/// Llama 3 (tiktoken) uses this pattern, tried alternative by alternative at each position:
///
///     (?i:'s|'t|'re|'ve|'m|'ll|'d)          contractions
///     [^\r\n\p{L}\p{N}]?\p{L}+              a word, with one leading non-letter
///     \p{N}{1,3}                            up to three digits
///      ?[^\s\p{L}\p{N}]+[\r\n]*             punctuation run, with one leading space
///     \s*[\r\n]+                            whitespace ending in newlines
///     \s+(?!\S)                             whitespace not followed by a non-space
///     \s+                                   any other whitespace
///
/// Qwen2 is the same with single digits (`\p{N}`) and ASCII-only case folding.
/// For these two a hand-written matcher walks the UTF-8 bytes once, with a class table for
/// ASCII and the Basic Multilingual Plane. Every other pattern (the other llama.cpp
/// pre-tokenizers, `tokenizer.json` Split steps) runs on `SplitRegex`, as a list of steps.
public struct PreTokenizer: Sendable {
    public enum Kind: String, Sendable {
        case llama3
        case qwen2
    }

    /// What a split step does with the text its pattern matched (Hugging Face's
    /// `SplitDelimiterBehavior`); llama.cpp's lists always isolate.
    public enum SplitBehavior: String, Sendable {
        /// Matches and the text between them each become a piece.
        case isolated = "Isolated"
        /// Matches are dropped.
        case removed = "Removed"
        /// Each match joins the piece before it.
        case mergedWithPrevious = "MergedWithPrevious"
        /// Each match joins the piece after it.
        case mergedWithNext = "MergedWithNext"
        /// Adjacent matches form one piece.
        case contiguous = "Contiguous"
    }

    /// One split step: every piece so far is split by `regex`; with `invert` the text between
    /// matches plays the part of the matches.
    public struct Step: Sendable {
        public let regex: SplitRegex
        public let behavior: SplitBehavior
        public let invert: Bool

        public init(_ regex: SplitRegex, behavior: SplitBehavior = .isolated, invert: Bool = false) {
            self.regex = regex
            self.behavior = behavior
            self.invert = invert
        }
    }

    enum Implementation: Sendable {
        /// The hand-written matcher below (Llama 3 / Qwen2 pattern), fastest.
        case fast(Kind)
        /// Regex steps in sequence, each splitting the pieces of the one before.
        case steps([Step])
    }

    /// Set for the two patterns of the hand-written matcher, nil for regex steps.
    public let kind: Kind?
    /// A short name for messages (the llama.cpp name, or "regex").
    public let name: String
    let implementation: Implementation
    let maxDigits: Int

    public init(_ kind: Kind) {
        self.kind = kind
        name = kind.rawValue
        implementation = .fast(kind)
        maxDigits = kind == .qwen2 ? 1 : 3
    }

    /// A pre-tokenizer of regex steps run in sequence (each splits every piece of the previous
    /// one; no step sees text across a piece boundary). No steps: the text is one piece.
    public init(steps: [Step], name: String = "regex") {
        kind = nil
        self.name = name
        implementation = .steps(steps)
        maxDigits = 3
    }
    // Character classes, as bit flags.
    static let letter: UInt8 = 1
    static let number: UInt8 = 2
    static let space: UInt8 = 4      // Unicode White_Space
    static let newline: UInt8 = 8    // \r or \n

    /// Classes of every BMP scalar, computed once from the Unicode tables Swift ships.
    static let bmpClasses: [UInt8] = {
        var t = [UInt8](repeating: 0, count: 0x10000)
        for v in 0..<0x10000 {
            guard let s = Unicode.Scalar(UInt32(v)) else { continue }  // surrogates
            t[v] = classify(s)
        }
        return t
    }()

    static func classify(_ s: Unicode.Scalar) -> UInt8 {
        if s == "\r" || s == "\n" { return space | newline }
        let p = s.properties
        if p.isWhitespace { return space }
        switch p.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return letter
        case .decimalNumber, .letterNumber, .otherNumber:
            return number
        default:
            return 0
        }
    }

    /// Calls `body(start, end)` for each piece of `text`, in order; the pieces cover the text.
    /// `text` must be valid UTF-8.
    public func split(_ text: UnsafeBufferPointer<UInt8>, _ body: (Int, Int) -> Void) {
        guard case let .fast(kind) = implementation else {
            if case let .steps(steps) = implementation { RegexSplitter.split(text, steps: steps, body) }
            return
        }
        PreTokenizer.bmpClasses.withUnsafeBufferPointer { table in
            let m = Matcher(bytes: text, table: table, maxDigits: maxDigits, foldLongS: kind == .llama3)
            var p = 0
            let n = text.count
            while p < n {
                let e = m.pieceEnd(at: p)
                body(p, e)
                p = e
            }
        }
    }

    /// Pieces as strings (for tests and `--pieces` style output).
    public func split(_ text: String) -> [String] {
        var t = text
        return t.withUTF8 { buf in
            var out: [String] = []
            split(buf) { s, e in out.append(String(decoding: UnsafeBufferPointer(rebasing: buf[s..<e]), as: UTF8.self)) }
            return out
        }
    }
}

/// The matching state over one text.
private struct Matcher {
    let bytes: UnsafeBufferPointer<UInt8>
    let table: UnsafeBufferPointer<UInt8>
    let maxDigits: Int
    let foldLongS: Bool

    /// Decodes the scalar at `p`: (value, byte length). Input is valid UTF-8.
    @inline(__always)
    func scalar(at p: Int) -> (UInt32, Int) {
        let b0 = UInt32(bytes[p])
        if b0 < 0x80 { return (b0, 1) }
        if b0 < 0xE0 { return ((b0 & 0x1F) << 6 | UInt32(bytes[p + 1] & 0x3F), 2) }
        if b0 < 0xF0 {
            return ((b0 & 0x0F) << 12 | UInt32(bytes[p + 1] & 0x3F) << 6 | UInt32(bytes[p + 2] & 0x3F), 3)
        }
        return ((b0 & 0x07) << 18 | UInt32(bytes[p + 1] & 0x3F) << 12 | UInt32(bytes[p + 2] & 0x3F) << 6
                | UInt32(bytes[p + 3] & 0x3F), 4)
    }

    @inline(__always)
    func classOf(_ v: UInt32) -> UInt8 {
        if v < 0x10000 { return table[Int(v)] }
        guard let s = Unicode.Scalar(v) else { return 0 }
        return PreTokenizer.classify(s)
    }

    /// Class and length of the scalar at `p`, or (0xFF, 0) at the end of the text.
    @inline(__always)
    func classAt(_ p: Int) -> (UInt8, Int) {
        if p >= bytes.count { return (0xFF, 0) }
        let b = bytes[p]
        if b < 0x80 { return (table[Int(b)], 1) }
        let (v, len) = scalar(at: p)
        return (classOf(v), len)
    }

    @inline(__always)
    func lowerASCII(at p: Int) -> UInt8 {
        p < bytes.count ? bytes[p] | 0x20 : 0
    }

    /// End of a contraction starting at the apostrophe at `p`, or nil.
    func contractionEnd(at p: Int) -> Int? {
        let q = p + 1
        guard q < bytes.count else { return nil }
        let c = lowerASCII(at: q)
        switch c {
        case UInt8(ascii: "s"), UInt8(ascii: "t"), UInt8(ascii: "m"), UInt8(ascii: "d"):
            if bytes[q] & 0x80 == 0 { return q + 1 }
        case UInt8(ascii: "r"), UInt8(ascii: "v"):
            if bytes[q] & 0x80 == 0 && lowerASCII(at: q + 1) == UInt8(ascii: "e") && bytes[q + 1] & 0x80 == 0 { return q + 2 }
        case UInt8(ascii: "l"):
            if bytes[q] & 0x80 == 0 && lowerASCII(at: q + 1) == UInt8(ascii: "l") && bytes[q + 1] & 0x80 == 0 { return q + 2 }
        default:
            break
        }
        // (?i) folds U+017F LATIN SMALL LETTER LONG S to s (UTF-8 C5 BF).
        if foldLongS && q + 1 < bytes.count && bytes[q] == 0xC5 && bytes[q + 1] == 0xBF { return q + 2 }
        return nil
    }

    func pieceEnd(at p: Int) -> Int {
        let n = bytes.count
        let (c0, l0) = classAt(p)
        // 1. contractions
        if bytes[p] == UInt8(ascii: "'"), let e = contractionEnd(at: p) { return e }
        // 2. [^\r\n\p{L}\p{N}]?\p{L}+
        var wordStart = -1
        if c0 & PreTokenizer.letter != 0 {
            wordStart = p
        } else if c0 & (PreTokenizer.newline | PreTokenizer.number) == 0 {
            let (c1, _) = classAt(p + l0)
            if c1 != 0xFF && c1 & PreTokenizer.letter != 0 { wordStart = p + l0 }
        }
        if wordStart >= 0 {
            var q = wordStart
            while q < n {
                let (c, l) = classAt(q)
                if c & PreTokenizer.letter == 0 { break }
                q += l
            }
            return q
        }
        // 3. \p{N}{1,maxDigits}
        if c0 & PreTokenizer.number != 0 {
            var q = p + l0
            var k = 1
            while k < maxDigits && q < n {
                let (c, l) = classAt(q)
                if c & PreTokenizer.number == 0 { break }
                q += l
                k += 1
            }
            return q
        }
        // 4.  ?[^\s\p{L}\p{N}]+[\r\n]*
        var punctStart = -1
        if c0 == 0 {
            punctStart = p
        } else if bytes[p] == UInt8(ascii: " ") {
            let (c1, _) = classAt(p + 1)
            if c1 == 0 { punctStart = p + 1 }
        }
        if punctStart >= 0 {
            var q = punctStart
            while q < n {
                let (c, l) = classAt(q)
                if c != 0 { break }
                q += l
            }
            while q < n && (bytes[q] == 13 || bytes[q] == 10) { q += 1 }
            return q
        }
        // c0 is whitespace. Find the run and the last newline in it.
        var q = p
        var lastNewlineEnd = -1
        var lastScalarStart = p
        while q < n {
            let (c, l) = classAt(q)
            if c & PreTokenizer.space == 0 { break }
            if c & PreTokenizer.newline != 0 { lastNewlineEnd = q + l }
            lastScalarStart = q
            q += l
        }
        // 5. \s*[\r\n]+
        if lastNewlineEnd >= 0 { return lastNewlineEnd }
        // 6. \s+(?!\S): all of it at the end of text, else all but the last scalar.
        if q >= n { return q }
        if lastScalarStart > p { return lastScalarStart }
        // 7. \s+
        return q
    }
}

/// Runs regex steps over a text: the pieces of each step are split by the next.
enum RegexSplitter {
    static func split(_ text: UnsafeBufferPointer<UInt8>, steps: [PreTokenizer.Step], _ body: (Int, Int) -> Void) {
        guard !text.isEmpty else { return }
        // Scalars, their properties and their byte offsets (offsets[n] == text.count).
        var scalars: [UInt32] = []
        var offsets: [Int] = []
        scalars.reserveCapacity(text.count)
        offsets.reserveCapacity(text.count + 1)
        var it = text.makeIterator()
        var decoder = UTF8()
        var at = 0
        while case let .scalarValue(s) = decoder.decode(&it) {
            scalars.append(s.value)
            offsets.append(at)
            at += UTF8.width(s)
        }
        offsets.append(at)
        let props = scalars.map { ScalarProperties.of($0) }
        var pieces: [(Int, Int)] = [(0, scalars.count)]
        var stack: [(Int, Int)] = []
        scalars.withUnsafeBufferPointer { sc in
            props.withUnsafeBufferPointer { pr in
                for step in steps {
                    var next: [(Int, Int)] = []
                    next.reserveCapacity(pieces.count * 2)
                    for (a, b) in pieces {
                        splitPiece(a, b, step, sc, pr, &stack, &next)
                    }
                    pieces = next
                }
            }
        }
        for (a, b) in pieces where b > a { body(offsets[a], offsets[b]) }
    }

    /// Splits scalars `a..<b` by one step, appending the resulting pieces to `out`.
    static func splitPiece(_ a: Int, _ b: Int, _ step: PreTokenizer.Step, _ text: UnsafeBufferPointer<UInt32>,
                           _ props: UnsafeBufferPointer<UInt8>, _ stack: inout [(Int, Int)], _ out: inout [(Int, Int)]) {
        // Segments covering the piece: (start, end, isMatch).
        var segments: [(Int, Int, Bool)] = []
        var pos = a
        var gapStart = a
        while pos < b {
            if let e = step.regex.matchEnd(text, props, from: a, to: b, at: pos, stack: &stack), e > pos {
                if gapStart < pos { segments.append((gapStart, pos, false)) }
                segments.append((pos, e, true))
                pos = e
                gapStart = e
            } else {
                pos += 1
            }
        }
        if gapStart < b { segments.append((gapStart, b, false)) }
        if step.invert { segments = segments.map { ($0.0, $0.1, !$0.2) } }
        switch step.behavior {
        case .isolated:
            for s in segments { out.append((s.0, s.1)) }
        case .removed:
            for s in segments where !s.2 { out.append((s.0, s.1)) }
        case .mergedWithPrevious:
            var start = -1
            for s in segments {
                if start < 0 { start = s.0 }
                if s.2 { out.append((start, s.1)); start = -1 }
            }
            if start >= 0 { out.append((start, b)) }
        case .mergedWithNext:
            var start = -1
            for s in segments {
                if s.2 {
                    if start >= 0 { out.append((start, s.0)) }
                    start = s.0
                } else if start < 0 {
                    start = s.0
                }
            }
            if start >= 0 { out.append((start, b)) }
        case .contiguous:
            var i = 0
            while i < segments.count {
                var j = i
                if segments[i].2 { while j + 1 < segments.count && segments[j + 1].2 { j += 1 } }
                out.append((segments[i].0, segments[j].1))
                i = j + 1
            }
        }
    }
}
