// The pre-tokenizers llama.cpp knows, by the name GGUF files store in `tokenizer.ggml.pre`.
//
// Each is a list of regexes run in sequence; each splits every piece the previous one made,
// keeping both the matches and the text between them. The patterns are llama.cpp's (its
// forms for std::regex: case-insensitive contractions spelled out as '[sS] …), written with
// the character ranges as \x{…} escapes. Names and lists follow `src/llama-vocab.cpp` of the
// llama.cpp tree that llama-cpp-python 0.3.36 vendors.

extension PreTokenizer {
    /// How a llama.cpp pre-tokenizer splits text, and the flags its name sets.
    public struct LlamaCppEntry: Sendable {
        /// The hand-written matcher, when the list is exactly its pattern.
        let fast: Kind?
        let patterns: [String]
        /// llama.cpp's `ignore_merges`: a piece that is a token is emitted whole.
        public let ignoreMerges: Bool
        /// The name clears the BOS token (chatglm).
        public let dropsBOS: Bool
        /// Prompts start with BOS when the file does not say (`tokenizer.ggml.add_bos_token`).
        public let addsBOSByDefault: Bool

        init(fast: Kind? = nil, _ patterns: [String] = [], ignoreMerges: Bool = false, dropsBOS: Bool = false, addsBOS: Bool = false) {
            self.fast = fast
            self.patterns = patterns
            self.ignoreMerges = ignoreMerges
            self.dropsBOS = dropsBOS
            addsBOSByDefault = addsBOS
        }
    }

    static let gpt2Pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"#
    static let contractions = #"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"#
    static let llama3Pattern = contractions + #"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    /// CJK ideographs and what DeepSeek groups with them.
    static let deepseekCJK = #"[\x{4E00}-\x{9FA5}\x{0800}-\x{4E00}\x{AC00}-\x{D7FF}]+"#
    static let poroPattern = #" ?[^(\s|.,!?\x{2026}\x{3002}\x{FF0C}\x{3001}\x{0964}\x{06D4}\x{060C})]+"#
    /// A word as mixed-case splits it: capitals then lower case, or capitals alone.
    static let casedWords = #"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+"# + "(?:CONTRACTIONS)?" +
        #"|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*"# + "(?:CONTRACTIONS)?"

    static let llamaCppTable: [String: LlamaCppEntry] = {
        var t: [String: LlamaCppEntry] = [:]
        func add(_ names: [String], _ e: LlamaCppEntry) { for n in names { t[n] = e } }
        add(["default"], .init([#"[\p{P}\$\+<=>\^~\|]+"#, gpt2Pattern, #"\p{N}+"#, "[0-9][0-9][0-9]"]))
        add(["llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2"],
            .init(fast: .llama3, ignoreMerges: true, addsBOS: true))
        add(["dbrx", "smaug-bpe"], .init(fast: .llama3))
        add(["deepseek-llm"], .init([
            #"[\r\n]"#,
            #"\s?[\p{Lu}\p{Ll}\p{Lt}]+"#,
            #"\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E}\x{2018}-\x{201F}\x{3000}-\x{3002}]+"#,
            #"\s+$"#,
            deepseekCJK,
            #"\p{N}+"#,
        ]))
        add(["deepseek-coder"], .init([#"[\r\n]"#, #"\s?\p{L}+"#, #"\s?\p{P}+"#, deepseekCJK, #"\p{N}"#]))
        add(["deepseek-v3", "hunyuan-dense"], .init([
            #"\p{N}{1,3}"#,
            #"[\x{4E00}-\x{9FA5}\x{3040}-\x{309F}\x{30A0}-\x{30FF}]+"#,
            ##"[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"##,
        ]))
        add(["falcon"], .init([#"[\p{P}\$\+<=>\^~\|`]+"#, gpt2Pattern, "[0-9][0-9][0-9]"]))
        add(["starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b", "mellum2"],
            .init([#"\p{N}"#, gpt2Pattern]))
        add(["gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum",
             "jina-v1-en", "jina-v2-code", "roberta-bpe", "mpt", "olmo", "jais", "trillion", "granite-docling", "exaone4"],
            .init([gpt2Pattern]))
        add(["qwen2", "deepseek-r1-qwen", "kormo", "megrez", "stablelm2", "hunyuan", "grok-2", "solar-open"], .init(fast: .qwen2))
        add(["qwen35"], .init([contractions + #"|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#]))
        add(["poro-chat", "bloom", "gpt3-finnish"], .init([poroPattern]))
        add(["viking"], .init([poroPattern, #"\p{N}"#]))
        add(["glm4", "chatglm-bpe"], .init([llama3Pattern], dropsBOS: true))
        add(["tekken"], .init([
            casedWords.replacingOccurrences(of: "(?:CONTRACTIONS)?", with: "")
                + #"|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#,
        ], ignoreMerges: true, addsBOS: true))
        add(["gpt-4o", "llama4", "minimax-m2"], .init([
            casedWords.replacingOccurrences(of: "CONTRACTIONS", with: String(contractions.dropFirst(3).dropLast()))
                + #"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#,
        ]))
        add(["chameleon"], .init([
            "<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", #"([\t\n]|    |  )"#, #"\p{N}"#,
            #"[\p{P}!-/:-@\[-`{-~]"#, gpt2Pattern,
        ], addsBOS: true))
        add(["bailingmoe", "bailingmoe2", "llada-moe"], .init([
            #"'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"#,
        ]))
        add(["seed-coder"], .init([contractions + #"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+"#]))
        return t
    }()

    /// Every name `llamaCpp(named:)` accepts, sorted.
    public static var llamaCppNames: [String] { llamaCppTable.keys.sorted() }

    /// The llama.cpp pre-tokenizer of that name, and its flags; nil for an unknown name.
    public static func llamaCpp(named name: String) -> (PreTokenizer, LlamaCppEntry)? {
        guard let e = llamaCppTable[name] else { return nil }
        if let fast = e.fast { return (PreTokenizer(fast), e) }
        // The table's patterns are fixed text, compiled on first use; a failure is a bug here.
        guard let steps = try? e.patterns.map({ PreTokenizer.Step(try SplitRegex($0)) }) else { return nil }
        return (PreTokenizer(steps: steps, name: name), e)
    }
}
