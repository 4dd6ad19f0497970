# Preset: LEAP on SmolLM2-135M-Instruct with dense-teacher distillation (issue "Beyond the paper":
# loss = 0.5 CE + 0.5 T^2 KL(teacher || student), T = 2; the teacher is the same weights with the mask
# off) at the smollm2-135m-steps200 preset's budget (200 steps x 4 x 256 C4-sample tokens), everything
# else as the smollm2-135m preset: the second point of the recipe search of issue "A real LLM end to
# end", one change against the steps200 cell. Its cells are kept apart (TAG) under
# results/smollm2-135m-distill/; compare them with the smollm2-135m sweep's ADMM cells:
#   build/leap report results/smollm2-135m/unstructured/0.5/admm/eval.json \
#                     results/smollm2-135m-distill/unstructured/0.5/leap/eval.json --paired leap:admm
MODEL=smollm2-135m
TAG=distill
METHODS="leap"
SPARSITIES="0.5 0.6"
EVAL_TASKS="wikitext2,piqa,arc_easy,arc_challenge,winogrande,openbookqa,mmlu"
EVAL_FLAGS="--seqlen 1024 --ppl_windows 64 --limit 500 --mmlu_limit 20"
PRUNE_FLAGS="--save_every 25 --steps 200 --distill_weight 0.5 --distill_temperature 2"
PAIRED=""
RESULTS_NOTE="SmolLM2-135M-Instruct, LEAP with dense-teacher distillation (a = 0.5, T = 2) and 200 steps x 4 x 256 tokens of the bundled C4 sample (the smollm2-135m preset's recipe otherwise); evaluation as in RESULTS-smollm2-135m.md."
