// A small backtracking regex engine for the splitting patterns of tokenizers: llama.cpp's
// pre-tokenizer lists and the `Split` regexes of Hugging Face `tokenizer.json` files.
//
// Supported syntax (what those patterns use, with PCRE2 / Oniguruma meaning):
//   literals, `.`, escapes \r \n \t \f \v \0 \xHH \x{H…} \uHHHH and escaped punctuation
//   classes `[...]` / `[^...]` with ranges, \s \S \d \D \w \W \p{…} \P{…} inside or outside
//   Unicode general categories \p{L} \p{Lu} \p{Ll} \p{Lt} \p{Lm} \p{Lo} \p{M} \p{Mn} \p{Mc}
//   \p{Me} \p{N} \p{Nd} \p{Nl} \p{No} \p{P} \p{Pc}… \p{S} \p{Sm}… \p{Z} \p{Zs}… \p{C} \p{Cc}…
//   (also written \pL), taken from Swift's Unicode tables
//   groups ( ), (?: ), (?i: ), (?i) at the start, lookahead (?= ) and (?! )
//   quantifiers * + ? {n} {n,} {n,m}, lazy (*? …); possessive (*+ …) run as greedy
//   anchors ^ $ \A \z \Z \b \B
// \s is Unicode White_Space, \d is \p{Nd}, \w is letters, marks, \p{Nd} and \p{Pc}.
// Case-insensitive matching compares simple case mappings (so (?i:'s) also takes "'S" and
// "'ſ", as PCRE2 and Oniguruma do).

public enum SplitRegexError: Error, CustomStringConvertible, Equatable {
    case syntax(pattern: String, offset: Int, reason: String)

    public var description: String {
        switch self {
        case let .syntax(pattern, offset, reason):
            return "regex \(pattern.debugDescription): at character \(offset): \(reason)"
        }
    }
}

/// Per-scalar properties the matcher tests: general category (0…29) and White_Space.
enum ScalarProperties {
    static let whitespaceBit: UInt8 = 0x80

    static let categoryOrder: [Unicode.GeneralCategory] = [
        .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
        .nonspacingMark, .spacingMark, .enclosingMark,
        .decimalNumber, .letterNumber, .otherNumber,
        .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
        .initialPunctuation, .finalPunctuation, .otherPunctuation,
        .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol,
        .spaceSeparator, .lineSeparator, .paragraphSeparator,
        .control, .format, .surrogate, .privateUse, .unassigned,
    ]

    static func compute(_ v: UInt32) -> UInt8 {
        guard let s = Unicode.Scalar(v) else { return 27 }  // a surrogate code point
        let p = s.properties
        let c = UInt8(categoryOrder.firstIndex(of: p.generalCategory) ?? 29)
        return p.isWhitespace ? c | whitespaceBit : c
    }

    /// Properties of every BMP scalar, computed once.
    static let bmp: [UInt8] = (0..<0x10000).map { compute(UInt32($0)) }

    @inline(__always)
    static func of(_ v: UInt32) -> UInt8 {
        v < 0x10000 ? bmp[Int(v)] : compute(v)
    }

    /// Category bit masks by property name.
    static func mask(named name: String) -> UInt32? {
        func bits(_ r: ClosedRange<Int>) -> UInt32 { r.reduce(0) { $0 | 1 << UInt32($1) } }
        switch name {
        case "L", "Letter": return bits(0...4)
        case "Lu": return 1 << 0
        case "Ll": return 1 << 1
        case "Lt": return 1 << 2
        case "Lm": return 1 << 3
        case "Lo": return 1 << 4
        case "L&", "LC": return bits(0...2)
        case "M", "Mark": return bits(5...7)
        case "Mn": return 1 << 5
        case "Mc": return 1 << 6
        case "Me": return 1 << 7
        case "N", "Number": return bits(8...10)
        case "Nd": return 1 << 8
        case "Nl": return 1 << 9
        case "No": return 1 << 10
        case "P", "Punctuation": return bits(11...17)
        case "Pc": return 1 << 11
        case "Pd": return 1 << 12
        case "Ps": return 1 << 13
        case "Pe": return 1 << 14
        case "Pi": return 1 << 15
        case "Pf": return 1 << 16
        case "Po": return 1 << 17
        case "S", "Symbol": return bits(18...21)
        case "Sm": return 1 << 18
        case "Sc": return 1 << 19
        case "Sk": return 1 << 20
        case "So": return 1 << 21
        case "Z", "Separator": return bits(22...24)
        case "Zs": return 1 << 22
        case "Zl": return 1 << 23
        case "Zp": return 1 << 24
        case "C", "Other": return bits(25...29)
        case "Cc": return 1 << 25
        case "Cf": return 1 << 26
        case "Cs": return 1 << 27
        case "Co": return 1 << 28
        case "Cn": return 1 << 29
        default: return nil
        }
    }

    static let wordMask: UInt32 = mask(named: "L")! | mask(named: "M")! | 1 << 8 | 1 << 11
}

/// A set of scalars: a bitmap for ASCII, and for the rest ranges, categories and flags.
struct ScalarSet {
    struct Item {
        enum Kind { case range(UInt32, UInt32), categories(UInt32), whitespace }
        var kind: Kind
        var negated: Bool

        func contains(_ v: UInt32, _ props: UInt8) -> Bool {
            let hit: Bool
            switch kind {
            case let .range(lo, hi): hit = v >= lo && v <= hi
            case let .categories(m): hit = m & (1 << UInt32(props & 0x1F)) != 0
            case .whitespace: hit = props & ScalarProperties.whitespaceBit != 0
            }
            return hit != negated
        }
    }

    var items: [Item] = []
    var negated = false
    var ascii: (UInt64, UInt64) = (0, 0)

    mutating func finish() {
        ascii = (0, 0)
        for v in 0..<128 where slowContains(UInt32(v), ScalarProperties.of(UInt32(v))) {
            if v < 64 { ascii.0 |= 1 << UInt64(v) } else { ascii.1 |= 1 << UInt64(v - 64) }
        }
    }

    func slowContains(_ v: UInt32, _ props: UInt8) -> Bool {
        var hit = false
        for item in items where item.contains(v, props) { hit = true; break }
        return hit != negated
    }

    @inline(__always)
    func contains(_ v: UInt32, _ props: UInt8) -> Bool {
        if v < 64 { return ascii.0 >> UInt64(v) & 1 != 0 }
        if v < 128 { return ascii.1 >> UInt64(v - 64) & 1 != 0 }
        return slowContains(v, props)
    }
}

/// A compiled pattern. Matching runs on an array of scalars with their properties.
public struct SplitRegex: Sendable {
    public let pattern: String

    enum Op {
        case scalar(UInt32)
        case set(Int)
        case any                       // `.`: anything but \n
        case split(Int, Int)           // try the first target, then the second
        case jump(Int)
        case look(negated: Bool, next: Int)   // body follows; it ends with .match
        case start, end, endBeforeNewline, wordBoundary(Bool)
        case match
    }

    let ops: [Op]
    let sets: [ScalarSet]

    public init(_ pattern: String) throws {
        self.pattern = pattern
        var parser = RegexParser(pattern: pattern)
        let node = try parser.parseAll()
        var compiler = RegexCompiler()
        compiler.emit(node)
        guard !compiler.overflow else {
            throw SplitRegexError.syntax(pattern: pattern, offset: 0, reason: "the pattern expands to more than \(RegexCompiler.limit) instructions (counted repeats nest too deeply)")
        }
        compiler.ops.append(.match)
        ops = compiler.ops
        sets = compiler.sets
    }

    /// The end of the longest-preferred (leftmost alternative) match starting at `start`, or
    /// nil. `text`/`props` cover the whole piece being split; `limit` is its end.
    func matchEnd(_ text: UnsafeBufferPointer<UInt32>, _ props: UnsafeBufferPointer<UInt8>, from: Int, to limit: Int, at start: Int, stack: inout [(Int, Int)]) -> Int? {
        run(pc: 0, pos: start, text, props, from, limit, &stack)
    }

    private func run(pc startPC: Int, pos startPos: Int, _ text: UnsafeBufferPointer<UInt32>, _ props: UnsafeBufferPointer<UInt8>,
                     _ lower: Int, _ limit: Int, _ stack: inout [(Int, Int)]) -> Int? {
        let base = stack.count
        defer { stack.removeSubrange(base...) }
        var pc = startPC
        var pos = startPos
        func isWord(_ i: Int) -> Bool {
            guard i >= lower && i < limit else { return false }
            let v = text[i]
            if v == 95 { return true }
            return ScalarProperties.wordMask & (1 << UInt32(props[i] & 0x1F)) != 0
        }
        while true {
            var ok = true
            switch ops[pc] {
            case let .scalar(c):
                if pos < limit && text[pos] == c { pos += 1; pc += 1 } else { ok = false }
            case let .set(i):
                if pos < limit && sets[i].contains(text[pos], props[pos]) { pos += 1; pc += 1 } else { ok = false }
            case .any:
                if pos < limit && text[pos] != 10 { pos += 1; pc += 1 } else { ok = false }
            case let .split(a, b):
                stack.append((b, pos))
                pc = a
            case let .jump(t):
                pc = t
            case let .look(negated, next):
                let found = run(pc: pc + 1, pos: pos, text, props, lower, limit, &stack) != nil
                if found != negated { pc = next } else { ok = false }
            case .start:
                if pos == lower { pc += 1 } else { ok = false }
            case .end:
                if pos == limit { pc += 1 } else { ok = false }
            case .endBeforeNewline:
                if pos == limit || (pos == limit - 1 && text[pos] == 10) { pc += 1 } else { ok = false }
            case let .wordBoundary(want):
                if (isWord(pos - 1) != isWord(pos)) == want { pc += 1 } else { ok = false }
            case .match:
                return pos
            }
            if !ok {
                guard stack.count > base, let (p, q) = stack.popLast() else { return nil }
                pc = p
                pos = q
            }
        }
    }
}

// MARK: Parsing

indirect enum RegexNode {
    case empty
    case scalar(UInt32, caseless: Bool)
    case set(ScalarSet)
    case any
    case concat([RegexNode])
    case alternation([RegexNode])
    case repeatNode(RegexNode, min: Int, max: Int?, greedy: Bool)
    case look(RegexNode, negated: Bool)
    case start, end, endBeforeNewline, wordBoundary(Bool)

    var canBeEmpty: Bool {
        switch self {
        case .empty, .look, .start, .end, .endBeforeNewline, .wordBoundary: return true
        case .scalar, .set, .any: return false
        case let .concat(xs): return xs.allSatisfy { $0.canBeEmpty }
        case let .alternation(xs): return xs.contains { $0.canBeEmpty }
        case let .repeatNode(x, min, _, _): return min == 0 || x.canBeEmpty
        }
    }
}

struct RegexParser {
    let pattern: String
    let chars: [UInt32]
    var i = 0
    var caseless = false
    var depth = 0

    init(pattern: String) {
        self.pattern = pattern
        chars = pattern.unicodeScalars.map(\.value)
    }

    func fail(_ reason: String) -> SplitRegexError {
        .syntax(pattern: pattern, offset: i, reason: reason)
    }

    var atEnd: Bool { i >= chars.count }
    func peek(_ k: Int = 0) -> UInt32? { i + k < chars.count ? chars[i + k] : nil }
    func isChar(_ c: Character, at k: Int = 0) -> Bool { peek(k) == c.unicodeScalars.first!.value }

    mutating func parseAll() throws -> RegexNode {
        if isChar("(") && isChar("?", at: 1) && isChar("i", at: 2) && isChar(")", at: 3) {
            caseless = true
            i += 4
        }
        let n = try parseAlternation()
        if !atEnd { throw fail("unbalanced ')'") }
        return n
    }

    mutating func parseAlternation() throws -> RegexNode {
        var branches = [try parseConcat()]
        while isChar("|") {
            i += 1
            branches.append(try parseConcat())
        }
        return branches.count == 1 ? branches[0] : .alternation(branches)
    }

    mutating func parseConcat() throws -> RegexNode {
        var items: [RegexNode] = []
        while !atEnd && !isChar("|") && !isChar(")") {
            var atom = try parseAtom()
            atom = try parseQuantifiers(atom)
            items.append(atom)
        }
        return items.count == 1 ? items[0] : (items.isEmpty ? .empty : .concat(items))
    }

    mutating func parseQuantifiers(_ atom: RegexNode) throws -> RegexNode {
        var node = atom
        while let c = peek() {
            var minCount = 0
            var maxCount: Int? = nil
            if c == 42 { minCount = 0; maxCount = nil; i += 1 }              // *
            else if c == 43 { minCount = 1; maxCount = nil; i += 1 }         // +
            else if c == 63 { minCount = 0; maxCount = 1; i += 1 }           // ?
            else if c == 123, let (lo, hi, len) = counted() { minCount = lo; maxCount = hi; i += len }
            else { break }
            var greedy = true
            if isChar("?") { greedy = false; i += 1 } else if isChar("+") { i += 1 }
            if maxCount == nil && node.canBeEmpty {
                throw fail("a repeated group that can match the empty string is not supported")
            }
            if let m = maxCount, m < minCount { throw fail("{\(minCount),\(m)}: the maximum is below the minimum") }
            node = .repeatNode(node, min: minCount, max: maxCount, greedy: greedy)
        }
        return node
    }

    /// `{n}`, `{n,}`, `{n,m}` at `i`: (min, max, length), or nil when it is a literal brace.
    func counted() -> (Int, Int?, Int)? {
        var k = i + 1
        func number() -> Int? {
            var v = 0
            var any = false
            while k < chars.count, chars[k] >= 48 && chars[k] <= 57 {
                v = v * 10 + Int(chars[k] - 48)
                k += 1
                any = true
                if v > 100_000 { return nil }
            }
            return any ? v : nil
        }
        guard let lo = number() else { return nil }
        var hi: Int? = lo
        if k < chars.count && chars[k] == 44 {   // ,
            k += 1
            hi = number()
        }
        guard k < chars.count && chars[k] == 125 else { return nil }
        return (lo, hi, k + 1 - i)
    }

    mutating func parseAtom() throws -> RegexNode {
        guard let c = peek() else { throw fail("unexpected end") }
        switch c {
        case 40:  // (
            i += 1
            if isChar("?") {
                if isChar(":", at: 1) {
                    i += 2
                    return try group()
                } else if isChar("=", at: 1) || isChar("!", at: 1) {
                    let negated = isChar("!", at: 1)
                    i += 2
                    return .look(try group(), negated: negated)
                } else if isChar("i", at: 1) && isChar(":", at: 2) {
                    i += 3
                    let saved = caseless
                    caseless = true
                    defer { caseless = saved }
                    return try group()
                } else {
                    throw fail("this group syntax is not supported (only (?:, (?i:, (?=, (?!)")
                }
            }
            return try group()
        case 91:  // [
            return .set(try parseClass())
        case 46:  // .
            i += 1
            return .any
        case 94:  // ^
            i += 1
            return .start
        case 36:  // $
            i += 1
            return .endBeforeNewline
        case 92:  // backslash
            return try parseEscape()
        case 42, 43, 63:
            throw fail("a quantifier with nothing to repeat")
        default:
            i += 1
            return literal(c)
        }
    }

    mutating func group() throws -> RegexNode {
        depth += 1
        defer { depth -= 1 }
        guard depth <= 100 else { throw fail("groups nest more than 100 deep") }
        let n = try parseAlternation()
        guard isChar(")") else { throw fail("missing ')'") }
        i += 1
        return n
    }

    func literal(_ c: UInt32) -> RegexNode {
        if caseless, let s = Unicode.Scalar(c), RegexParser.caseVariants(s).count > 1 {
            return .scalar(c, caseless: true)
        }
        return .scalar(c, caseless: false)
    }

    /// The scalars that match `s` case-insensitively (simple case mappings, and the scalars
    /// whose mappings lead to the same letter, such as U+017F for "s").
    static func caseVariants(_ s: Unicode.Scalar) -> [UInt32] {
        var out: [UInt32] = [s.value]
        func add(_ str: String) {
            let u = str.unicodeScalars
            if u.count == 1, let v = u.first?.value, !out.contains(v) { out.append(v) }
        }
        add(s.properties.lowercaseMapping)
        add(s.properties.uppercaseMapping)
        add(s.properties.titlecaseMapping)
        // Scalars outside ASCII that fold onto an ASCII letter.
        let extra: [UInt32: [UInt32]] = [0x73: [0x17F], 0x53: [0x17F], 0x6B: [0x212A], 0x4B: [0x212A], 0xE5: [0x212B], 0xC5: [0x212B]]
        for v in extra[s.value] ?? [] where !out.contains(v) { out.append(v) }
        return out
    }

    mutating func hexNumber(maxDigits: Int) throws -> UInt32 {
        var v: UInt32 = 0
        var n = 0
        while n < maxDigits, let c = peek(), let d = RegexParser.hexDigit(c) {
            v = v * 16 + d
            i += 1
            n += 1
        }
        if n == 0 { throw fail("expected hexadecimal digits") }
        return v
    }

    static func hexDigit(_ c: UInt32) -> UInt32? {
        switch c {
        case 48...57: return c - 48
        case 65...70: return c - 55
        case 97...102: return c - 87
        default: return nil
        }
    }

    /// An escape: a single scalar, or a class item (\s, \p{L}, …).
    enum Escape { case scalar(UInt32), item(ScalarSet.Item), start, end, endBeforeNewline, wordBoundary(Bool) }

    mutating func escape() throws -> Escape {
        i += 1  // backslash
        guard let c = peek() else { throw fail("a trailing backslash") }
        i += 1
        switch Character(Unicode.Scalar(c)!) {
        case "n": return .scalar(10)
        case "r": return .scalar(13)
        case "t": return .scalar(9)
        case "f": return .scalar(12)
        case "v": return .scalar(11)
        case "a": return .scalar(7)
        case "e": return .scalar(27)
        case "0": return .scalar(0)
        case "s": return .item(.init(kind: .whitespace, negated: false))
        case "S": return .item(.init(kind: .whitespace, negated: true))
        case "d": return .item(.init(kind: .categories(1 << 8), negated: false))
        case "D": return .item(.init(kind: .categories(1 << 8), negated: true))
        case "w": return .item(.init(kind: .categories(ScalarProperties.wordMask), negated: false))
        case "W": return .item(.init(kind: .categories(ScalarProperties.wordMask), negated: true))
        case "A": return .start
        case "z": return .end
        case "Z": return .endBeforeNewline
        case "b": return .wordBoundary(true)
        case "B": return .wordBoundary(false)
        case "x":
            if isChar("{") {
                i += 1
                let v = try hexNumber(maxDigits: 8)
                guard isChar("}") else { throw fail("expected '}' after \\x{…") }
                i += 1
                return .scalar(v)
            }
            return .scalar(try hexNumber(maxDigits: 2))
        case "u":
            return .scalar(try hexNumber(maxDigits: 4))
        case "p", "P":
            let negated = c == 80
            var name = ""
            if isChar("{") {
                i += 1
                var neg2 = false
                if isChar("^") { neg2 = true; i += 1 }
                while let d = peek(), d != 125 { name.unicodeScalars.append(Unicode.Scalar(d)!); i += 1 }
                guard isChar("}") else { throw fail("expected '}' after \\p{") }
                i += 1
                guard let m = ScalarProperties.mask(named: name) else {
                    throw fail("unknown Unicode property \\p{\(name)} (general categories such as L, Lu, N, P, M, S, Z, C are supported)")
                }
                return .item(.init(kind: .categories(m), negated: negated != neg2))
            }
            guard let d = peek() else { throw fail("expected a property name after \\p") }
            i += 1
            name = String(Unicode.Scalar(d)!)
            guard let m = ScalarProperties.mask(named: name) else { throw fail("unknown Unicode property \\p\(name)") }
            return .item(.init(kind: .categories(m), negated: negated))
        default:
            let isAlnum = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122)
            if isAlnum { throw fail("the escape \\\(Character(Unicode.Scalar(c)!)) is not supported") }
            return .scalar(c)
        }
    }

    mutating func parseEscape() throws -> RegexNode {
        switch try escape() {
        case let .scalar(v): return literal(v)
        case let .item(item):
            var s = ScalarSet()
            s.items = [item]
            s.finish()
            return .set(s)
        case .start: return .start
        case .end: return .end
        case .endBeforeNewline: return .endBeforeNewline
        case let .wordBoundary(b): return .wordBoundary(b)
        }
    }

    mutating func parseClass() throws -> ScalarSet {
        i += 1  // [
        var set = ScalarSet()
        if isChar("^") { set.negated = true; i += 1 }
        var first = true
        while true {
            guard let c = peek() else { throw fail("missing ']'") }
            if c == 93 && !first { i += 1; break }  // ]
            first = false
            var lo: UInt32
            if c == 92 {
                switch try escape() {
                case let .scalar(v): lo = v
                case let .item(item): set.items.append(item); continue
                default: throw fail("an anchor inside a character class")
                }
            } else {
                lo = c
                i += 1
            }
            if isChar("-"), let next = peek(1), next != 93 {
                i += 1
                var hi: UInt32
                if next == 92 {
                    guard case let .scalar(v) = try escape() else { throw fail("a class escape as a range end") }
                    hi = v
                } else {
                    hi = next
                    i += 1
                }
                guard hi >= lo else { throw fail("a range whose end is below its start") }
                set.items.append(.init(kind: .range(lo, hi), negated: false))
                if caseless { addCaseVariants(of: lo...hi, to: &set) }
            } else {
                set.items.append(.init(kind: .range(lo, lo), negated: false))
                if caseless { addCaseVariants(of: lo...lo, to: &set) }
            }
        }
        set.finish()
        return set
    }

    func addCaseVariants(of r: ClosedRange<UInt32>, to set: inout ScalarSet) {
        guard r.count <= 512 else { return }
        for v in r {
            guard let s = Unicode.Scalar(v) else { continue }
            for w in RegexParser.caseVariants(s).dropFirst() { set.items.append(.init(kind: .range(w, w), negated: false)) }
        }
    }
}

// MARK: Compiling

struct RegexCompiler {
    /// Counted repeats are expanded, so `(a{1000}){1000}` would be a million copies.
    static let limit = 200_000
    var ops: [SplitRegex.Op] = []
    var sets: [ScalarSet] = []
    var overflow = false

    mutating func emit(_ node: RegexNode) {
        if ops.count > RegexCompiler.limit { overflow = true }
        if overflow { return }
        switch node {
        case .empty:
            break
        case let .scalar(v, caseless):
            if caseless, let s = Unicode.Scalar(v) {
                var set = ScalarSet()
                set.items = RegexParser.caseVariants(s).map { .init(kind: .range($0, $0), negated: false) }
                set.finish()
                sets.append(set)
                ops.append(.set(sets.count - 1))
            } else {
                ops.append(.scalar(v))
            }
        case let .set(s):
            sets.append(s)
            ops.append(.set(sets.count - 1))
        case .any:
            ops.append(.any)
        case let .concat(xs):
            for x in xs { emit(x) }
        case let .alternation(xs):
            var jumps: [Int] = []
            for (k, x) in xs.enumerated() {
                if k < xs.count - 1 {
                    let split = ops.count
                    ops.append(.split(split + 1, -1))
                    emit(x)
                    jumps.append(ops.count)
                    ops.append(.jump(-1))
                    ops[split] = .split(split + 1, ops.count)
                } else {
                    emit(x)
                }
            }
            for j in jumps { ops[j] = .jump(ops.count) }
        case let .repeatNode(x, minCount, maxCount, greedy):
            for _ in 0..<minCount { emit(x) }
            if let maxCount {
                // Optional copies, nested: (x(x(x)?)?)?
                var exits: [Int] = []
                for _ in minCount..<maxCount {
                    let split = ops.count
                    ops.append(.split(-1, -1))
                    exits.append(split)
                    emit(x)
                }
                let end = ops.count
                for s in exits { ops[s] = greedy ? .split(s + 1, end) : .split(end, s + 1) }
            } else {
                let split = ops.count
                ops.append(.split(-1, -1))
                emit(x)
                ops.append(.jump(split))
                ops[split] = greedy ? .split(split + 1, ops.count) : .split(ops.count, split + 1)
            }
        case let .look(x, negated):
            let at = ops.count
            ops.append(.look(negated: negated, next: -1))
            emit(x)
            ops.append(.match)
            ops[at] = .look(negated: negated, next: ops.count)
        case .start: ops.append(.start)
        case .end: ops.append(.end)
        case .endBeforeNewline: ops.append(.endBeforeNewline)
        case let .wordBoundary(b): ops.append(.wordBoundary(b))
        }
    }
}
