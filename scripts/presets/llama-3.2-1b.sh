# Preset: Llama-3.2-1B as in the LEAP paper (docs/METHOD.md §1.6, §1.8, §3): C4 calibration 128 x 2048,
# LEAP 2000 steps x 128 x 4096 on SlimPajama-6B's train split from the local HF cache, as the paper
# (TRAIN_DATA overrides it: any --train_data source; fetch it once with
# `huggingface-cli download --repo-type dataset DKYoon/SlimPajama-6B`), WikiText-2 at 4096 and the
# six zero-shot tasks, 0-shot, full.
MODEL=llama-3.2-1b
METHODS="dense magnitude wanda sparsegpt admm leap"
SPARSITIES="0.5 0.6"
EVAL_TASKS="wikitext2,piqa,arc_easy,arc_challenge,winogrande,openbookqa,mmlu"
PRUNE_FLAGS="--recipe $root/configs/recipes/leap.json --grad_checkpoint --train_data ${TRAIN_DATA:-DKYoon/SlimPajama-6B} --max_train_samples 512000"
