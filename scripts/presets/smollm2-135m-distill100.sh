# Preset: LEAP on SmolLM2-135M-Instruct with dense-teacher distillation (issue "Beyond the paper":
# loss = 0.5 CE + 0.5 T^2 KL(teacher || student), T = 2; the teacher is the same weights with the mask
# off) at the smollm2-135m-steps100 preset's budget (100 steps x 4 x 256 C4-sample tokens), everything
# else as the smollm2-135m preset: one change against the steps100 cells, the distillation row of the
# variants table in docs/RESULTS.md at 60% (the smollm2-135m-distill preset measured 50% at 200 steps).
# Its cells are kept apart (TAG) under results/smollm2-135m-distill100/; compare a cell with plain LEAP
# over the same documents:
#   build/leap report results/smollm2-135m-steps100/unstructured/0.6/leap/eval.json \
#                     results/smollm2-135m-distill100/unstructured/0.6/leap/eval.json --paired leap+distill:leap
# ~40 min per cell on 2 CPU cores (Wanda prior ~5 min, 100 distilled steps ~20 min, evaluation ~12 min).
# SEED in the environment (default 0) runs the cell under another seed, kept apart as TAG distill100-seedN
# (its runs label leap+...@seedN; pair them with the smollm2-135m-seed cells of the same seed).
MODEL=smollm2-135m
SEED="${SEED:-0}"
TAG=distill100
[[ "$SEED" == 0 ]] || TAG="distill100-seed$SEED"
METHODS="leap"
SPARSITIES="0.5 0.6"
EVAL_TASKS="wikitext2,piqa,arc_easy,arc_challenge,winogrande,openbookqa,mmlu"
EVAL_FLAGS="--seqlen 1024 --ppl_windows 64 --limit 500 --mmlu_limit 20"
PRUNE_FLAGS="--save_every 25 --steps 100 --seed $SEED --distill_weight 0.5 --distill_temperature 2"
PAIRED=""
RESULTS_NOTE="SmolLM2-135M-Instruct, LEAP with dense-teacher distillation (a = 0.5, T = 2) and 100 steps x 4 x 256 tokens of the bundled C4 sample (the smollm2-135m preset's recipe otherwise); evaluation as in RESULTS-smollm2-135m.md."
