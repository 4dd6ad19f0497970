# Preset: learnable 2:4 masks on SmolLM2-135M-Instruct with dense-teacher distillation (issue "Beyond
# the paper": loss = 0.5 CE + 0.5 T^2 KL(teacher || student), T = 2), everything else as the
# smollm2-135m-2of4 preset's LEAP cell (100 steps x 4 x 256 C4-sample tokens, kappa 100 -> 500, the
# Wanda 2:4 prior): one change against that cell. Kept apart (TAG) under
# results/smollm2-135m-distill/2-4/; compare it with plain learnable 2:4 over the same documents:
#   build/leap report results/smollm2-135m/2-4/0.5/leap/eval.json \
#                     results/smollm2-135m-distill/2-4/0.5/leap/eval.json --paired leap+distill:leap
# ~40 min on 2 CPU cores.
MODEL=smollm2-135m
TAG=distill
TYPES="2:4"
METHODS="leap"
SPARSITIES="0.5"
EVAL_TASKS="wikitext2,piqa,arc_easy,arc_challenge,winogrande,openbookqa,mmlu"
EVAL_FLAGS="--seqlen 1024 --ppl_windows 64 --limit 500 --mmlu_limit 20"
PRUNE_FLAGS="--save_every 25 --steps 100 --kappa_end 500 --distill_weight 0.5 --distill_temperature 2"
PAIRED=""
RESULTS_MD="$root/docs/RESULTS-smollm2-135m-2of4-distill.md"
RESULTS_NOTE="SmolLM2-135M-Instruct at 2:4 (exactly 50%), learnable 2:4 masks with dense-teacher distillation (a = 0.5, T = 2): the smollm2-135m-2of4 preset's LEAP cell otherwise (100 steps x 4 x 256 tokens of the bundled C4 sample, kappa 100 -> 500, Wanda 2:4 prior); evaluation as in RESULTS-smollm2-135m-2of4.md."
