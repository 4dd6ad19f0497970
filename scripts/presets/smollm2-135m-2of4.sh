# Preset: learnable 2:4 masks on SmolLM2-135M-Instruct (issue "Beyond the paper") against the
# one-shot 2:4 methods, with the smollm2-135m preset's calibration (64 x 1024 C4-sample tokens) and
# evaluation. LEAP: the preset's recipe at 100 steps and 2:4 with MaskLLM's logit scale kappa 100 -> 500 (the
# schedule that won on stories260k, docs/RESULTS-variants.md); the other methods ignore --kappa_end.
# Cells share OUT with the unstructured sweep (out/smollm2-135m/2-4/...). ~1 h on 2 CPU cores.
# Of this grid only the LEAP cell is recorded under results/smollm2-135m/2-4/ (rerun 2026-12-07; the
# 2026-12-03 cells predate recording, their table is docs/RESULTS-smollm2-135m-2of4.md): a sweep on a
# new machine reruns the other four cells before it rebuilds that table (REPORT_ONLY=1 would
# rebuild it with the LEAP row alone; RESULTS_MD=... in the environment writes the table elsewhere).
MODEL=smollm2-135m
TYPES="2:4"
METHODS="dense wanda sparsegpt admm leap"
SPARSITIES="0.5"
EVAL_TASKS="wikitext2,piqa,arc_easy,arc_challenge,winogrande,openbookqa,mmlu"
EVAL_FLAGS="--seqlen 1024 --ppl_windows 64 --limit 500 --mmlu_limit 20"
PRUNE_FLAGS="--save_every 25 --steps 100 --kappa_end 500"
RESULTS_MD="${RESULTS_MD:-$root/docs/RESULTS-smollm2-135m-2of4.md}"   # RESULTS_MD in the environment wins
RESULTS_NOTE="SmolLM2-135M-Instruct at 2:4 (exactly 50%). wikitext2 = WikiText-2 raw test perplexity, first 64 windows of 1024 tokens. Calibration: 64 x 1024 tokens of the bundled C4 sample, seed 0, for every method (LEAP's prior: Wanda 2:4). LEAP: the smollm2-135m preset's recipe with 100 steps x 4 x 256 tokens of the C4 sample (tau 1 -> 0.05) and kappa 100 -> 500. Zero-shot acc (%): first 500 documents of piqa, arc_easy, arc_challenge, winogrande; all 500 of openbookqa; 20 per MMLU subject (1140)."
