// llama.cpp's corrections of a GGUF vocabulary's token types, by token text
// (`llama_vocab::load` in src/llama-vocab.cpp of llama-cpp-python 0.3.36's llama.cpp).
//
// Converters often write end-of-turn and fill-in-the-middle tokens as NORMAL or USER_DEFINED
// (Qwen2's vocabulary has a plain `</s>`, DeepSeek-Coder's FIM tokens are user-defined), so
// llama.cpp recognises them by their text and makes them CONTROL: they are split out of text
// only when special tokens are parsed, and they end generation. In order:
//   - end-of-turn/-message names (`<|im_end|>`, `</s>`, `<|endoftext|>`, …: `endOfGenerationNames`)
//     become CONTROL and end generation;
//   - fill-in-the-middle names become CONTROL, for each role whose id the metadata does not give
//     (`tokenizer.ggml.fim_{pre,suf,mid,pad,rep,sep}_token_id`); the pad, repo and separator
//     tokens (found or given) end generation (llama.cpp takes one token per role, the first its
//     hash map yields; a vocabulary with two names for one role gets both here);
//   - gpt-oss's `<|channel|>`, `<|message|>`, `<|start|>`, `<|constrain|>` become USER_DEFINED
//     (always matched, rendered);
//   - the eos, eot and eom ids of the metadata end generation;
//   - o200k_harmony / solar-open: with `<|return|>` and `<|call|>` (or `<|calls|>` and
//     `<|flush|>`) ending generation, `<|end|>` does not, and is USER_DEFINED;
//   - with `<|tool_response>` (Gemma 4) or `<|plamo:eos|>` ending generation, `</s>` is NORMAL.

/// What llama.cpp makes of each token of a GGUF vocabulary: CONTROL, USER_DEFINED or other,
/// and which ids end generation.
struct LlamaCppTokenTypes {
    /// GGUF `tokenizer.ggml.token_type` values.
    static let normal = 1, unknown = 2, control = 3, userDefined = 4

    /// The type of each id after llama.cpp's corrections (1 normal, 3 control, 4
    /// user-defined; other values as the file has them).
    var types: [Int]
    /// Ids that end a generation.
    var endOfGeneration: Set<TokenID>
    /// Ids whose type the corrections changed (for a writer that keeps the file's types).
    var promoted: Set<TokenID>

    /// llama.cpp's end-of-generation texts: a token with one of these ends a generation and is
    /// CONTROL, whatever its type in the file.
    static let endOfGenerationNames: Set<String> = [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>",
        "<EOT>", "_<EOT>", "<|end_of_text|>", "</s>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
        "[EOT]", "[EOS]", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>", "<｜end▁of▁sentence｜>", "[e~[",
    ]

    /// Fill-in-the-middle roles: the metadata key that names the id, the texts llama.cpp
    /// looks for when it does not, and whether the role's token ends a generation.
    static let fillInTheMiddle: [(key: String, names: Set<String>, ends: Bool)] = [
        ("tokenizer.ggml.fim_pre_token_id", ["<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>", "<|prefix|>"], false),
        ("tokenizer.ggml.fim_suf_token_id", ["<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>"], false),
        ("tokenizer.ggml.fim_mid_token_id", ["<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>", "<|middle|>"], false),
        ("tokenizer.ggml.fim_pad_token_id", ["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"], true),
        ("tokenizer.ggml.fim_rep_token_id", ["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"], true),
        ("tokenizer.ggml.fim_sep_token_id", ["<|file_sep|>"], true),
    ]
    /// llama.cpp's older key names for the first three roles.
    static let deprecatedFillInTheMiddleKeys = ["tokenizer.ggml.prefix_token_id", "tokenizer.ggml.suffix_token_id", "tokenizer.ggml.middle_token_id"]

    /// gpt-oss's tokens that llama.cpp always renders (USER_DEFINED).
    static let alwaysRendered: Set<String> = ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"]

    /// The corrections for a vocabulary of `texts` (as stored) and `types`, with the ids
    /// `metadataID` returns for a key (nil: absent or out of range).
    init(texts: [String], types fileTypes: [Int], metadataID: (String) throws -> TokenID?) rethrows {
        var types = fileTypes
        var ends = Set<TokenID>()
        var promoted = Set<TokenID>()
        func makeControl(_ id: TokenID) {
            if types[id] != Self.control { types[id] = Self.control; promoted.insert(id) }
        }
        // Only short texts can be one of the names.
        let candidates = texts.indices.filter { texts[$0].utf8.count <= 32 && texts[$0].utf8.first.map { $0 == 0x3C || $0 == 0x5B || $0 == 0x5F || $0 == 0xE2 } == true }
        for (i, role) in Self.fillInTheMiddle.enumerated() {
            var given = try metadataID(role.key)
            if given == nil, i < Self.deprecatedFillInTheMiddleKeys.count { given = try metadataID(Self.deprecatedFillInTheMiddleKeys[i]) }
            if let given {
                if role.ends { ends.insert(given) }
                continue
            }
            for id in candidates where role.names.contains(texts[id]) {
                makeControl(id)
                if role.ends { ends.insert(id) }
            }
        }
        for id in candidates where Self.endOfGenerationNames.contains(texts[id]) {
            makeControl(id)
            ends.insert(id)
        }
        for id in candidates where Self.alwaysRendered.contains(texts[id]) {
            if types[id] != Self.userDefined { types[id] = Self.userDefined; promoted.insert(id) }
        }
        for key in ["tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"] {
            if let id = try metadataID(key) { ends.insert(id) }
        }
        let endTexts = Dictionary(ends.map { (texts[$0], $0) }, uniquingKeysWith: { a, _ in a })
        let has = { (t: String) in endTexts[t] != nil }
        if let end = endTexts["<|end|>"], (has("<|return|>") && (has("<|call|>") || has("<|calls|>"))) || ((has("<|call|>") || has("<|calls|>")) && has("<|flush|>")) {
            ends.remove(end)
            types[end] = Self.userDefined
            promoted.insert(end)
        }
        if let s = endTexts["</s>"], has("<|tool_response>") || has("<|plamo:eos|>") {
            ends.remove(s)
            types[s] = Self.normal
            promoted.insert(s)
        }
        self.types = types
        self.endOfGeneration = ends
        self.promoted = promoted.filter { types[$0] != fileTypes[$0] }
    }
}
