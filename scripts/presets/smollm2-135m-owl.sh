# Preset: LEAP on SmolLM2-135M-Instruct with OWL budgets for its Wanda prior (issue "Beyond the
# paper": `--owl_m 5 --owl_lambda 0.08`, the per-block sparsities of llm-compressor's
# sparsity_profile="owl" for the prior's mask; LEAP's own budget stays global) at the
# smollm2-135m-steps100 preset's budget (100 steps x 4 x 256 C4-sample tokens), everything else as
# the smollm2-135m preset: one change against the steps100 cells. Its cells are kept apart (TAG)
# under results/smollm2-135m-owl/; compare them with the steps100 cells, paired over the same documents:
#   build/leap report results/smollm2-135m-steps100/unstructured/0.6/leap/eval.json \
#                     results/smollm2-135m-owl/unstructured/0.6/leap/eval.json --paired leap+owl:leap
# SEED in the environment (default 0) runs the cell under another seed, kept apart as TAG owl-seedN
# (its runs label leap+...@seedN; pair them with the smollm2-135m-seed cells of the same seed).
MODEL=smollm2-135m
SEED="${SEED:-0}"
TAG=owl
[[ "$SEED" == 0 ]] || TAG="owl-seed$SEED"
METHODS="leap"
SPARSITIES="0.6 0.5"
EVAL_TASKS="wikitext2,piqa,arc_easy,arc_challenge,winogrande,openbookqa,mmlu"
EVAL_FLAGS="--seqlen 1024 --ppl_windows 64 --limit 500 --mmlu_limit 20"
PRUNE_FLAGS="--save_every 25 --steps 100 --seed $SEED --owl_m 5 --owl_lambda 0.08"
PAIRED=""
RESULTS_NOTE="SmolLM2-135M-Instruct, LEAP with an OWL prior (M = 5, lambda = 0.08: the Wanda prior's per-block sparsities as llm-compressor's owl profile) and 100 steps x 4 x 256 tokens of the bundled C4 sample (the smollm2-135m preset's recipe otherwise); evaluation as in RESULTS-smollm2-135m.md."
