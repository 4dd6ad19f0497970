"""Offline stand-ins for the HF datasets that lm-evaluation-harness's real task YAMLs load.

install() replaces datasets.load_dataset, so lm-eval runs its own task definitions (prompts,
process_docs, choices, metrics) on the local files in LEAP data layout. Each loader converts the
staged layout back to the HF schema the task expects. Splits that are not available locally are
present but empty: 0-shot works, few-shot on them fails loudly. Used by make_lmeval_fixtures.py.
"""
import bz2
import csv
import json
import os
import re

import datasets

DATA = os.environ.get("LEAP_DATA_DIR", "")


def _jsonl(path):
    opener = bz2.open if path.endswith(".bz2") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _dd(**splits):
    full = {k: datasets.Dataset.from_list(v) for k, v in splits.items() if v}
    proto = next(iter(full.values()))
    return datasets.DatasetDict({k: (full[k] if k in full else proto.select([])) for k in splits})


def piqa():
    docs = _jsonl(f"{DATA}/piqa/valid.jsonl")
    labels = [int(x) for x in open(f"{DATA}/piqa/valid-labels.lst").read().split()]
    return _dd(train=None, validation=[dict(goal=d["goal"], sol1=d["sol1"], sol2=d["sol2"], label=l)
                                       for d, l in zip(docs, labels)])


def _qa(path, key, strip_prefix):
    rows = []
    for i, d in enumerate(_jsonl(path)):
        q = d["query"][len("Question: "):] if strip_prefix else d["query"]
        labels = [chr(65 + j) for j in range(len(d["choices"]))]
        rows.append({"id": f"local-{i}", key: q, "choices": {"text": d["choices"], "label": labels},
                     "answerKey": labels[d["gold"]]})
    return rows


def arc(name):
    fn = {"ARC-Easy": "arc_easy.jsonl", "ARC-Challenge": "arc_challenge.jsonl"}[name]
    return _dd(train=None, validation=None, test=_qa(f"{DATA}/arc/{fn}", "question", True))


def openbookqa():
    return _dd(train=None, validation=None, test=_qa(f"{DATA}/openbookqa/openbook_qa.jsonl", "question_stem", False))


def winogrande():
    rows = []
    for d in _jsonl(f"{DATA}/winogrande/winogrande.jsonl"):
        a, b = d["context_options"]
        n = 0
        while n < min(len(a), len(b)) and a[n] == b[n]:
            n += 1
        pre = a[:n]
        pre = pre[: pre.rfind(" ") + 1] if " " in pre else ""
        cont = d["continuation"]
        sep = "" if cont[:1] in ".,;:!?'" else " "
        row = {"sentence": pre + "_" + sep + cont, "option1": a[len(pre):], "option2": b[len(pre):],
               "answer": str(d["gold"] + 1)}
        s = row["sentence"]
        idx = s.index("_")
        assert [s[:idx] + row["option1"], s[:idx] + row["option2"]] == [a, b] and s[idx + 1:].strip() == cont
        rows.append(row)
    return _dd(train=None, validation=rows)


_TAIL = re.compile(r'^(.*[.!?]["\')]?) (\S.*)$')


def hellaswag():
    lines = bz2.open(f"{DATA}/hellaswag/hellaswag_val_full.txt.bz2", "rt", encoding="utf-8").read().split("\n")
    rows = []
    for i in range(len(lines) // 6):
        ctxline, label, *endings = lines[6 * i: 6 * i + 6]
        act, _, ctx = ctxline.partition(": ")
        m = _TAIL.match(ctx)
        if m and m.group(2)[:1].islower() and not re.search(r"[.!?]", m.group(2)):
            ctx_a, ctx_b = m.group(1), m.group(2)
        else:
            ctx_a, ctx_b = ctx, ""
        rows.append({"ind": i, "activity_label": act, "ctx_a": ctx_a, "ctx_b": ctx_b, "ctx": ctx, "endings": endings,
                     "source_id": "", "split": "val", "split_type": "", "label": label})
    return _dd(train=None, validation=rows)


def lambada():
    return _dd(test=[{"text": d["context"] + " " + d["continuation"]}
                     for d in _jsonl(f"{DATA}/lambada/lambada_openai.jsonl")])


def _mmlu_csv(path, subject):
    with open(path, encoding="utf-8", newline="") as f:
        r = csv.reader(f)
        assert next(r) == ["question", "choice0", "choice1", "choice2", "choice3", "answer"]
        return [{"question": q, "subject": subject, "choices": [a, b, c, d], "answer": int(ans)} for q, a, b, c, d, ans in r]


def mmlu(subject):
    return _dd(test=_mmlu_csv(f"{DATA}/mmlu/test/{subject}_test.csv", subject),
               dev=_mmlu_csv(f"{DATA}/mmlu/dev/{subject}_dev.csv", subject))


def local_load_dataset(path=None, name=None, *args, **kwargs):
    if path == "baber/piqa":
        return piqa()
    if path == "allenai/ai2_arc":
        return arc(name)
    if path == "allenai/openbookqa":
        return openbookqa()
    if path == "allenai/winogrande":
        return winogrande()
    if path == "Rowan/hellaswag":
        return hellaswag()
    if path == "EleutherAI/lambada_openai" and name in (None, "default"):
        return lambada()
    if path == "cais/mmlu":
        return mmlu(name)
    raise RuntimeError(f"no local data for load_dataset(path={path!r}, name={name!r})")


def install(data_dir):
    global DATA
    DATA = data_dir
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    datasets.load_dataset = local_load_dataset
