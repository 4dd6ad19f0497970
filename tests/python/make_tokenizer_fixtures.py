#!/usr/bin/env python3
"""Generates tokenizer fixtures and HF reference ids for leap's tokenizer parity tests.

Vocabularies are trained here on the bundled TinyStories text plus multilingual lines, with the
real pipelines of the model families:
  llama3_bpe  byte-level BPE, Llama-3's Split regex, ignore_merges, <|begin_of_text|> template
  qwen2_bpe   byte-level BPE, NFC normalizer, Qwen2's Split regex, no BOS
  gpt2_bpe    byte-level BPE with ByteLevel(use_regex=True) (GPT-2's built-in regex)
  gemma_sp    SentencePiece BPE like Gemma's (no dummy prefix, byte fallback, <bos> added)
  stories260k the real tokenizer.model of the embedded default
Reference ids come from transformers' AutoTokenizer on the saved folders.
Output: OUT/<name>/{tokenizer files}, OUT/cases.json.   Usage: make_tokenizer_fixtures.py OUT SRC_DIR
"""
import hashlib
import json
import os
import shutil
import sys

LLAMA3_PAT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
              r"\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_PAT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
             r"\s*[\r\n]+|\s+(?!\S)|\s+")

MULTILINGUAL = [
    "café naïve résumé façade Ångström", "Straße Grüße Übermut", "日本語のテキストです。東京は大きい。",
    "Привет, как дела? Хорошо.", "مرحبا بالعالم", "한국어 텍스트 안녕하세요", "emoji 🙂👍🏽 and ✨ sparkles",
    "Ωmega—dash “quotes” ‘single’ … ellipsis", "numbers 1234567890 3.14159 2,048 1e-5", "don't I'LL we've they'RE",
    "tabs\tand\nnewlines\n\n\nend", "ĳ ǅ ﬁ ℌ ① ½ ²", "e\u0301 a\u0308 o\u0302 (combining marks)",
]

TEXTS = [
    "Hello world", "  leading spaces", "trailing   ", "tabs\tand\nnewlines\n\n\nend", "numbers 1234567 and 3.14159",
    "don't I'LL we've SHE'S", "café naïve résumé", "e\u0301 decomposed and \u00e9 composed",
    "\u1100\u1161\u11a8 hangul jamo", "日本語のテキスト", "emoji 🙂👍🏽!", "mixed: Ωmega—dash “quotes”",
    "<|begin_of_text|>inline special", "x<|eot_id|>y <|endoftext|> z", "   ", "", "\r\n windows line\r\n",
    "a" * 300, "ſ long s and K kelvin", "end with newline\n", "multiple   spaces    here", "\u00a0nbsp\u3000ideographic",
    "<start_of_turn>user\nhi<end_of_turn>", "digits12345abc678", "!!!???...", "<s>hi</s> there", "a <s> b", "<bos>hi<eos> there", "x" + "  \n  " * 3 + "y",
]


def corpus(src):
    text = open(os.path.join(src, "data/tinystories/train.txt"), encoding="utf-8").read()
    lines = [l for l in text.split("\n") if l.strip()][:3000]
    return lines + MULTILINGUAL * 20


def train_bpe(name, out, src, pattern, nfc, bos, use_gpt2_regex=False):
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    specials = {"llama3_bpe": ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"],
                "qwen2_bpe": ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                "gpt2_bpe": ["<|endoftext|>"]}[name]
    tok = Tokenizer(models.BPE(ignore_merges=(name == "llama3_bpe")))
    if nfc:
        tok.normalizer = normalizers.NFC()
    if use_gpt2_regex:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    else:
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=900, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus(src), trainer)
    if bos:
        bid = tok.token_to_id(bos)
        tok.post_processor = processors.Sequence([
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, bid)])])
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    tok.save(os.path.join(d, "tokenizer.json"))
    cfg = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 131072,
           "bos_token": bos, "eos_token": specials[1] if name == "llama3_bpe" else specials[0]}
    if name == "qwen2_bpe":
        cfg.update(tokenizer_class="Qwen2Tokenizer", bos_token=None, errors="replace")
    json.dump(cfg, open(os.path.join(d, "tokenizer_config.json"), "w"), indent=1)
    return d


def train_gemma_sp(out, src):
    import sentencepiece as spm
    d = os.path.join(out, "gemma_sp")
    os.makedirs(d, exist_ok=True)
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus(src)), model_prefix=os.path.join(d, "tokenizer"), model_type="bpe",
        vocab_size=700, byte_fallback=True, add_dummy_prefix=False, remove_extra_whitespaces=False,
        split_digits=True, pad_id=0, eos_id=1, bos_id=2, unk_id=3, pad_piece="<pad>", eos_piece="<eos>",
        bos_piece="<bos>", unk_piece="<unk>", user_defined_symbols=["<start_of_turn>", "<end_of_turn>"],
        normalization_rule_name="identity", character_coverage=1.0, minloglevel=2)
    os.remove(os.path.join(d, "tokenizer.vocab"))
    json.dump({"tokenizer_class": "GemmaTokenizer", "add_bos_token": True, "add_eos_token": False,
               "bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>"},
              open(os.path.join(d, "tokenizer_config.json"), "w"), indent=1)
    return d


def main():
    out, src = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    import transformers
    stamp = hashlib.sha256(open(__file__, "rb").read() + transformers.__version__.encode()).hexdigest()
    stamp_file = os.path.join(out, ".stamp")
    if os.path.exists(stamp_file) and open(stamp_file).read() == stamp:
        print("tokenizer fixtures up to date in", out)
        return
    dirs = {
        "llama3_bpe": train_bpe("llama3_bpe", out, src, LLAMA3_PAT, False, "<|begin_of_text|>"),
        "qwen2_bpe": train_bpe("qwen2_bpe", out, src, QWEN2_PAT, True, None),
        "gpt2_bpe": train_bpe("gpt2_bpe", out, src, None, False, None, use_gpt2_regex=True),
        "gemma_sp": train_gemma_sp(out, src),
        "stories260k": os.path.join(src, "data/stories260k"),
    }
    eval_lines = [l for l in open(os.path.join(src, "data/tinystories/eval.txt"), encoding="utf-8").read().split("\n\n")][:20]
    from transformers import AutoTokenizer
    cases = {}
    for name, d in dirs.items():
        tok = AutoTokenizer.from_pretrained(d)
        rows = []
        for t in TEXTS + eval_lines + MULTILINGUAL:
            rows.append({"text": t, "ids": tok(t)["input_ids"],
                         "ids_no_special": tok(t, add_special_tokens=False)["input_ids"]})
        cases[name] = {"dir": d, "hf_class": type(tok).__name__, "cases": rows}
        print("tokenizer", name, type(tok).__name__, len(rows), "cases")
    json.dump(cases, open(os.path.join(out, "cases.json"), "w"), ensure_ascii=False, indent=0)
    with open(stamp_file, "w") as f:
        f.write(stamp)


if __name__ == "__main__":
    main()
