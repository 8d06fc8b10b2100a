import Foundation
import Llama

/// An OpenAI-shaped error: the HTTP status and `{"error": {"message", "type", "param", "code"}}`.
public struct APIError: Error, CustomStringConvertible {
    public var status: Int
    public var message: String
    public var type: String
    public var param: String?
    public var code: String?
    /// Seconds for `Retry-After` (503).
    public var retryAfter: Int?

    public var description: String { "\(status) \(type): \(message)" }

    static func badRequest(_ message: String, param: String? = nil, code: String? = nil) -> APIError {
        APIError(status: 400, message: message, type: "invalid_request_error", param: param, code: code)
    }

    var json: String {
        var e = JinjaDict()
        e["message"] = .string(message)
        e["type"] = .string(type)
        e["param"] = param.map { .string($0) } ?? JinjaValue.none
        e["code"] = code.map { .string($0) } ?? JinjaValue.none
        var d = JinjaDict()
        d["error"] = .dict(e)
        return JinjaValue.dict(d).json
    }
}

extension JinjaValue {
    /// One-line JSON (every value built here is JSON-representable).
    var json: String { (try? jsonText()) ?? "null" }

    var asString: String? { if case let .string(s) = self { return s } else { return nil } }
    var asDict: JinjaDict? { if case let .dict(d) = self { return d } else { return nil } }
    var asList: [JinjaValue]? { if case let .list(l) = self { return l } else { return nil } }
    var isNull: Bool { if case .none = self { return true } else { return false } }
}

/// Builds a JSON object in key order.
func object(_ pairs: KeyValuePairs<String, JinjaValue>) -> JinjaValue {
    var d = JinjaDict()
    for (k, v) in pairs { d[k] = v }
    return .dict(d)
}

/// A request body's fields, read with OpenAI's types and defaults; every mistake is a 400
/// naming the field.
struct Fields {
    let dict: JinjaDict

    init(body: [UInt8]) throws {
        guard let text = String(validating: body, as: UTF8.self) else {
            throw APIError.badRequest("the request body is not valid UTF-8")
        }
        let value: JinjaValue
        do { value = try JinjaValue.parseJSON(text) } catch {
            throw APIError.badRequest("the request body is not valid JSON: \(error)")
        }
        guard let d = value.asDict else { throw APIError.badRequest("the request body must be a JSON object") }
        dict = d
    }

    func present(_ name: String) -> JinjaValue? {
        guard let v = dict[name], !v.isNull else { return nil }
        return v
    }

    func string(_ name: String) throws -> String? {
        guard let v = present(name) else { return nil }
        guard let s = v.asString else { throw APIError.badRequest("'\(name)' must be a string", param: name) }
        return s
    }

    func bool(_ name: String) throws -> Bool? {
        guard let v = present(name) else { return nil }
        guard case let .bool(b) = v else { throw APIError.badRequest("'\(name)' must be a boolean", param: name) }
        return b
    }

    func int(_ name: String, min lower: Int? = nil, max upper: Int? = nil) throws -> Int? {
        guard let v = present(name) else { return nil }
        let i: Int
        switch v {
        case let .int(x): i = x
        case let .double(d) where d == d.rounded() && abs(d) < 1e15: i = Int(d)
        default: throw APIError.badRequest("'\(name)' must be an integer", param: name)
        }
        if let lower, i < lower { throw APIError.badRequest("'\(name)' must be at least \(lower), got \(i)", param: name) }
        if let upper, i > upper { throw APIError.badRequest("'\(name)' must be at most \(upper), got \(i)", param: name) }
        return i
    }

    func number(_ name: String, min lower: Double? = nil, max upper: Double? = nil) throws -> Double? {
        guard let v = present(name) else { return nil }
        let x: Double
        switch v {
        case let .int(i): x = Double(i)
        case let .double(d): x = d
        default: throw APIError.badRequest("'\(name)' must be a number", param: name)
        }
        guard x.isFinite else { throw APIError.badRequest("'\(name)' must be a finite number", param: name) }
        if let lower, x < lower { throw APIError.badRequest("'\(name)' must be at least \(lower), got \(x)", param: name) }
        if let upper, x > upper { throw APIError.badRequest("'\(name)' must be at most \(upper), got \(x)", param: name) }
        return x
    }

    /// `stop`: a string or a list of up to 16 strings.
    func stops() throws -> [String] {
        guard let v = present("stop") else { return [] }
        if let s = v.asString { return [s] }
        guard let list = v.asList else { throw APIError.badRequest("'stop' must be a string or a list of strings", param: "stop") }
        guard list.count <= 16 else { throw APIError.badRequest("'stop' has \(list.count) strings; at most 16", param: "stop") }
        return try list.map {
            guard let s = $0.asString else { throw APIError.badRequest("'stop' must be a string or a list of strings", param: "stop") }
            return s
        }
    }

    /// Fields this server does not implement: a 400 when they ask for something other than
    /// the default, rather than silently ignoring them.
    func refuseUnsupported(_ names: [String: (JinjaValue) -> Bool]) throws {
        for (name, isDefault) in names {
            if let v = present(name), !isDefault(v) {
                throw APIError.badRequest("'\(name)' is not supported by this server", param: name, code: "unsupported_parameter")
            }
        }
    }
}

/// Sampling and limits common to both generation routes.
struct GenerationFields {
    var maxTokens: Int?
    var sampling: SamplingParameters
    var stops: [String]
    var stream: Bool
    var includeUsage: Bool
    var model: String?

    init(_ f: Fields, maxTokenNames: [String]) throws {
        try f.refuseUnsupported([
            "n": { if case .int(1) = $0 { return true } else { return false } },
            "best_of": { if case .int(1) = $0 { return true } else { return false } },
            "echo": { if case .bool(false) = $0 { return true } else { return false } },
            "suffix": { _ in false },
            "logit_bias": { $0.asDict?.count == 0 },
            "tools": { $0.asList?.isEmpty == true },
            "functions": { _ in false },
            "presence_penalty": { v in if case .int(0) = v { return true }; if case .double(0) = v { return true }; return false },
            "frequency_penalty": { v in if case .int(0) = v { return true }; if case .double(0) = v { return true }; return false },
        ])
        if let n = f.present("n"), case .int = n {} else if f.present("n") != nil {
            throw APIError.badRequest("'n' must be an integer", param: "n")
        }
        if let rf = f.present("response_format") {
            guard let d = rf.asDict, d["type"]?.asString == "text" else {
                throw APIError.badRequest("'response_format' other than {\"type\": \"text\"} is not supported by this server", param: "response_format", code: "unsupported_parameter")
            }
        }
        model = try f.string("model")
        var limit: Int? = nil
        for name in maxTokenNames {
            if let v = try f.int(name, min: 0) { limit = v }
        }
        maxTokens = limit
        // OpenAI's defaults: temperature 1, top_p 1, no top-k or min-p, no repeat penalty.
        let temperature = try f.number("temperature", min: 0, max: 2) ?? 1
        let topP = try f.number("top_p", min: 0, max: 1) ?? 1
        let topK = try f.int("top_k", min: 0) ?? 0
        let minP = try f.number("min_p", min: 0, max: 1) ?? 0
        let repeatPenalty = try f.number("repeat_penalty", min: 0.01) ?? 1
        let seed = try f.int("seed").map { UInt64(bitPattern: Int64($0)) } ?? UInt64.random(in: 0...UInt64.max)
        sampling = SamplingParameters(temperature: Float(temperature), topK: topK, topP: topP <= 0 ? Float.leastNonzeroMagnitude : Float(topP),
                                      minP: Float(minP), repeatPenalty: Float(repeatPenalty), seed: seed)
        stops = try f.stops()
        stream = try f.bool("stream") ?? false
        includeUsage = false
        if let so = f.present("stream_options") {
            guard let d = so.asDict else { throw APIError.badRequest("'stream_options' must be an object", param: "stream_options") }
            if let iu = d["include_usage"], !iu.isNull {
                guard case let .bool(b) = iu else { throw APIError.badRequest("'stream_options.include_usage' must be a boolean", param: "stream_options.include_usage") }
                includeUsage = b
            }
        }
    }
}

/// The messages of a chat request, checked and with content parts joined to text.
func chatMessages(_ f: Fields) throws -> JinjaValue {
    guard let v = f.present("messages") else { throw APIError.badRequest("'messages' is required", param: "messages") }
    guard let list = v.asList, !list.isEmpty else { throw APIError.badRequest("'messages' must be a non-empty list", param: "messages") }
    var out: [JinjaValue] = []
    for (i, m) in list.enumerated() {
        guard var d = m.asDict else { throw APIError.badRequest("messages[\(i)] must be an object", param: "messages") }
        guard let role = d["role"]?.asString else { throw APIError.badRequest("messages[\(i)].role must be a string", param: "messages") }
        guard ["system", "developer", "user", "assistant", "tool"].contains(role) else {
            throw APIError.badRequest("messages[\(i)].role '\(role)' is not one of system, developer, user, assistant, tool", param: "messages")
        }
        switch d["content"] {
        case nil, .some(.none), .some(.string): break
        case let .some(.list(parts)):
            var text = ""
            for (j, part) in parts.enumerated() {
                guard let p = part.asDict, p["type"]?.asString == "text", let t = p["text"]?.asString else {
                    throw APIError.badRequest("messages[\(i)].content[\(j)]: only text parts ({\"type\": \"text\", \"text\": ...}) are supported", param: "messages")
                }
                text += t
            }
            d["content"] = .string(text)
        default:
            throw APIError.badRequest("messages[\(i)].content must be a string or a list of text parts", param: "messages")
        }
        out.append(.dict(d))
    }
    return .list(out)
}
