// The lexer: template text → data runs and tag tokens, with jinja2's whitespace rules as
// HF transformers sets them (trim_blocks and lstrip_blocks on):
//   - `{%-`, `{{-`, `{#-` strip all whitespace before the tag; `-%}`, `-}}`, `-#}` after it.
//   - trim_blocks: one newline right after `%}` or `#}` is dropped (not after `}}`;
//     `+%}` keeps it).
//   - lstrip_blocks: spaces and tabs between a line start and `{%` / `{#` are dropped
//     (not before `{{`; `{%+` keeps them).
//   - The source's newlines are normalized to "\n" and one trailing newline is dropped
//     (jinja2's keep_trailing_newline=False).
//   - Inside a tag, an end marker only counts outside brackets: `{{ {'a': {}} }}` is fine.

struct JinjaToken {
    enum Kind: Equatable {
        case data(String)
        case variableBegin, variableEnd, blockBegin, blockEnd
        case name(String)
        case string(String)
        case integer(Int)
        case float(Double)
        case op(String)
        case eof
    }
    let kind: Kind
    let line: Int
    let column: Int
}

struct JinjaLexer {
    private let s: [Unicode.Scalar]
    private var i = 0
    private var tokens: [JinjaToken] = []
    private var lineStarting = true
    private let trimBlocks: Bool
    private let lstripBlocks: Bool
    private let lineStarts: [Int]

    init(_ source: String, trimBlocks: Bool = true, lstripBlocks: Bool = true) {
        var scalars: [Unicode.Scalar] = []
        scalars.reserveCapacity(source.unicodeScalars.count)
        var it = source.unicodeScalars.makeIterator()
        var pendingCR = false
        while let u = it.next() {
            if pendingCR { pendingCR = false; if u == "\n" { continue } }
            if u == "\r" { scalars.append("\n"); pendingCR = true } else { scalars.append(u) }
        }
        if scalars.last == "\n" { scalars.removeLast() }
        s = scalars
        lineStarts = [0] + scalars.indices.filter { scalars[$0] == "\n" }.map { $0 + 1 }
        self.trimBlocks = trimBlocks
        self.lstripBlocks = lstripBlocks
    }

    static func tokenize(_ source: String) throws -> [JinjaToken] {
        var l = JinjaLexer(source)
        try l.run()
        return l.tokens
    }

    // Line and column (1-based) of a scalar offset.
    private func position(_ offset: Int) -> (Int, Int) {
        var lo = 0, hi = lineStarts.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if lineStarts[mid] <= offset { lo = mid } else { hi = mid - 1 }
        }
        return (lo + 1, offset - lineStarts[lo] + 1)
    }

    private func fail(_ message: String, at offset: Int) -> JinjaError {
        let (l, c) = position(offset)
        return .syntax(message: message, line: l, column: c)
    }

    private func at(_ k: Int, _ text: String) -> Bool {
        var j = k
        for u in text.unicodeScalars {
            guard j < s.count, s[j] == u else { return false }
            j += 1
        }
        return true
    }

    private func isSpace(_ u: Unicode.Scalar) -> Bool { pythonIsSpace(u) }

    private mutating func emit(_ kind: JinjaToken.Kind, at offset: Int) {
        let (l, c) = position(offset)
        tokens.append(JinjaToken(kind: kind, line: l, column: c))
    }

    /// Python `\s*` after a `-` end marker.
    private mutating func skipWhitespace() {
        while i < s.count, isSpace(s[i]) { i += 1 }
    }

    private mutating func run() throws {
        while i < s.count {
            // Find the next tag opener.
            var j = i
            var opener: Unicode.Scalar? = nil
            while j + 1 < s.count {
                if s[j] == "{", s[j + 1] == "{" || s[j + 1] == "%" || s[j + 1] == "#" { opener = s[j + 1]; break }
                j += 1
            }
            guard let kind = opener else {
                emitData(Array(s[i...]), at: i)
                i = s.count
                break
            }
            var text = Array(s[i..<j])
            let sign: Unicode.Scalar? = j + 2 < s.count && (s[j + 2] == "-" || s[j + 2] == "+") ? s[j + 2] : nil
            if sign == "-" {
                while let last = text.last, isSpace(last) { text.removeLast() }
            } else if sign != "+" && lstripBlocks && kind != "{" {
                let lineStart = (text.lastIndex(of: "\n").map { $0 + 1 }) ?? 0
                if lineStart > 0 || lineStarting {
                    if lineStart < text.count && text[lineStart...].allSatisfy(isSpace) { text.removeSubrange(lineStart...) }
                }
            }
            emitData(text, at: i)
            let tagStart = j
            i = j + 2 + (sign == nil ? 0 : 1)
            lineStarting = false
            switch kind {
            case "#": try comment(start: tagStart)
            case "%":
                if let afterRaw = rawOpening() {
                    i = afterRaw
                    try raw(start: tagStart)
                } else {
                    emit(.blockBegin, at: tagStart)
                    try insideTag(block: true, start: tagStart)
                }
            default:
                emit(.variableBegin, at: tagStart)
                try insideTag(block: false, start: tagStart)
            }
        }
        emit(.eof, at: s.count)
    }

    private mutating func emitData(_ text: [Unicode.Scalar], at offset: Int) {
        guard !text.isEmpty else { return }
        var str = ""
        str.unicodeScalars.append(contentsOf: text)
        emit(.data(str), at: offset)
    }

    /// Consumes a block end marker at `i` if there is one: `+%}`, `-%}` + whitespace, or
    /// `%}` + one newline under trim_blocks. `close` is "%" or "#".
    private mutating func blockEnd(_ close: Unicode.Scalar) -> Bool {
        let marker = String(close) + "}"
        if at(i, "+" + marker) { i += 3; lineStarting = false; return true }
        if at(i, "-" + marker) { i += 3; skipWhitespace(); lineStarting = i > 0 && s[i - 1] == "\n"; return true }
        if at(i, marker) {
            i += 2
            lineStarting = false
            if trimBlocks, i < s.count, s[i] == "\n" { i += 1; lineStarting = true }
            return true
        }
        return false
    }

    private mutating func comment(start: Int) throws {
        while i < s.count {
            if blockEnd("#") { return }
            i += 1
        }
        throw fail("Missing end of comment tag", at: start)
    }

    /// If `{%` (already consumed, with its sign) opens `raw %}`, the offset after it.
    private func rawOpening() -> Int? {
        var k = i
        while k < s.count, isSpace(s[k]) { k += 1 }
        guard at(k, "raw") else { return nil }
        k += 3
        while k < s.count, isSpace(s[k]) { k += 1 }
        if at(k, "-%}") {
            k += 3
            while k < s.count, isSpace(s[k]) { k += 1 }
            return k
        }
        // jinja2 has no `+%}` form here: `{% raw +%}` is an unknown tag 'raw'.
        if at(k, "%}") { return k + 2 }
        return nil
    }

    private mutating func raw(start: Int) throws {
        var j = i
        while j + 1 < s.count {
            if s[j] == "{", s[j + 1] == "%" {
                var k = j + 2
                let sign: Unicode.Scalar? = k < s.count && (s[k] == "-" || s[k] == "+") ? s[k] : nil
                if sign != nil { k += 1 }
                while k < s.count, isSpace(s[k]) { k += 1 }
                if at(k, "endraw") {
                    k += 6
                    while k < s.count, isSpace(s[k]) { k += 1 }
                    let saved = i
                    i = k
                    if blockEnd("%") {
                        var text = Array(s[saved..<j])
                        if sign == "-" {
                            while let last = text.last, isSpace(last) { text.removeLast() }
                        } else if sign != "+" && lstripBlocks {
                            let lineStart = (text.lastIndex(of: "\n").map { $0 + 1 }) ?? 0
                            if lineStart > 0, text[lineStart...].allSatisfy(isSpace) { text.removeSubrange(lineStart...) }
                        }
                        emitData(text, at: saved)
                        return
                    }
                    i = saved
                }
            }
            j += 1
        }
        throw fail("Missing end of raw directive", at: start)
    }

    private static let operators2 = ["//", "**", "==", "!=", "<=", ">="]
    private static let operators1 = Set("+-/*%~[](){}<>=.:|,;".unicodeScalars)

    private mutating func insideTag(block: Bool, start: Int) throws {
        var brackets: [Unicode.Scalar] = []
        while true {
            guard i < s.count else {
                throw fail(block ? "unexpected end of template, expected end of statement block ('%}')" : "unexpected end of template, expected end of print statement ('}}')", at: s.count)
            }
            if brackets.isEmpty {
                if block {
                    if blockEnd("%") { emit(.blockEnd, at: i - 1); return }
                } else {
                    if at(i, "-}}") { emit(.variableEnd, at: i); i += 3; skipWhitespace(); lineStarting = s[i - 1] == "\n"; return }
                    if at(i, "}}") { emit(.variableEnd, at: i); i += 2; lineStarting = false; return }
                }
            }
            let u = s[i]
            if isSpace(u) { i += 1; continue }
            let tokStart = i
            if u == "_" || u.properties.isXIDStart {
                var name = ""
                while i < s.count, s[i] == "_" || s[i].properties.isXIDContinue { name.unicodeScalars.append(s[i]); i += 1 }
                emit(.name(name), at: tokStart)
                continue
            }
            if u.properties.numericType == .decimal, u.isASCII {
                // After a dot a number is an index (`matrix.0.1`), never a float.
                try number(start: tokStart, integerOnly: tokens.last?.kind == .op("."))
                continue
            }
            if u == "'" || u == "\"" {
                emit(.string(try stringLiteral(quote: u)), at: tokStart)
                continue
            }
            if i + 1 < s.count {
                let two = String(u) + String(s[i + 1])
                if JinjaLexer.operators2.contains(two) { emit(.op(two), at: tokStart); i += 2; continue }
            }
            if JinjaLexer.operators1.contains(u) {
                switch u {
                case "(", "[", "{": brackets.append(u)
                case ")", "]", "}":
                    let open: Unicode.Scalar = u == ")" ? "(" : u == "]" ? "[" : "{"
                    guard brackets.last == open else {
                        if brackets.isEmpty { throw fail("unexpected '\(u)'", at: i) }
                        throw fail("unexpected '\(u)', expected '\(brackets.last == "(" ? ")" : brackets.last == "[" ? "]" : "}")'", at: i)
                    }
                    brackets.removeLast()
                default: break
                }
                emit(.op(String(u)), at: tokStart)
                i += 1
                continue
            }
            throw fail("unexpected char '\(u)' at \(i)", at: i)
        }
    }

    private mutating func digits() -> String {
        var out = ""
        while i < s.count, s[i].isASCII, s[i].properties.numericType == .decimal || (s[i] == "_" && i + 1 < s.count && s[i + 1].isASCII && s[i + 1].properties.numericType == .decimal) {
            if s[i] != "_" { out.unicodeScalars.append(s[i]) }
            i += 1
        }
        return out
    }

    private mutating func number(start: Int, integerOnly: Bool) throws {
        var text = digits()
        var isFloat = false
        if !integerOnly, i + 1 < s.count, s[i] == ".", s[i + 1].isASCII, s[i + 1].properties.numericType == .decimal {
            i += 1
            text += "." + digits()
            isFloat = true
        }
        if !integerOnly, i < s.count, s[i] == "e" || s[i] == "E" {
            var k = i + 1
            if k < s.count, s[k] == "+" || s[k] == "-" { k += 1 }
            if k < s.count, s[k].isASCII, s[k].properties.numericType == .decimal {
                let sign = s[i + 1] == "-" ? "-" : ""
                i = k
                text += "e" + sign + digits()
                isFloat = true
            }
        }
        if isFloat {
            emit(.float(Double(text) ?? .nan), at: start)
        } else if let v = Int(text) {
            emit(.integer(v), at: start)
        } else {
            throw fail("integer literal \(text) is too large", at: start)
        }
    }

    /// A Python string literal's body with its escapes resolved.
    private mutating func stringLiteral(quote: Unicode.Scalar) throws -> String {
        let start = i
        i += 1
        var out = ""
        while true {
            guard i < s.count else { throw fail("unexpected end of string literal", at: start) }
            let u = s[i]
            i += 1
            if u == quote { return out }
            if u != "\\" { out.unicodeScalars.append(u); continue }
            guard i < s.count else { throw fail("unexpected end of string literal", at: start) }
            let e = s[i]
            i += 1
            switch e {
            case "\n": break
            case "\\", "'", "\"": out.unicodeScalars.append(e)
            case "n": out += "\n"
            case "t": out += "\t"
            case "r": out += "\r"
            case "a": out += "\u{07}"
            case "b": out += "\u{08}"
            case "f": out += "\u{0C}"
            case "v": out += "\u{0B}"
            case "0"..."7":
                var v = e.value - 48
                var n = 1
                while n < 3, i < s.count, ("0"..."7").contains(s[i]) { v = v * 8 + s[i].value - 48; i += 1; n += 1 }
                out.unicodeScalars.append(Unicode.Scalar(v) ?? "\u{fffd}")
            case "x", "u", "U":
                let width = e == "x" ? 2 : e == "u" ? 4 : 8
                var h = ""
                for _ in 0..<width where i < s.count { h.unicodeScalars.append(s[i]); i += 1 }
                guard h.count == width, let v = UInt32(h, radix: 16), let sc = Unicode.Scalar(v) else {
                    throw fail("invalid \\\(e) escape in string literal", at: start)
                }
                out.unicodeScalars.append(sc)
            default:
                out.unicodeScalars.append("\\")
                out.unicodeScalars.append(e)
            }
        }
    }
}

/// Python's `str.isspace` for one code point (Unicode White_Space plus the ASCII
/// information separators 0x1C–0x1F, which Python also counts).
func pythonIsSpace(_ u: Unicode.Scalar) -> Bool {
    if u.value >= 0x1c && u.value <= 0x1f { return true }
    return u.properties.isWhitespace
}
