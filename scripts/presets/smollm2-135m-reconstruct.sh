# Preset: LEAP on SmolLM2-135M-Instruct with the smollm2-135m preset's recipe (400 steps x 4 x 256
# C4-sample tokens), then ADMM's weight update on the learned mask (`--reconstruct admm`, issue
# "Beyond the paper": the kept weights reconstructed block by block on the same 64 x 1024
# calibration tokens, the mask held exactly), everything else as the smollm2-135m preset. Its cells
# are kept apart (TAG) under results/smollm2-135m-reconstruct/. The training can be the smollm2-135m
# cell's: copy that cell's last training checkpoint (<cell>/model.leap_ckpt/step_00000375) into this
# preset's cell folder and the sweep resumes there (the same steps, the same final mask), so only 25
# steps, the reconstruction and the evaluation run; a fresh cell trains all 400 steps first.
MODEL=smollm2-135m
TAG=reconstruct
METHODS="leap"
SPARSITIES="0.5 0.6"
EVAL_TASKS="wikitext2,piqa,arc_easy,arc_challenge,winogrande,openbookqa,mmlu"
EVAL_FLAGS="--seqlen 1024 --ppl_windows 64 --limit 500 --mmlu_limit 20"
PRUNE_FLAGS="--save_every 25 --reconstruct admm"
PAIRED=""
RESULTS_NOTE="SmolLM2-135M-Instruct, LEAP with the smollm2-135m preset's recipe (400 steps x 4 x 256 tokens of the bundled C4 sample), then ADMM's weight update on the learned mask (--reconstruct admm, 64 x 1024 calibration tokens); evaluation as in RESULTS-smollm2-135m.md."
