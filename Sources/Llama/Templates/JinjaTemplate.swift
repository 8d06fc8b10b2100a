import Foundation

/// A parsed Jinja template, rendered as Python's jinja2 3.1 renders it in the environment
/// HF transformers' `apply_chat_template` sets up: `trim_blocks` and `lstrip_blocks` on,
/// loop controls (`break`, `continue`), HF's `{% generation %}` tag, no autoescaping, the
/// immutable sandbox (lists and dicts cannot be changed in place), and the globals
/// `raise_exception`, `strftime_now`, `namespace`, `dict` and `range`.
public struct JinjaTemplate: @unchecked Sendable {
    // Sendable: the tree is immutable once parsed, and its literals hold no reference types.
    let nodes: [JinjaNode]
    let rootSymbols: (storedFirst: Set<String>, referenced: Set<String>)

    /// Parses `source`; throws `JinjaError.syntax` with the line and column of the problem.
    public init(_ source: String) throws {
        nodes = try JinjaParser.parse(source)
        rootSymbols = JinjaNameCheck.frameSymbols(nodes)
    }

    /// Renders with these top-level variables. `now` is what `strftime_now` formats (the
    /// local time when nil). Throws `JinjaError.runtime` where jinja2 would raise.
    public func render(_ variables: [String: JinjaValue], now: JinjaDateTime? = nil) throws -> String {
        let interpreter = JinjaInterpreter(variables: variables, now: now ?? .current, rootSymbols: rootSymbols)
        return try interpreter.render(nodes)
    }
}

extension JinjaDateTime {
    /// The local wall-clock time now (Python's `datetime.now()`).
    public static var current: JinjaDateTime {
        let c = Calendar.current.dateComponents([.year, .month, .day, .hour, .minute, .second], from: Date())
        return JinjaDateTime(year: c.year ?? 1970, month: c.month ?? 1, day: c.day ?? 1,
                             hour: c.hour ?? 0, minute: c.minute ?? 0, second: c.second ?? 0)
    }

    /// Parses ISO 8601 local time: `2026-12-01T09:30:00`, `2026-12-01 09:30`, or a date alone.
    public init?(iso text: String) {
        let parts = text.split(whereSeparator: { $0 == "T" || $0 == " " })
        guard parts.count == 1 || parts.count == 2 else { return nil }
        let date = parts[0].split(separator: "-").map { Int($0) }
        guard date.count == 3, let y = date[0], let m = date[1], let d = date[2], (1...12).contains(m), (1...31).contains(d) else { return nil }
        var hms = [0, 0, 0]
        if parts.count == 2 {
            let t = parts[1].split(separator: ":").map { Int($0) }
            guard (2...3).contains(t.count), !t.contains(where: { $0 == nil }) else { return nil }
            for (i, v) in t.enumerated() { hms[i] = v ?? 0 }
            guard (0...23).contains(hms[0]), (0...59).contains(hms[1]), (0...60).contains(hms[2]) else { return nil }
        }
        self.init(year: y, month: m, day: d, hour: hms[0], minute: hms[1], second: hms[2])
    }
}
