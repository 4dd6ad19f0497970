# Preset: learnable 2:4 masks on SmolLM2-135M-Instruct, then ADMM's weight update on the learned mask
# (`--reconstruct admm`, issue "Beyond the paper": the kept weights reconstructed block by block on the
# same 64 x 1024 calibration tokens, every group kept exactly 2:4), everything else as the
# smollm2-135m-2of4 preset's LEAP cell (100 steps x 4 x 256 C4-sample tokens, kappa 100 -> 500): one
# change against that cell. Kept apart (TAG) under results/smollm2-135m-reconstruct/2-4/. The training
# can be that cell's: copy its last training checkpoint (<cell>/model.leap_ckpt/step_00000075) into
# this preset's cell folder (<OUT>/smollm2-135m-reconstruct/2-4/0.5/leap/model.leap_ckpt/) and the sweep
# resumes there (the same steps, the same final mask), so only 25 steps, the reconstruction and the
# evaluation run. Compare it with plain learnable 2:4 over the same documents:
#   build/leap report results/smollm2-135m/2-4/0.5/leap/eval.json \
#                     results/smollm2-135m-reconstruct/2-4/0.5/leap/eval.json --paired leap+reconstruct-admm:leap
MODEL=smollm2-135m
TAG=reconstruct
TYPES="2:4"
METHODS="leap"
SPARSITIES="0.5"
EVAL_TASKS="wikitext2,piqa,arc_easy,arc_challenge,winogrande,openbookqa,mmlu"
EVAL_FLAGS="--seqlen 1024 --ppl_windows 64 --limit 500 --mmlu_limit 20"
PRUNE_FLAGS="--save_every 25 --steps 100 --kappa_end 500 --reconstruct admm"
PAIRED=""
RESULTS_MD="$root/docs/RESULTS-smollm2-135m-2of4-reconstruct.md"
RESULTS_NOTE="SmolLM2-135M-Instruct at 2:4 (exactly 50%), learnable 2:4 masks, then ADMM's weight update on the learned mask (--reconstruct admm, 64 x 1024 calibration tokens): the smollm2-135m-2of4 preset's LEAP cell otherwise (100 steps x 4 x 256 tokens of the bundled C4 sample, kappa 100 -> 500, Wanda 2:4 prior); evaluation as in RESULTS-smollm2-135m-2of4.md."
