import Foundation

// Reading `tokenizer.json` (and `tokenizer_config.json` beside it) into a
// `HuggingFaceTokenizer`. Every error names the file and the JSON field.

extension HuggingFaceTokenizer {
    /// True when the bytes start like a JSON object.
    public static func looksLikeTokenizerJSON(_ prefix: some Collection<UInt8>) -> Bool {
        for b in prefix {
            if b == 32 || b == 9 || b == 10 || b == 13 { continue }
            return b == UInt8(ascii: "{")
        }
        return false
    }

    /// Loads `tokenizer.json`; `tokenizer_config.json` and `chat_template.jinja` in the same
    /// folder are read when present.
    public static func load(path: String) throws -> HuggingFaceTokenizer {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TokenizerLoadError.malformed(path: path, reason: "cannot read the file")
        }
        let dir = (path as NSString).deletingLastPathComponent
        let configPath = (dir as NSString).appendingPathComponent("tokenizer_config.json")
        var config: [String: Any] = [:]
        if let c = FileManager.default.contents(atPath: configPath) {
            guard let obj = (try? JSONSerialization.jsonObject(with: c)) as? [String: Any] else {
                throw TokenizerLoadError.malformed(path: configPath, reason: "not a JSON object")
            }
            config = obj
        }
        var template = config["chat_template"] as? String
        if template == nil {
            let jinja = (dir as NSString).appendingPathComponent("chat_template.jinja")
            if let d = FileManager.default.contents(atPath: jinja) { template = String(decoding: d, as: UTF8.self) }
        }
        let tokenizer = try parse(data, path: path, config: config, chatTemplate: template)
        tokenizer.sourcePath = path
        return tokenizer
    }

    /// Builds the tokenizer from the bytes of a `tokenizer.json`; `config` is the parsed
    /// `tokenizer_config.json` (empty when there is none).
    public static func parse(_ data: Data, path: String, config: [String: Any] = [:], chatTemplate: String? = nil) throws -> HuggingFaceTokenizer {
        func fail(_ reason: String) -> TokenizerLoadError { .malformed(path: path, reason: reason) }
        let ordered: OrderedJSON
        do { ordered = try OrderedJSON.parse(data) } catch { throw fail("\(error)") }
        // Foundation values for everything but the (large) vocabulary and merges, which are
        // read from the ordered form.
        guard case let .object(rootMembers) = ordered else { throw fail("not a JSON object") }
        var root: [String: Any] = [:]
        for (key, value) in rootMembers where root[key] == nil {
            if key == "model", case let .object(modelMembers) = value {
                var m: [String: Any] = [:]
                for (k, v) in modelMembers where m[k] == nil {
                    m[k] = (k == "vocab" || k == "merges") ? NSNull() : v.foundationValue()
                }
                root[key] = m
            } else {
                root[key] = value.foundationValue()
            }
        }
        guard let modelJSON = root["model"] as? [String: Any] else { throw fail("no \"model\" object") }
        let modelType = modelJSON["type"] as? String ?? (ordered["model"]?["merges"] != nil ? "BPE" : "?")
        guard modelType == "BPE" else {
            throw fail("model.type \"\(modelType)\" is not supported (only BPE)")
        }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let v = modelJSON[key] as? String, !v.isEmpty { throw fail("model.\(key) \"\(v)\" is not supported") }
        }
        // The vocabulary from the ordered form: keys are compared byte for byte.
        guard case let .object(vocabMembers)? = ordered["model"]?["vocab"] else { throw fail("model.vocab is not an object") }
        var vocab = VocabIndex(capacity: vocabMembers.count)
        var size = 0
        for (text, v) in vocabMembers {
            guard case let .number(x) = v, x >= 0, x < Double(Int32.max), x == x.rounded() else {
                throw fail("model.vocab[\(text.debugDescription)] is not a non-negative integer id")
            }
            vocab.insert(text, Int32(x))
            size = max(size, Int(x) + 1)
        }

        // Added tokens.
        var added: [AddedToken] = []
        for (k, entry) in ((root["added_tokens"] as? [Any]) ?? []).enumerated() {
            guard let e = entry as? [String: Any], let content = e["content"] as? String,
                  let id = (e["id"] as? NSNumber)?.intValue, id >= 0, id < Int(Int32.max) else {
                throw fail("added_tokens[\(k)] needs \"content\" (a string) and \"id\" (a non-negative integer)")
            }
            func flag(_ key: String) -> Bool { (e[key] as? NSNumber)?.boolValue ?? false }
            guard !content.isEmpty else { continue }
            added.append(AddedToken(content: content, id: id, special: flag("special"), lstrip: flag("lstrip"),
                                    rstrip: flag("rstrip"), singleWord: flag("single_word")))
            size = max(size, id + 1)
        }

        // Normalizer, pre-tokenizer, decoder.
        let normalizers = try parseNormalizer(root["normalizer"], path: path, field: "normalizer")
        var pre = PreTokenizerParts()
        try pre.parse(root["pre_tokenizer"], path: path, field: "pre_tokenizer")
        let decoder = try DecoderParts(root["decoder"], path: path)
        let byteLevel = pre.byteLevel || decoder.byteLevel

        // Pieces for decoding and descriptions.
        var pieces = [[UInt8]](repeating: [], count: size)
        var texts = [String](repeating: "", count: size)
        for (text, id) in vocab.entries {
            texts[Int(id)] = text
            pieces[Int(id)] = decoder.bytes(of: text, byteLevel: byteLevel)
        }
        for a in added {
            texts[a.id] = a.content
            pieces[a.id] = Array(a.content.utf8)
        }

        // Merges.
        guard case let .array(mergesJSON)? = ordered["model"]?["merges"] else { throw fail("model.merges is not an array") }
        var pairs = PairMergeTable(capacity: mergesJSON.count)
        for (rank, m) in mergesJSON.enumerated() {
            let left: Substring, right: Substring
            if case let .string(s) = m {
                guard let space = s.utf8.firstIndex(of: 32) else {
                    throw fail("model.merges[\(rank)] (\(s.debugDescription)) is not two tokens separated by a space")
                }
                left = s[..<space]
                right = s[s.utf8.index(after: space)...]
            } else if case let .array(a) = m, a.count == 2, case let .string(l) = a[0], case let .string(r) = a[1] {
                left = Substring(l)
                right = Substring(r)
            } else {
                throw fail("model.merges[\(rank)] is neither \"a b\" nor [\"a\", \"b\"]")
            }
            guard let l = vocab[left], let r = vocab[right], let merged = vocab.concatenation(left, right) else { continue }
            pairs.insert(left: l, right: r, rank: UInt32(rank), merged: merged)
        }
        let ignoreMerges = (modelJSON["ignore_merges"] as? NSNumber)?.boolValue ?? false

        let preTokenizer = pre.preTokenizer()
        let model: Model
        if byteLevel {
            var table = ByteStringTable(capacity: vocab.entries.count)
            for (text, id) in vocab.entries {
                guard let bytes = ByteLevelBPETokenizer.bytesFromMapped(text), !bytes.isEmpty else { continue }
                table.insert(bytes, value: id)
            }
            var byteIDs = [Int32](repeating: -1, count: 256)
            for b in 0..<256 { byteIDs[b] = table.lookupArray([UInt8(b)]) ?? -1 }
            let inner = ByteLevelBPETokenizer(
                pieces: pieces, isSpecial: [Bool](repeating: false, count: size), table: table,
                mode: .byList(PairMergeTableBox(pairs)), byteIDs: byteIDs, specials: [], bosID: nil, eosID: nil,
                endOfGeneration: [], preTokenizer: preTokenizer, wholePieceShortcut: ignoreMerges, addsBOS: false)
            model = .byteLevel(inner)
        } else {
            var scalarIDs: [UInt32: Int32] = [:]
            for (text, id) in vocab.entries where text.unicodeScalars.count == 1 {
                scalarIDs[text.unicodeScalars.first!.value] = id
            }
            var fallback: [Int32]? = nil
            if (modelJSON["byte_fallback"] as? NSNumber)?.boolValue == true {
                var f = [Int32](repeating: -1, count: 256)
                for b in 0..<256 {
                    f[b] = vocab["<0x" + String(b, radix: 16, uppercase: true).leftPadded(to: 2) + ">"] ?? -1
                }
                fallback = f
            }
            var unknown: Int32? = nil
            if let u = modelJSON["unk_token"] as? String {
                guard let id = vocab[u] else { throw fail("model.unk_token \(u.debugDescription) is not in model.vocab") }
                unknown = id
            }
            var whole: ByteStringTable? = nil
            if ignoreMerges {
                var t = ByteStringTable(capacity: vocab.entries.count)
                for (text, id) in vocab.entries { t.insert(Array(text.utf8), value: id) }
                t.freeze()
                whole = t
            }
            model = .characters(CharacterBPE(
                scalarIDs: scalarIDs, byteFallback: fallback, unknownID: unknown,
                fuseUnknown: (modelJSON["fuse_unk"] as? NSNumber)?.boolValue ?? false,
                wholeTokens: whole, pairs: PairMergeTableBox(pairs)))
        }

        // Post-processor and the tokens named by tokenizer_config.json.
        let (prefix, suffix) = try parsePostProcessor(root["post_processor"], vocab: vocab, added: added, path: path, field: "post_processor")
        func configToken(_ key: String) -> TokenID? {
            var name = config[key] as? String
            if name == nil, let d = config[key] as? [String: Any] { name = d["content"] as? String }
            guard let name else { return nil }
            if let a = added.first(where: { $0.content == name }) { return a.id }
            return vocab[name].map { TokenID($0) }
        }
        let bos = prefix.first ?? configToken("bos_token")
        let eos = configToken("eos_token") ?? suffix.last

        let tokenizer = HuggingFaceTokenizer(
            addedTokens: added, normalizers: normalizers, metaspace: pre.metaspace, prefixSpace: pre.prefixSpace,
            preTokenizer: preTokenizer, model: model, prefixIDs: prefix, suffixIDs: suffix, pieces: pieces, texts: texts,
            bosID: bos, eosID: eos, chatTemplate: chatTemplate, stripLeadingSpace: decoder.stripLeadingSpace)
        tokenizer.paddingID = configToken("pad_token")
        return tokenizer
    }

    static func parseNormalizer(_ json: Any?, path: String, field: String) throws -> [Normalizer] {
        guard let j = json as? [String: Any] else {
            if json == nil || json is NSNull { return [] }
            throw TokenizerLoadError.malformed(path: path, reason: "\(field) is not an object")
        }
        let type = j["type"] as? String ?? ""
        switch type {
        case "Sequence":
            var out: [Normalizer] = []
            for (k, n) in ((j["normalizers"] as? [Any]) ?? []).enumerated() {
                out += try parseNormalizer(n, path: path, field: "\(field).normalizers[\(k)]")
            }
            return out
        case "NFC": return [.nfc]
        case "NFD": return [.nfd]
        case "NFKC": return [.nfkc]
        case "NFKD": return [.nfkd]
        case "Lowercase": return [.lowercase]
        case "Prepend":
            guard let p = j["prepend"] as? String else { throw TokenizerLoadError.malformed(path: path, reason: "\(field).prepend is not a string") }
            return [.prepend(p)]
        case "Replace":
            let regex = try parsePattern(j["pattern"], path: path, field: "\(field).pattern")
            guard let content = j["content"] as? String else { throw TokenizerLoadError.malformed(path: path, reason: "\(field).content is not a string") }
            return [.replace(regex, content)]
        case "Strip":
            return [.strip(left: (j["strip_left"] as? NSNumber)?.boolValue ?? true, right: (j["strip_right"] as? NSNumber)?.boolValue ?? true)]
        default:
            throw TokenizerLoadError.malformed(path: path, reason: "\(field).type \"\(type)\" is not supported (NFC, NFD, NFKC, NFKD, Lowercase, Prepend, Replace, Strip, Sequence are)")
        }
    }

    /// A `{"String": …}` or `{"Regex": …}` pattern.
    static func parsePattern(_ json: Any?, path: String, field: String) throws -> SplitRegex {
        guard let j = json as? [String: Any] else { throw TokenizerLoadError.malformed(path: path, reason: "\(field) is not an object") }
        do {
            if let s = j["String"] as? String { return try SplitRegex(literal: s) }
            if let r = j["Regex"] as? String { return try SplitRegex(r) }
        } catch let e as SplitRegexError {
            throw TokenizerLoadError.malformed(path: path, reason: "\(field): \(e)")
        }
        throw TokenizerLoadError.malformed(path: path, reason: "\(field) has neither \"String\" nor \"Regex\"")
    }

    static func parsePostProcessor(_ json: Any?, vocab: VocabIndex, added: [AddedToken], path: String, field: String) throws -> ([TokenID], [TokenID]) {
        guard let j = json as? [String: Any] else { return ([], []) }
        func fail(_ reason: String) -> TokenizerLoadError { .malformed(path: path, reason: "\(field): \(reason)") }
        func idOf(_ name: String) -> TokenID? {
            if let a = added.first(where: { $0.content == name }) { return a.id }
            return vocab[name].map { TokenID($0) }
        }
        switch j["type"] as? String ?? "" {
        case "TemplateProcessing":
            guard let single = j["single"] as? [Any] else { throw fail("\"single\" is not an array") }
            let specials = j["special_tokens"] as? [String: Any] ?? [:]
            var prefix: [TokenID] = [], suffix: [TokenID] = []
            var seenSequence = false
            for item in single {
                guard let d = item as? [String: Any] else { throw fail("an item of \"single\" is not an object") }
                if d["Sequence"] != nil { seenSequence = true; continue }
                guard let st = d["SpecialToken"] as? [String: Any], let name = st["id"] as? String else {
                    throw fail("an item of \"single\" is neither Sequence nor SpecialToken")
                }
                var ids: [TokenID] = []
                if let entry = specials[name] as? [String: Any], let list = entry["ids"] as? [Any] {
                    ids = list.compactMap { ($0 as? NSNumber)?.intValue }
                } else if let id = idOf(name) {
                    ids = [id]
                } else {
                    throw fail("special token \(name.debugDescription) has no id")
                }
                if seenSequence { suffix += ids } else { prefix += ids }
            }
            return (prefix, suffix)
        case "RobertaProcessing", "BertProcessing":
            func pair(_ key: String) throws -> TokenID {
                guard let a = j[key] as? [Any], a.count == 2, let id = (a[1] as? NSNumber)?.intValue else { throw fail("\"\(key)\" is not [token, id]") }
                return id
            }
            return ([try pair("cls")], [try pair("sep")])
        case "ByteLevel":
            return ([], [])
        case "Sequence":
            var prefix: [TokenID] = [], suffix: [TokenID] = []
            for (k, p) in ((j["processors"] as? [Any]) ?? []).enumerated() {
                let (a, b) = try parsePostProcessor(p, vocab: vocab, added: added, path: path, field: "\(field).processors[\(k)]")
                prefix += a
                suffix = b + suffix
            }
            return (prefix, suffix)
        case let t:
            throw fail("type \"\(t)\" is not supported (TemplateProcessing, RobertaProcessing, BertProcessing, ByteLevel, Sequence are)")
        }
    }
}

/// What the pre-tokenizer of a `tokenizer.json` asks for: text changes made before splitting
/// (Metaspace, ByteLevel's prefix space) and the split steps.
struct PreTokenizerParts {
    var steps: [PreTokenizer.Step] = []
    var metaspace: HuggingFaceTokenizer.Metaspace?
    var prefixSpace = false
    var byteLevel = false

    mutating func parse(_ json: Any?, path: String, field: String) throws {
        guard let j = json as? [String: Any] else {
            if json == nil || json is NSNull { return }
            throw TokenizerLoadError.malformed(path: path, reason: "\(field) is not an object")
        }
        func fail(_ reason: String) -> TokenizerLoadError { .malformed(path: path, reason: "\(field): \(reason)") }
        func regex(_ p: String) throws -> SplitRegex {
            do { return try SplitRegex(p) } catch { throw fail("\(error)") }
        }
        let type = j["type"] as? String ?? ""
        switch type {
        case "Sequence":
            for (k, p) in ((j["pretokenizers"] as? [Any]) ?? []).enumerated() {
                try parse(p, path: path, field: "\(field).pretokenizers[\(k)]")
            }
        case "Split":
            let r = try HuggingFaceTokenizer.parsePattern(j["pattern"], path: path, field: "\(field).pattern")
            let name = j["behavior"] as? String ?? "Isolated"
            guard let behavior = PreTokenizer.SplitBehavior(rawValue: name) else { throw fail("behavior \"\(name)\" is not known") }
            steps.append(.init(r, behavior: behavior, invert: (j["invert"] as? NSNumber)?.boolValue ?? false))
        case "ByteLevel":
            byteLevel = true
            if (j["add_prefix_space"] as? NSNumber)?.boolValue == true {
                guard steps.isEmpty else { throw fail("ByteLevel with add_prefix_space after other steps is not supported") }
                prefixSpace = true
            }
            if (j["use_regex"] as? NSNumber)?.boolValue ?? true {
                steps.append(.init(try regex(PreTokenizer.gpt2Pattern)))
            }
        case "Metaspace":
            let replacement = j["replacement"] as? String ?? "\u{2581}"
            var scheme = HuggingFaceTokenizer.PrependScheme.always
            if let s = j["prepend_scheme"] as? String {
                guard let p = HuggingFaceTokenizer.PrependScheme(rawValue: s) else { throw fail("prepend_scheme \"\(s)\" is not known") }
                scheme = p
            } else if let add = (j["add_prefix_space"] as? NSNumber)?.boolValue {
                scheme = add ? .always : .never
            }
            metaspace = .init(replacement: replacement, prepend: scheme)
            if (j["split"] as? NSNumber)?.boolValue ?? true {
                do { steps.append(.init(try SplitRegex(literal: replacement), behavior: .mergedWithNext)) } catch { throw fail("\(error)") }
            }
        case "Digits":
            let single = (j["individual_digits"] as? NSNumber)?.boolValue ?? false
            steps.append(.init(try regex(single ? #"\p{N}"# : #"\p{N}+"#)))
        case "Punctuation":
            let name = j["behavior"] as? String ?? "Isolated"
            guard let behavior = PreTokenizer.SplitBehavior(rawValue: name) else { throw fail("behavior \"\(name)\" is not known") }
            steps.append(.init(try regex(#"[\p{P}!-/:-@\[-`{-~]"#), behavior: behavior))
        case "Whitespace":
            steps.append(.init(try regex(#"\w+|[^\w\s]+"#), behavior: .removed, invert: true))
        case "WhitespaceSplit":
            steps.append(.init(try regex(#"\s+"#), behavior: .removed))
        case "BertPreTokenizer":
            steps.append(.init(try regex(#"\s+"#), behavior: .removed))
            steps.append(.init(try regex(#"[\p{P}!-/:-@\[-`{-~]"#)))
        default:
            throw fail("type \"\(type)\" is not supported (Split, ByteLevel, Metaspace, Digits, Punctuation, Whitespace, WhitespaceSplit, BertPreTokenizer, Sequence are)")
        }
    }

    /// The steps as a pre-tokenizer; the Llama 3 and Qwen2 patterns alone use the fast matcher.
    func preTokenizer() -> PreTokenizer {
        if steps.count == 1, steps[0].behavior == .isolated, !steps[0].invert {
            switch steps[0].regex.pattern {
            case PreTokenizer.hfLlama3Pattern: return PreTokenizer(.llama3)
            case PreTokenizer.hfQwen2Pattern: return PreTokenizer(.qwen2)
            default: break
            }
        }
        return PreTokenizer(steps: steps)
    }
}

/// What the decoder of a `tokenizer.json` does to each token's text.
struct DecoderParts {
    var byteLevel = false
    var byteFallback = false
    var replacements: [(String, String)] = []
    var stripLeadingSpace = false

    init(_ json: Any?, path: String) throws {
        try add(json, path: path, field: "decoder")
    }

    mutating func add(_ json: Any?, path: String, field: String) throws {
        guard let j = json as? [String: Any] else { return }
        let type = j["type"] as? String ?? ""
        switch type {
        case "Sequence":
            for (k, d) in ((j["decoders"] as? [Any]) ?? []).enumerated() { try add(d, path: path, field: "\(field).decoders[\(k)]") }
        case "ByteLevel": byteLevel = true
        case "ByteFallback": byteFallback = true
        case "Fuse": break
        case "Replace":
            guard let p = j["pattern"] as? [String: Any], let from = p["String"] as? String, let to = j["content"] as? String else {
                throw TokenizerLoadError.malformed(path: path, reason: "\(field): only Replace with a String pattern is supported")
            }
            replacements.append((from, to))
        case "Strip":
            let start = (j["start"] as? NSNumber)?.intValue ?? 0
            if (j["content"] as? String) == " " && start > 0 { stripLeadingSpace = true }
        case "Metaspace":
            let r = j["replacement"] as? String ?? "\u{2581}"
            replacements.append((r, " "))
            let scheme = j["prepend_scheme"] as? String ?? (((j["add_prefix_space"] as? NSNumber)?.boolValue ?? true) ? "always" : "never")
            if scheme != "never" { stripLeadingSpace = true }
        default:
            throw TokenizerLoadError.malformed(path: path, reason: "\(field).type \"\(type)\" is not supported (ByteLevel, ByteFallback, Fuse, Replace, Strip, Metaspace, Sequence are)")
        }
    }

    /// The bytes a vocabulary token stands for in decoded text.
    func bytes(of text: String, byteLevel: Bool) -> [UInt8] {
        if byteLevel { return ByteLevelBPETokenizer.bytesFromMapped(text) ?? Array(text.utf8) }
        if byteFallback, text.utf8.count == 6, text.utf8.starts(with: "<0x".utf8), text.utf8.last == UInt8(ascii: ">"),
           let b = UInt8(text.dropFirst(3).dropLast(), radix: 16) {
            return [b]
        }
        var t = text
        for (from, to) in replacements { t = t.replacingScalars(from, with: to) }
        return Array(t.utf8)
    }
}

extension PreTokenizer {
    /// The Split patterns of Llama 3's and Qwen2's `tokenizer.json`, which the fast matcher runs.
    static let hfLlama3Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let hfQwen2Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
}

/// A vocabulary looked up by the exact UTF-8 bytes of a token's text.
struct VocabIndex {
    private(set) var entries: [(String, Int32)] = []
    private var table: ByteStringTable
    private var scratch: [UInt8] = []

    init(capacity: Int) {
        table = ByteStringTable(capacity: capacity)
        entries.reserveCapacity(capacity)
    }

    mutating func insert(_ text: String, _ id: Int32) {
        if table.insert(Array(text.utf8), value: id) { entries.append((text, id)) }
    }

    subscript<S: StringProtocol>(text: S) -> Int32? {
        if let id = text.utf8.withContiguousStorageIfAvailable({ table.lookupRaw(UnsafeRawBufferPointer($0)) }) { return id }
        return table.lookupArray(Array(text.utf8))
    }

    /// The id of `a` followed by `b`.
    mutating func concatenation(_ a: Substring, _ b: Substring) -> Int32? {
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: a.utf8)
        scratch.append(contentsOf: b.utf8)
        return table.lookupArray(scratch)
    }
}
