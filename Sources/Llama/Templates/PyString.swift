// Python's str methods over code points (Swift's String compares and splits by grapheme
// clusters and canonical equivalence; Python does neither).

enum PyString {
    typealias Scalars = [Unicode.Scalar]

    static func scalars(_ s: String) -> Scalars { Array(s.unicodeScalars) }

    static func string(_ u: some Sequence<Unicode.Scalar>) -> String {
        var s = ""
        s.unicodeScalars.append(contentsOf: u)
        return s
    }

    static func find(_ hay: Scalars, _ needle: Scalars, from start: Int) -> Int? {
        if needle.isEmpty { return start <= hay.count ? start : nil }
        guard hay.count >= needle.count else { return nil }
        var i = max(0, start)
        while i + needle.count <= hay.count {
            if hay[i] == needle[0] && Array(hay[i..<i + needle.count]) == needle { return i }
            i += 1
        }
        return nil
    }

    static func rfind(_ hay: Scalars, _ needle: Scalars) -> Int? {
        guard hay.count >= needle.count else { return nil }
        var i = hay.count - needle.count
        while i >= 0 {
            if Array(hay[i..<i + needle.count]) == needle { return i }
            i -= 1
        }
        return nil
    }

    static func count(_ hay: Scalars, _ needle: Scalars) -> Int {
        if needle.isEmpty { return hay.count + 1 }
        var n = 0, i = 0
        while let k = find(hay, needle, from: i) { n += 1; i = k + needle.count }
        return n
    }

    static func replace(_ s: String, _ old: String, _ new: String, count limit: Int = -1) -> String {
        let hay = scalars(s), o = scalars(old), nw = scalars(new)
        var out: Scalars = []
        var done = 0
        if o.isEmpty {
            for (k, u) in hay.enumerated() {
                if limit < 0 || done < limit { out += nw; done += 1 }
                out.append(u)
                _ = k
            }
            if limit < 0 || done < limit { out += nw }
            return string(out)
        }
        var i = 0
        while limit < 0 || done < limit, let k = find(hay, o, from: i) {
            out += hay[i..<k]
            out += nw
            i = k + o.count
            done += 1
        }
        out += hay[i...]
        return string(out)
    }

    static func strip(_ s: String, _ chars: String?, leading: Bool, trailing: Bool) -> String {
        let u = scalars(s)
        let set = chars.map { Set($0.unicodeScalars) }
        func strippable(_ c: Unicode.Scalar) -> Bool { set.map { $0.contains(c) } ?? pythonIsSpace(c) }
        var a = 0, b = u.count
        if leading { while a < b, strippable(u[a]) { a += 1 } }
        if trailing { while b > a, strippable(u[b - 1]) { b -= 1 } }
        return string(u[a..<b])
    }

    /// `str.split(sep=None, maxsplit=-1)`.
    static func split(_ s: String, _ sep: String?, maxsplit: Int = -1) throws -> [String] {
        let u = scalars(s)
        guard let sep else {
            var parts: [String] = []
            var i = 0
            while true {
                while i < u.count, pythonIsSpace(u[i]) { i += 1 }
                if i == u.count { break }
                if maxsplit >= 0 && parts.count == maxsplit {
                    // The rest is kept as it is, trailing whitespace included.
                    parts.append(string(u[i...]))
                    break
                }
                let start = i
                while i < u.count, !pythonIsSpace(u[i]) { i += 1 }
                parts.append(string(u[start..<i]))
            }
            return parts
        }
        let p = scalars(sep)
        guard !p.isEmpty else { throw JinjaRuntimeFailure(.value, "empty separator") }
        var parts: [String] = []
        var i = 0
        while maxsplit < 0 || parts.count < maxsplit, let k = find(u, p, from: i) {
            parts.append(string(u[i..<k]))
            i = k + p.count
        }
        parts.append(string(u[i...]))
        return parts
    }

    static func rsplit(_ s: String, _ sep: String?, maxsplit: Int) throws -> [String] {
        guard maxsplit >= 0 else { return try split(s, sep, maxsplit: -1) }
        // Splitting from the right = splitting the reversed text by the reversed separator.
        let rev = string(scalars(s).reversed())
        let revSep = sep.map { string(scalars($0).reversed()) }
        return try split(rev, revSep, maxsplit: maxsplit).reversed().map { string(scalars($0).reversed()) }
    }

    static func isLineBreak(_ u: Unicode.Scalar) -> Bool {
        switch u.value {
        case 0x0a, 0x0b, 0x0c, 0x0d, 0x1c, 0x1d, 0x1e, 0x85, 0x2028, 0x2029: return true
        default: return false
        }
    }

    /// `str.splitlines(keepends)`.
    static func splitlines(_ s: String, keepends: Bool = false) -> [String] {
        let u = scalars(s)
        var lines: [String] = []
        var start = 0, i = 0
        while i < u.count {
            if isLineBreak(u[i]) {
                var end = i + 1
                if u[i] == "\r", end < u.count, u[end] == "\n" { end += 1 }
                lines.append(string(u[start..<(keepends ? end : i)]))
                start = end
                i = end
            } else { i += 1 }
        }
        if start < u.count { lines.append(string(u[start...])) }
        return lines
    }

    static func isCased(_ u: Unicode.Scalar) -> Bool { u.properties.isCased }

    static func upper(_ s: String) -> String { s.uppercased() }
    static func lower(_ s: String) -> String { s.lowercased() }

    /// `str.title()`: a cased character after an uncased one starts a word.
    static func title(_ s: String) -> String {
        var out = ""
        var previousCased = false
        for u in s.unicodeScalars {
            if previousCased { out += u.properties.lowercaseMapping } else { out += u.properties.titlecaseMapping }
            previousCased = isCased(u)
        }
        return out
    }

    /// `str.capitalize()`: the first character in title case, the rest lower case.
    static func capitalize(_ s: String) -> String {
        var out = ""
        for (k, u) in s.unicodeScalars.enumerated() {
            out += k == 0 ? u.properties.titlecaseMapping : u.properties.lowercaseMapping
        }
        return out
    }

    static func startsWith(_ s: String, _ prefix: String) -> Bool {
        let a = scalars(s), p = scalars(prefix)
        return a.count >= p.count && Array(a[0..<p.count]) == p
    }

    static func endsWith(_ s: String, _ suffix: String) -> Bool {
        let a = scalars(s), p = scalars(suffix)
        return a.count >= p.count && Array(a[(a.count - p.count)...]) == p
    }

    static func isWordCharacter(_ u: Unicode.Scalar) -> Bool {
        u == "_" || u.properties.isAlphabetic || u.properties.numericType != nil
    }

    /// Python's `fmt % args` for the conversions templates use: %s %r %d %i %f %x %%.
    static func percentFormat(_ fmt: String, _ args: JinjaValue) throws -> String {
        let u = scalars(fmt)
        var values: [JinjaValue]
        var mapping: JinjaDict? = nil
        switch args {
        case let .tuple(t): values = t
        case let .dict(d): values = []; mapping = d
        default: values = [args]
        }
        var out = ""
        var i = 0, next = 0
        while i < u.count {
            let c = u[i]
            if c != "%" { out.unicodeScalars.append(c); i += 1; continue }
            i += 1
            guard i < u.count else { throw JinjaRuntimeFailure(.value, "incomplete format") }
            var key: String? = nil
            if u[i] == "(" {
                var k = ""
                i += 1
                while i < u.count, u[i] != ")" { k.unicodeScalars.append(u[i]); i += 1 }
                i += 1
                key = k
            }
            var spec = ""
            while i < u.count, "-+ #0123456789.".unicodeScalars.contains(u[i]) { spec.unicodeScalars.append(u[i]); i += 1 }
            guard i < u.count else { throw JinjaRuntimeFailure(.value, "incomplete format") }
            let conv = u[i]
            i += 1
            if conv == "%" { out += "%"; continue }
            let v: JinjaValue
            if let key {
                guard let m = mapping?[key] else { throw JinjaRuntimeFailure(.type, "format requires a mapping") }
                v = m
            } else {
                guard next < values.count else { throw JinjaRuntimeFailure(.type, "not enough arguments for format string") }
                v = values[next]
                next += 1
            }
            var text: String
            switch conv {
            case "s": text = v.pythonString
            case "r": text = v.pythonRepr
            case "d", "i":
                guard let n = v.numeric else { throw JinjaRuntimeFailure(.type, "%\(conv) format: a real number is required, not \(v.typeName)") }
                text = String(Int(n.rounded(.towardZero)))
            case "f", "F":
                guard let n = v.numeric else { throw JinjaRuntimeFailure(.type, "must be real number, not \(v.typeName)") }
                let precision = spec.split(separator: ".").dropFirst().first.flatMap { Int($0) } ?? 6
                text = formatFixed(n, precision)
            case "x": text = String(v.integer ?? 0, radix: 16)
            default: throw JinjaRuntimeFailure(.value, "unsupported format character '\(conv)'")
            }
            let widthText = spec.split(separator: ".").first.map(String.init) ?? ""
            if let width = Int(widthText.filter { $0.isNumber }), text.count < width {
                let pad = String(repeating: widthText.hasPrefix("0") && conv != "s" ? "0" : " ", count: width - text.count)
                text = widthText.hasPrefix("-") ? text + pad : pad + text
            }
            out += text
        }
        var argsIsSequence = false
        if case .list = args { argsIsSequence = true }
        // A single non-tuple argument with items (a list) is not "left over" in Python.
        if mapping == nil && next < values.count && !(argsIsSequence && values.count == 1) { throw JinjaRuntimeFailure(.type, "not all arguments converted during string formatting") }
        return out
    }

    /// `"%.Nf" % x` with Python's round-half-even on the exact binary value.
    static func formatFixed(_ x: Double, _ precision: Int) -> String {
        if x.isNaN { return "nan" }
        if x.isInfinite { return x < 0 ? "-inf" : "inf" }
        // Decimal expansion of the exact double, then rounded half-even.
        let negative = x < 0 || (x == 0 && x.sign == .minus)
        var digits = exactDecimal(abs(x))
        let point = digits.firstIndex(of: ".").map { digits.distance(from: digits.startIndex, to: $0) } ?? digits.count
        digits.removeAll { $0 == "." }
        var d = digits.map { Int($0.asciiValue ?? 48) - 48 }
        let keep = point + precision
        while d.count < keep + 1 { d.append(0) }
        var kept = Array(d[0..<keep])
        let rest = d[keep...]
        let first = rest.first ?? 0
        let tailNonZero = rest.dropFirst().contains { $0 != 0 }
        let roundUp = first > 5 || (first == 5 && (tailNonZero || (kept.last ?? 0) % 2 == 1))
        var intLen = point
        if roundUp {
            var k = kept.count - 1
            while k >= 0 {
                if kept[k] == 9 { kept[k] = 0; k -= 1 } else { kept[k] += 1; break }
            }
            if k < 0 { kept.insert(1, at: 0); intLen += 1 }
        }
        var intPart = kept[0..<intLen].map(String.init).joined()
        while intPart.count > 1 && intPart.hasPrefix("0") { intPart.removeFirst() }
        if intPart.isEmpty { intPart = "0" }
        let frac = kept[intLen...].map(String.init).joined()
        return (negative ? "-" : "") + intPart + (precision > 0 ? "." + frac : "")
    }

    /// The exact decimal value of a finite non-negative double, as "int.frac".
    private static func exactDecimal(_ x: Double) -> String {
        // x = m * 2^e with integer m; build the digits with arbitrary-precision base 10^9 arithmetic.
        let e = Int(x.exponent) - 52
        var m = x.significandBitPattern | (x.isNormal ? (1 << 52) : 0)
        var exp = e
        if !x.isNormal { exp = -1074 }
        if m == 0 { return "0" }
        while m & 1 == 0 { m >>= 1; exp += 1 }
        var big: [UInt32] = [UInt32(m % 1_000_000_000), UInt32((m / 1_000_000_000) % 1_000_000_000), UInt32(m / 1_000_000_000_000_000_000)]
        func mul(_ k: UInt64) {
            var carry: UInt64 = 0
            for i in 0..<big.count {
                let v = UInt64(big[i]) * k + carry
                big[i] = UInt32(v % 1_000_000_000)
                carry = v / 1_000_000_000
            }
            while carry > 0 { big.append(UInt32(carry % 1_000_000_000)); carry /= 1_000_000_000 }
        }
        var fracDigits = 0
        if exp >= 0 { for _ in 0..<exp { mul(2) } } else { for _ in 0..<(-exp) { mul(5) }; fracDigits = -exp }
        while big.count > 1 && big.last == 0 { big.removeLast() }
        var s = String(big.last ?? 0)
        for chunk in big.dropLast().reversed() {
            let c = String(chunk)
            s += String(repeating: "0", count: 9 - c.count) + c
        }
        if fracDigits == 0 { return s }
        if s.count <= fracDigits { s = String(repeating: "0", count: fracDigits - s.count + 1) + s }
        let idx = s.index(s.endIndex, offsetBy: -fracDigits)
        return String(s[..<idx]) + "." + String(s[idx...])
    }
}
