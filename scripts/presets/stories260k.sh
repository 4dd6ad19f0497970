# Preset: the embedded default. Calibration, training and perplexity use the bundled TinyStories
# splits at 512 tokens (configs/models/stories260k.json); zero-shot tasks on their first 20 documents
# (20 per MMLU subject) to keep the sweep to ~20 minutes on 2 cores (stories260k is at chance on them).
MODEL=stories260k
METHODS="dense magnitude wanda sparsegpt admm leap"
SPARSITIES="0.5 0.6"
EVAL_TASKS="ppl,piqa,arc_easy,arc_challenge,winogrande,openbookqa,mmlu"
EVAL_FLAGS="--ppl_file $root/data/tinystories/eval.txt --seqlen 512 --limit 20"
RESULTS_NOTE="stories260k (260K parameters). ppl = held-out TinyStories (data/tinystories/eval.txt) perplexity, 512-token windows. Calibration: 128 x 512 tokens of the TinyStories train split, seed 0. LEAP: Wanda prior, 300 steps x 4 sequences x 256 tokens, exact final budget. Zero-shot accuracies (acc, %) on the first 20 documents per task (per MMLU subject) only: noisy, and stories260k is at chance on these tasks."
