import Foundation
import Hummingbird
import Llama
import Logging
import NIOCore

/// How `llama serve` listens and what it accepts.
public struct ServerOptions: Sendable {
    public var host = "127.0.0.1"
    /// 0: any free port (the one chosen is printed when the server is up).
    public var port = 8080
    /// When set, every route but `/health` needs `Authorization: Bearer KEY`.
    public var apiKey: String?
    /// Request bodies larger than this get a 413.
    public var maxBody = 1 << 20
    /// The model name `/v1/models` lists (requests may name any model: it is echoed back).
    public var modelName = "model"

    public init() {}
}

/// The OpenAI-compatible routes over one engine.
public final class OpenAIServer: Sendable {
    public let engine: Engine
    public let tokenizer: any Tokenizer
    public let chat: ModelChat
    public let options: ServerOptions
    let created = Int(Date().timeIntervalSince1970)

    public init(engine: Engine, tokenizer: any Tokenizer, chat: ModelChat, options: ServerOptions) {
        self.engine = engine
        self.tokenizer = tokenizer
        self.chat = chat
        self.options = options
    }

    /// Serves until SIGINT or SIGTERM: then stops accepting connections, lets the requests in
    /// flight finish, and returns. `onListening` gets the bound port.
    public func run(onListening: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        let router = Router(context: ServerContext.self)
        router.middlewares.add(LogMiddleware())
        router.middlewares.add(ErrorMiddleware())
        if let key = options.apiKey { router.middlewares.add(AuthMiddleware(key: key)) }
        addRoutes(router)
        var logger = Logger(label: "llama-serve")
        logger.logLevel = .critical
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(options.host, port: options.port), serverName: "llama-serve"),
            onServerRunning: { channel in onListening(channel.localAddress?.port ?? 0) },
            logger: logger)
        try await app.runService()  // graceful shutdown on SIGTERM and SIGINT
        engine.shutdown()
    }

    func addRoutes(_ router: Router<ServerContext>) {
        router.get("/health") { _, _ in
            let load = self.engine.load
            return jsonResponse(object([
                "status": .string("ok"),
                "slots_idle": .int(self.engine.slotCount - load.active),
                "slots_processing": .int(load.active),
                "requests_waiting": .int(load.waiting),
            ]))
        }
        router.get("/v1/models") { _, _ in
            jsonResponse(object([
                "object": .string("list"),
                "data": .list([object([
                    "id": .string(self.options.modelName), "object": .string("model"),
                    "created": .int(self.created), "owned_by": .string("swiftllama"),
                    "meta": object(["n_ctx": .int(self.engine.context), "n_vocab": .int(self.tokenizer.vocabularySize)]),
                ])]),
            ]))
        }
        router.post("/tokenize") { request, context in
            let f = try await self.fields(request, context)
            guard let content = try f.string("content") else { throw APIError.badRequest("'content' is required", param: "content") }
            let addSpecial = try f.bool("add_special") ?? true
            let ids = self.tokenizer.encode(content, addBOS: addSpecial && self.tokenizer.addsBOSByDefault, allowSpecial: true)
            return jsonResponse(object(["tokens": .list(ids.map { .int($0) })]))
        }
        router.post("/detokenize") { request, context in
            let f = try await self.fields(request, context)
            guard let list = f.present("tokens")?.asList else { throw APIError.badRequest("'tokens' must be a list of token ids", param: "tokens") }
            var bytes: [UInt8] = []
            for (i, v) in list.enumerated() {
                guard case let .int(id) = v, let b = self.tokenizer.decodedBytes(of: id, atStart: i == 0) else {
                    throw APIError.badRequest("tokens[\(i)] is not an id of the vocabulary (0..<\(self.tokenizer.vocabularySize))", param: "tokens")
                }
                bytes += b
            }
            return jsonResponse(object(["content": .string(String(decoding: bytes, as: UTF8.self))]))
        }
        router.post("/v1/completions") { request, context in
            try await self.completion(request, context, chat: false)
        }
        router.post("/v1/chat/completions") { request, context in
            try await self.completion(request, context, chat: true)
        }
    }

    func fields(_ request: Request, _ context: ServerContext) async throws -> Fields {
        var request = request
        let body: ByteBuffer
        do { body = try await request.collectBody(upTo: options.maxBody) } catch is NIOTooManyBytesError {
            throw APIError(status: 413, message: "the request body is larger than the server's limit of \(options.maxBody) bytes (--max-body)",
                           type: "invalid_request_error", param: nil, code: "request_too_large")
        }
        return try Fields(body: Array(buffer: body))
    }

    /// `/v1/completions` and `/v1/chat/completions`.
    func completion(_ request: Request, _ context: ServerContext, chat isChat: Bool) async throws -> Response {
        let f = try await fields(request, context)
        let g = try GenerationFields(f, maxTokenNames: isChat ? ["max_tokens", "max_completion_tokens"] : ["max_tokens"])
        var prompt: [TokenID]
        var stopStrings = g.stops
        var stopIDs: Set<TokenID>? = nil
        var logprobs: Int? = nil
        if isChat {
            let messages = try chatMessages(f)
            do { prompt = try chat.promptTokens(messages: messages, tokenizer: tokenizer) } catch {
                throw APIError.badRequest("the chat template failed on these messages: \(error)", param: "messages")
            }
            stopIDs = chat.stopIDs
            stopStrings += chat.stopTexts
            if try f.bool("logprobs") == true {
                logprobs = try f.int("top_logprobs", min: 0, max: 20) ?? 0
            } else if f.present("top_logprobs") != nil {
                throw APIError.badRequest("'top_logprobs' needs 'logprobs': true", param: "top_logprobs")
            }
        } else {
            try f.refuseUnsupported(["logprobs": { _ in false }])
            guard let p = f.present("prompt") else { throw APIError.badRequest("'prompt' is required", param: "prompt") }
            switch p {
            case let .string(s): prompt = engine.encode(s)
            case let .list(items) where items.count == 1 && items[0].asString != nil:
                prompt = engine.encode(items[0].asString ?? "")
            case let .list(items) where !items.isEmpty && items.allSatisfy({ if case .int = $0 { return true } else { return false } }):
                prompt = items.compactMap { if case let .int(i) = $0 { return i } else { return nil } }
            case .list:
                throw APIError.badRequest("'prompt' must be a string, a list of one string, or a list of token ids (one prompt per request)", param: "prompt")
            default:
                throw APIError.badRequest("'prompt' must be a string or a list of token ids", param: "prompt")
            }
            if prompt.isEmpty { throw APIError.badRequest("'prompt' gives no tokens", param: "prompt") }
        }
        // llama-server's extension: generate through end-of-generation tokens.
        if try f.bool("ignore_eos") == true { stopIDs = [] }
        let engineRequest = EngineRequest(prompt: prompt, maxTokens: g.maxTokens, sampling: g.sampling,
                                          stopStrings: stopStrings, stopIDs: stopIDs, logprobs: logprobs)
        let stream: AsyncThrowingStream<EngineEvent, Error>
        do { stream = try engine.submit(engineRequest) } catch let e as EngineError {
            switch e {
            case .queueFull, .shutDown:
                throw APIError(status: 503, message: e.description, type: "server_error", param: nil, code: "server_busy", retryAfter: 1)
            case .promptTooLong:
                throw APIError.badRequest(e.description, param: isChat ? "messages" : "prompt", code: "context_length_exceeded")
            default:
                throw APIError.badRequest(e.description, param: isChat ? "messages" : "prompt")
            }
        }
        let id = (isChat ? "chatcmpl-" : "cmpl-") + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let model = g.model ?? options.modelName
        let shape = ResponseShape(id: id, model: model, created: Int(Date().timeIntervalSince1970), chat: isChat, tokenizer: tokenizer)
        context.log.deferred = true
        let log = context.log

        if !g.stream {
            // Nothing is written until the reply is ready, so a write error cannot tell that
            // the client went away: the connection's own close (or reset) cancels instead.
            let collect = Task { () async throws -> (String, [TokenLogprob], EngineCompletion?) in
                var text = ""
                var pieces: [TokenLogprob] = []
                for try await event in stream {
                    switch event {
                    case let .piece(p):
                        text += p.text
                        if let lp = p.logprob { pieces.append(lp) }
                    case let .finished(c): return (text, pieces, c)
                    }
                }
                return (text, pieces, nil)
            }
            let watcher = DisconnectWatcher { collect.cancel() }
            let channel = context.channel
            do { try await channel.pipeline.addHandler(watcher, position: .first).get() } catch { collect.cancel() }
            if !channel.isActive { collect.cancel() }
            defer { channel.pipeline.removeHandler(watcher, promise: nil) }
            let (text, pieces, done) = try await withTaskCancellationHandler { try await collect.value } onCancel: { collect.cancel() }
            guard let done else {
                context.log.deferred = false
                throw APIError(status: 499, message: "the client closed the connection before the reply was ready; its generation was cancelled",
                               type: "client_closed_request")
            }
            log.finish(status: 200, completion: done)
            return jsonResponse(shape.full(text: text, logprobs: logprobs != nil ? pieces : nil, completion: done))
        }

        let includeUsage = g.includeUsage
        let body = ResponseBody { writer in
            var completion: EngineCompletion? = nil
            do {
                if isChat { try await writer.write(sse(shape.chunk(role: true, text: "", logprobs: nil, finish: nil))) }
                for try await event in stream {
                    switch event {
                    case let .piece(p):
                        if p.text.isEmpty && p.logprob == nil { continue }
                        try await writer.write(sse(shape.chunk(role: false, text: p.text, logprobs: p.logprob.map { [$0] }, finish: nil)))
                    case let .finished(c):
                        completion = c
                        try await writer.write(sse(shape.chunk(role: false, text: nil, logprobs: nil, finish: finishReason(c.finishReason), completion: c)))
                        if includeUsage { try await writer.write(sse(shape.usageChunk(c))) }
                    }
                }
                try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
                try await writer.finish(nil)
                if let completion { log.finish(status: 200, completion: completion) }
            } catch {
                // The client went away (or the engine failed): leaving the loop drops the
                // stream, which cancels the sequence and frees its slot.
                log.finish(status: 499, completion: completion, note: "stream ended early: \(error)")
                throw error
            }
        }
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        return Response(status: .ok, headers: headers, body: body)
    }
}

func finishReason(_ r: FinishReason) -> String {
    switch r {
    case .endOfGeneration, .stoppedByCaller: return "stop"
    case .maxTokens, .contextFull: return "length"
    }
}

func sse(_ value: JinjaValue) -> ByteBuffer {
    ByteBuffer(string: "data: " + value.json + "\n\n")
}

func jsonResponse(_ value: JinjaValue, status: HTTPResponse.Status = .ok) -> Response {
    var headers = HTTPFields()
    headers[.contentType] = "application/json"
    return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: value.json + "\n")))
}

/// The JSON of completions, chat completions and their stream chunks.
struct ResponseShape: Sendable {
    let id: String
    let model: String
    let created: Int
    let chat: Bool
    let tokenizer: any Tokenizer

    func usage(_ c: EngineCompletion) -> JinjaValue {
        object([
            "prompt_tokens": .int(c.promptTokens),
            "completion_tokens": .int(c.generatedTokens),
            "total_tokens": .int(c.promptTokens + c.generatedTokens),
            "prompt_tokens_details": object(["cached_tokens": .int(c.cachedTokens)]),
        ])
    }

    /// llama-server's `timings` object (its field names), plus `max_token_gap_ms`: the
    /// longest wait between two of this request's tokens, timed in the engine.
    func timings(_ c: EngineCompletion) -> JinjaValue {
        let evaluated = c.promptTokens - c.cachedTokens
        let promptMS = c.promptSeconds * 1000, predictedMS = c.generationSeconds * 1000
        // The first token comes with the prompt's last step: the generation time covers the rest.
        let later = max(0, c.generatedTokens - 1)
        func rate(_ n: Int, _ ms: Double) -> JinjaValue { ms > 0 ? .double(Double(n) / ms * 1000) : .double(0) }
        func perToken(_ n: Int, _ ms: Double) -> JinjaValue { n > 0 ? .double(ms / Double(n)) : .double(0) }
        return object([
            "cache_n": .int(c.cachedTokens),
            "prompt_n": .int(evaluated), "prompt_ms": .double(promptMS),
            "prompt_per_token_ms": perToken(evaluated, promptMS), "prompt_per_second": rate(evaluated, promptMS),
            "predicted_n": .int(c.generatedTokens), "predicted_ms": .double(predictedMS),
            "predicted_per_token_ms": perToken(later, predictedMS), "predicted_per_second": rate(later, predictedMS),
            "max_token_gap_ms": .double(c.longestTokenGapSeconds * 1000),
        ])
    }

    func tokenText(_ id: TokenID) -> (String, [UInt8]) {
        let bytes = tokenizer.decodedBytes(of: id, atStart: false) ?? []
        return (String(decoding: bytes, as: UTF8.self), bytes)
    }

    func logprobsJSON(_ items: [TokenLogprob]) -> JinjaValue {
        object(["content": .list(items.map { lp in
            let (text, bytes) = tokenText(lp.id)
            return object([
                "token": .string(text), "logprob": .double(Double(lp.logprob)),
                "bytes": .list(bytes.map { .int(Int($0)) }),
                "top_logprobs": .list(lp.top.map { alt in
                    let (t, b) = tokenText(alt.id)
                    return object(["token": .string(t), "logprob": .double(Double(alt.logprob)), "bytes": .list(b.map { .int(Int($0)) })])
                }),
            ])
        })])
    }

    func full(text: String, logprobs: [TokenLogprob]?, completion c: EngineCompletion) -> JinjaValue {
        let choice: JinjaValue
        if chat {
            choice = object([
                "index": .int(0),
                "message": object(["role": .string("assistant"), "content": .string(text)]),
                "logprobs": logprobs.map(logprobsJSON) ?? JinjaValue.none,
                "finish_reason": .string(finishReason(c.finishReason)),
            ])
        } else {
            choice = object([
                "index": .int(0), "text": .string(text), "logprobs": JinjaValue.none,
                "finish_reason": .string(finishReason(c.finishReason)),
            ])
        }
        return object([
            "id": .string(id), "object": .string(chat ? "chat.completion" : "text_completion"),
            "created": .int(created), "model": .string(model), "system_fingerprint": .string("swiftllama"),
            "choices": .list([choice]), "usage": usage(c), "timings": timings(c),
        ])
    }

    /// A stream chunk: `text` nil with `finish` for the last one, which also carries the
    /// timings (as llama-server's does).
    func chunk(role: Bool, text: String?, logprobs: [TokenLogprob]?, finish: String?, completion: EngineCompletion? = nil) -> JinjaValue {
        let choice: JinjaValue
        if chat {
            var delta = JinjaDict()
            if role { delta["role"] = .string("assistant") }
            if let text { delta["content"] = .string(text) }
            choice = object([
                "index": .int(0), "delta": .dict(delta),
                "logprobs": logprobs.map(logprobsJSON) ?? JinjaValue.none,
                "finish_reason": finish.map { .string($0) } ?? JinjaValue.none,
            ])
        } else {
            choice = object([
                "index": .int(0), "text": .string(text ?? ""), "logprobs": JinjaValue.none,
                "finish_reason": finish.map { .string($0) } ?? JinjaValue.none,
            ])
        }
        let value = object([
            "id": .string(id), "object": .string(chat ? "chat.completion.chunk" : "text_completion"),
            "created": .int(created), "model": .string(model), "system_fingerprint": .string("swiftllama"),
            "choices": .list([choice]),
        ])
        guard let completion, case var .dict(fields) = value else { return value }
        fields["timings"] = timings(completion)
        return .dict(fields)
    }

    func usageChunk(_ c: EngineCompletion) -> JinjaValue {
        object([
            "id": .string(id), "object": .string(chat ? "chat.completion.chunk" : "text_completion"),
            "created": .int(created), "model": .string(model), "system_fingerprint": .string("swiftllama"),
            "choices": .list([]), "usage": usage(c),
        ])
    }
}

// MARK: Context and middleware

/// What the log line of a request says, filled in by the handler (a reference shared with
/// the log middleware).
final class RequestLog: @unchecked Sendable {
    private let lock = NSLock()
    private var _deferred = false
    var method = ""
    var path = ""
    let start = ContinuousClock.now

    /// Set by a generation handler: it writes the line itself when the generation ends.
    var deferred: Bool {
        get { lock.lock(); defer { lock.unlock() }; return _deferred }
        set { lock.lock(); _deferred = newValue; lock.unlock() }
    }

    func finish(status: Int, completion: EngineCompletion?, note: String? = nil) {
        var line = "\(method) \(path) \(status)"
        if let c = completion {
            line += " prompt=\(c.promptTokens) cached=\(c.cachedTokens) completion=\(c.generatedTokens) finish=\(finishReason(c.finishReason))"
            line += String(format: " max_gap=%.0fms", c.longestTokenGapSeconds * 1000)
        }
        line += String(format: " %.0fms", (ContinuousClock.now - start).milliseconds)
        if let note { line += " (\(note))" }
        writeLog(line)
    }
}

func writeLog(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

extension Duration {
    var milliseconds: Double {
        let c = components
        return Double(c.seconds) * 1000 + Double(c.attoseconds) * 1e-15
    }
}

public struct ServerContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    let log = RequestLog()
    /// The request's connection, to notice a client that goes away.
    let channel: any Channel

    public init(source: Source) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// Calls `onGone` once when the client's side of the connection closes or the connection
/// ends. Placed first in the pipeline while a non-streaming generation runs: `llama serve`
/// allows half-closed connections, so a client that exits shows up as an input-closed event,
/// not as a closed channel.
final class DisconnectWatcher: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    private let lock = NSLock()
    private var onGone: (@Sendable () -> Void)?

    init(onGone: @escaping @Sendable () -> Void) { self.onGone = onGone }

    private func fire() {
        lock.lock()
        let action = onGone
        onGone = nil
        lock.unlock()
        action?()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let e = event as? ChannelEvent, e == .inputClosed { fire() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        fire()
        context.fireChannelInactive()
    }
}

/// One line per request on stderr: method, route, status, tokens, milliseconds.
struct LogMiddleware: RouterMiddleware {
    func handle(_ request: Request, context: ServerContext, next: (Request, ServerContext) async throws -> Response) async throws -> Response {
        context.log.method = request.method.rawValue
        context.log.path = request.uri.path
        let response = try await next(request, context)
        if !context.log.deferred { context.log.finish(status: response.status.code, completion: nil) }
        return response
    }
}

/// Every failure as OpenAI's error JSON.
struct ErrorMiddleware: RouterMiddleware {
    func handle(_ request: Request, context: ServerContext, next: (Request, ServerContext) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let e as APIError {
            context.log.deferred = false
            return respond(e)
        } catch let e as HTTPError {
            context.log.deferred = false
            let status = Int(e.status.code)
            switch status {
            case 404: return respond(APIError(status: 404, message: "no route \(request.method.rawValue) \(request.uri.path)", type: "not_found_error", code: "not_found"))
            case 405: return respond(APIError(status: 405, message: "method \(request.method.rawValue) is not allowed on \(request.uri.path)", type: "invalid_request_error"))
            case 413: return respond(APIError(status: 413, message: "the request body is too large", type: "invalid_request_error", code: "request_too_large"))
            default: return respond(APIError(status: status, message: e.body ?? "\(e.status.reasonPhrase)", type: status >= 500 ? "server_error" : "invalid_request_error"))
            }
        } catch is NIOTooManyBytesError {
            context.log.deferred = false
            return respond(APIError(status: 413, message: "the request body is too large", type: "invalid_request_error", code: "request_too_large"))
        } catch {
            context.log.deferred = false
            return respond(APIError(status: 500, message: "\(error)", type: "server_error"))
        }
    }

    func respond(_ e: APIError) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        if let r = e.retryAfter { headers[.retryAfter] = String(r) }
        return Response(status: .init(code: e.status), headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: e.json + "\n")))
    }
}

/// `Authorization: Bearer KEY` on every route but `/health`.
struct AuthMiddleware: RouterMiddleware {
    let key: String

    func handle(_ request: Request, context: ServerContext, next: (Request, ServerContext) async throws -> Response) async throws -> Response {
        if request.uri.path == "/health" { return try await next(request, context) }
        let given = request.headers[.authorization]
        guard let given, given.hasPrefix("Bearer "), constantTimeEqual(Array(given.utf8.dropFirst(7)), Array(key.utf8)) else {
            throw APIError(status: 401, message: given == nil ? "no API key: send Authorization: Bearer KEY" : "the API key is wrong",
                           type: "authentication_error", param: nil, code: "invalid_api_key")
        }
        return try await next(request, context)
    }

    func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in a.indices { diff |= a[i] ^ b[i] }
        return diff == 0
    }
}
