# Preset: LEAP on SmolLM2-135M-Instruct with a quarter of the smollm2-135m preset's training (100 steps
# x 4 x 256 C4-sample tokens, ~14 min of training on 2 CPU cores), everything else as that preset: the
# recipe the smollm2-135m preset carried until 2026-12-06, and the first point of the recipe search of
# issue "A real LLM end to end" (100 -> 200 -> 400 steps). Its cells are kept apart (TAG) under
# results/smollm2-135m-steps100/; compare them with the smollm2-135m sweep's ADMM cells:
#   build/leap report results/smollm2-135m/unstructured/0.6/admm/eval.json \
#                     results/smollm2-135m-steps100/unstructured/0.6/leap/eval.json --paired leap:admm
MODEL=smollm2-135m
TAG=steps100
METHODS="leap"
SPARSITIES="0.5 0.6"
EVAL_TASKS="wikitext2,piqa,arc_easy,arc_challenge,winogrande,openbookqa,mmlu"
EVAL_FLAGS="--seqlen 1024 --ppl_windows 64 --limit 500 --mmlu_limit 20"
PRUNE_FLAGS="--save_every 25 --steps 100"
PAIRED=""
RESULTS_NOTE="SmolLM2-135M-Instruct, LEAP with 100 steps x 4 x 256 tokens of the bundled C4 sample (the smollm2-135m preset's recipe otherwise; its own recipe until 2026-12-06); evaluation as in RESULTS-smollm2-135m.md."
