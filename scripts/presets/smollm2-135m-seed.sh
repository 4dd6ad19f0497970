# Preset: the smollm2-135m-steps100 cell (LEAP, 100 steps x 4 x 256 C4-sample tokens) again under
# another seed (SEED in the environment, default 1): the seed draws the calibration samples, the
# initial logits, the data order and the mask noise, so the spread between seeds is the training
# noise that no standard error in the tables carries (they are document-sampling errors). Cells are
# kept apart (TAG) under results/smollm2-135m-seed<SEED>/; compare with seed 0 over the same documents:
#   build/leap report results/smollm2-135m-steps100/unstructured/0.6/leap/eval.json \
#                     results/smollm2-135m-seed1/unstructured/0.6/leap/eval.json --paired leap@seed1:leap
# ~30 min per cell on 2 CPU cores (Wanda prior ~5 min, 100 steps ~14 min, evaluation ~12 min).
MODEL=smollm2-135m
SEED="${SEED:-1}"
TAG="seed$SEED"
METHODS="leap"
SPARSITIES="0.6 0.5"
EVAL_TASKS="wikitext2,piqa,arc_easy,arc_challenge,winogrande,openbookqa,mmlu"
EVAL_FLAGS="--seqlen 1024 --ppl_windows 64 --limit 500 --mmlu_limit 20"
PRUNE_FLAGS="--save_every 25 --steps 100 --seed $SEED"
PAIRED=""
RESULTS_NOTE="SmolLM2-135M-Instruct, LEAP as the smollm2-135m-steps100 preset (100 steps x 4 x 256 tokens of the bundled C4 sample) under --seed $SEED; evaluation as in RESULTS-smollm2-135m.md."
