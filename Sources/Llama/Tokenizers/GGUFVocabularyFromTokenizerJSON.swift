import Foundation

// A Hugging Face `tokenizer.json` written as a GGUF vocabulary that llama.cpp loads, for a
// HF folder exported with `llama export --to X.gguf` / `llama quantize` when it has no
// `tokenizer.model`. Two shapes of `tokenizer.json` map onto llama.cpp's two BPE vocabularies:
//
//   byte-level BPE (ByteLevel pre-tokenizer or decoder)   →  tokenizer.ggml.model = "gpt2"
//     tokens      the vocabulary's own strings (already in GPT-2's byte → character mapping);
//                 added tokens as their literal text, type 3 (control) when `special`, else
//                 4 (user-defined, which llama.cpp always matches, as `tokenizers` does)
//     merges      model.merges in their order, as "left right"
//     pre         the llama.cpp name whose regex list splits text as the file's pre-tokenizer
//                 does (llama.cpp's own converter picks it by hashing the ids of a probe text;
//                 here the splits of probe texts are compared, which needs no table of hashes),
//                 with the same `ignore_merges`
//   SentencePiece-style BPE (characters, "▁", byte_fallback) →  tokenizer.ggml.model = "llama"
//     tokens      the vocabulary's strings; `<0xXX>` pieces type 6, unk_token type 2
//     scores      llama.cpp merges the adjacent pair whose joined piece has the highest score,
//                 so a piece formed by merge k gets score −k: the merge order of the file
//                 (llama.cpp's converter writes −1000 for all when it reads a tokenizer.json,
//                 which loses the order)
//     add_space_prefix   from Metaspace's prepend_scheme or a Prepend("▁") normalizer
//
// Both: ids the model has beyond the tokenizer become "[PAD<i>]" (type 5, unused) as the
// converter writes them; bos/eos/unknown/padding ids from tokenizer_config.json and the
// post-processor; add_bos_token / add_eos_token from what the post-processor puts around a
// sequence.

extension GGUFVocabularyWriter {
    /// llama.cpp's probe text for pre-tokenizers (convert_hf_to_gguf_update.py `CHK_TXT`), and
    /// a few more texts: splits equal on all of them identify a pre-tokenizer.
    static let preTokenizerProbes: [String] = [
        "\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n🚀 (normal) 😶‍🌫️ (multiple emojis concatenated) ✅ 🦙🦙 3 33 333 3333 33333 333333 3333333 33333333 3.3 3..3 3...3 កាន់តែពិសេសអាច😁 ?我想在apple工作1314151天～ ------======= нещо на Български ''''''```````\"\"\"\"......!!!!!!?????? I've been 'told he's there, 'RE you sure? 'M not sure I'll make it, 'D you like some tea? We'Ve a'lL",
        "Hello World! HELLO world, hello WORLD. CamelCaseWords and snake_case_words; x=1+2*3/4 <tag> $100 ^_^ ~|`",
        "  leading\r\n\r\ntrailing   \t\n1234567890 12.5% ١٢٣ Ⅻ ½ 한국어 日本語 ελληνικά foo/bar/baz,qux \u{00A0}nbsp",
        "'s 't 're 've 'm 'll 'd 'S 'T 'RE 'VE 'M 'LL 'D isn't DON'T we'LL\n\n\n   end",
    ]

    /// Preferred names first (what llama.cpp's converter writes for the common families), then
    /// the rest in sorted order.
    static let preferredPreNames = ["llama-bpe", "smaug-bpe", "qwen2", "gpt-2", "starcoder", "default", "deepseek-llm",
                                    "deepseek-coder", "deepseek-v3", "falcon", "qwen35", "tekken", "gpt-4o", "chatglm-bpe",
                                    "poro-chat", "viking", "bailingmoe", "seed-coder", "chameleon"]

    /// The llama.cpp pre-tokenizer name that splits text as `pre` does (same pieces on every
    /// probe) and has the same `ignore_merges`, or nil.
    static func llamaCppName(splittingAs pre: PreTokenizer, ignoreMerges: Bool) -> String? {
        let want = preTokenizerProbes.map { pre.split($0) }
        var names = preferredPreNames
        for n in PreTokenizer.llamaCppNames where !names.contains(n) { names.append(n) }
        for name in names {
            guard let (candidate, entry) = PreTokenizer.llamaCpp(named: name), entry.ignoreMerges == ignoreMerges,
                  !entry.dropsBOS else { continue }
            if preTokenizerProbes.map({ candidate.split($0) }) == want { return name }
        }
        return nil
    }

    /// The `tokenizer.ggml.*` entries for a `tokenizer.json` tokenizer; `vocabularySize` (the
    /// model's embedding rows) pads the token list with unused entries.
    static func huggingFaceMetadata(_ t: HuggingFaceTokenizer, vocabularySize: Int?) throws -> [(String, GGUFWriter.Value)] {
        let size = max(t.texts.count, vocabularySize ?? 0)
        guard size <= Int(Int32.max) else { throw ExportError.notRepresentable(reason: "\(size) tokens is too many") }
        var tokens = t.texts
        var types = [Int32](repeating: 1, count: tokens.count)
        for i in tokens.indices where tokens[i].isEmpty {
            tokens[i] = "[PAD\(i)]"
            types[i] = 5
        }
        while tokens.count < size {
            tokens.append("[PAD\(tokens.count)]")
            types.append(5)
        }
        for a in t.addedTokens { types[a.id] = a.special ? 3 : 4 }
        // lstrip / rstrip / single_word have no GGUF attribute: llama.cpp sets lstrip/rstrip
        // from the model's name (Phi-3) and ignores single_word, as its own converter does.

        var out: [(String, GGUFWriter.Value)]
        switch t.model {
        case let .byteLevel(inner):
            guard t.metaspace == nil, !t.prefixSpace else {
                throw ExportError.notRepresentable(reason: "a byte-level tokenizer.json that adds a prefix space has no llama.cpp pre-tokenizer")
            }
            // llama.cpp does not normalize byte-level text; NFC (Qwen2) leaves normalized text as it is.
            guard t.normalizers.allSatisfy({ if case .nfc = $0 { return true } else { return false } }) else {
                throw ExportError.notRepresentable(reason: "the normalizer is not expressible in a GGUF \"gpt2\" vocabulary (llama.cpp does not normalize)")
            }
            guard let pre = llamaCppName(splittingAs: t.preTokenizer, ignoreMerges: inner.wholePieceShortcut) else {
                throw ExportError.notRepresentable(reason: "the pre-tokenizer of the tokenizer.json splits text unlike every llama.cpp pre-tokenizer (\(PreTokenizer.llamaCppNames.count) names tried)")
            }
            var merges: [String] = []
            if case let .byList(box) = inner.mode {
                let listed = box.table.mergesByRank()
                merges.reserveCapacity(listed.count)
                for m in listed { merges.append(t.texts[Int(m.left)] + " " + t.texts[Int(m.right)]) }
            }
            out = [
                ("tokenizer.ggml.model", .string("gpt2")),
                ("tokenizer.ggml.pre", .string(pre)),
                ("tokenizer.ggml.tokens", .strings(tokens)),
                ("tokenizer.ggml.token_type", .int32s(types)),
                ("tokenizer.ggml.merges", .strings(merges)),
            ]
        case let .characters(bpe):
            guard bpe.byteFallback != nil else {
                throw ExportError.notRepresentable(reason: "a SentencePiece-style tokenizer.json without byte_fallback; llama.cpp always falls back to <0xXX> bytes")
            }
            guard bpe.wholeTokens == nil else {
                throw ExportError.notRepresentable(reason: "ignore_merges on a SentencePiece-style tokenizer.json has no GGUF \"llama\" equivalent")
            }
            // What llama.cpp's "llama" vocabulary does to text: optional "▁" prefix, spaces as "▁".
            var addSpacePrefix = false
            var normalizers = t.normalizers[...]
            if case let .prepend(p)? = normalizers.first, p == "\u{2581}" {
                addSpacePrefix = true
                normalizers = normalizers.dropFirst()
            }
            for n in normalizers {
                guard case let .replace(regex, content) = n, content == "\u{2581}", regex.replacingMatches(in: "a b", with: content) == "a\u{2581}b" else {
                    throw ExportError.notRepresentable(reason: "the normalizer is not expressible in a GGUF \"llama\" vocabulary (only Prepend \"▁\" and Replace \" \" → \"▁\" are)")
                }
            }
            if let m = t.metaspace {
                guard m.replacement == "\u{2581}" else {
                    throw ExportError.notRepresentable(reason: "Metaspace replacement \(m.replacement.debugDescription) is not \"▁\"")
                }
                addSpacePrefix = addSpacePrefix || m.prepend != .never
            } else if normalizers.isEmpty {
                throw ExportError.notRepresentable(reason: "a SentencePiece-style tokenizer.json that does not turn spaces into \"▁\"")
            }
            // Scores: −(rank of the first merge forming the piece); pieces no merge forms below all.
            let listed = bpe.pairs.table.mergesByRank()
            var scores = [Float](repeating: -Float(listed.count + 1), count: size)
            for m in listed.reversed() { scores[Int(m.merged)] = -Float(m.rank) }
            for i in 0..<min(t.texts.count, size) where types[i] == 1 {
                let u = t.texts[i].utf8
                if u.count == 6, u.starts(with: "<0x".utf8), u.last == UInt8(ascii: ">"), UInt8(t.texts[i].dropFirst(3).dropLast(), radix: 16) != nil {
                    types[i] = 6
                    scores[i] = 0
                }
            }
            for i in 0..<size where types[i] != 1 && types[i] != 6 { scores[i] = 0 }
            if let unk = bpe.unknownID { types[Int(unk)] = 2 }
            out = [
                ("tokenizer.ggml.model", .string("llama")),
                ("tokenizer.ggml.pre", .string("default")),
                ("tokenizer.ggml.tokens", .strings(tokens)),
                ("tokenizer.ggml.scores", .floats(scores)),
                ("tokenizer.ggml.token_type", .int32s(types)),
            ]
            if let unk = bpe.unknownID { out.append(("tokenizer.ggml.unknown_token_id", try idValue(Int(unk), "unknown"))) }
            out.append(("tokenizer.ggml.add_space_prefix", .bool(addSpacePrefix)))
        }
        if let bos = t.bosID { out.append(("tokenizer.ggml.bos_token_id", try idValue(bos, "BOS"))) }
        if let eos = t.eosID { out.append(("tokenizer.ggml.eos_token_id", try idValue(eos, "EOS"))) }
        if let pad = t.paddingID { out.append(("tokenizer.ggml.padding_token_id", try idValue(pad, "padding"))) }
        // GGUF can say "BOS before, EOS after" and nothing else about the post-processor.
        let (prefix, suffix) = t.templateIDs
        out.append(("tokenizer.ggml.add_bos_token", .bool(t.bosID.map { prefix.contains($0) } ?? false)))
        out.append(("tokenizer.ggml.add_eos_token", .bool(t.eosID.map { suffix.contains($0) } ?? false)))
        return out
    }
}
