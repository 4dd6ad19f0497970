// options.h — one arguments struct per subcommand, the single source of truth for its flags.
//
// Each struct lists its fields once, in visit(V&): v(name, field, help, required), and composes
// the libraries' own option structs (TrainOptions for LEAP, EvalOptions for evaluation) by
// visiting them in place, as gemma.cpp composes its Args. The same list drives CLI11 parsing and
// --help (main.cpp), the start-up config table, recipes and presets, and the "config" object
// stored in every output JSON (base/option_visitors.h). Torch-free.
#pragma once
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "base/option_visitors.h"
#include "eval/eval_options.h"
#include "leap/train_options.h"

namespace leap {

struct InspectLogitsArgs {
  std::string model;
  std::string input_ids;  // JSON list of equal-length token-id lists
  std::string output;     // .safetensors with one float32 tensor "logits" [batch, seq, vocab]
  std::string dtype = "float32";
  std::string device = "auto";
  template <class V>
  void visit(V& v) {
    v("model", model, "HF model folder, HF repo id in the local cache, or short name (configs/models)", true);
    v("input_ids", input_ids, "JSON file: a list of equal-length lists of token ids", true);
    v("output", output, "output .safetensors file (tensor \"logits\", float32, [batch, seq, vocab])", true);
    v("dtype", dtype, "model dtype: float32 | bfloat16 | float16", false);
    v("device", device, "cpu | cuda | cuda:N | auto", false);
  }
};

struct InspectModelArgs {
  std::string model;
  std::string dtype = "float32";
  template <class V>
  void visit(V& v) {
    v("model", model, "HF model folder, HF repo id in the local cache, or short name (configs/models)", true);
    v("dtype", dtype, "model dtype: float32 | bfloat16 | float16", false);
  }
};

struct InspectTokenizeArgs {
  std::string model;
  std::string text;
  bool no_special = false;
  template <class V>
  void visit(V& v) {
    v("model", model, "HF model folder, HF repo id in the local cache, or short name (configs/models)", true);
    v("text", text, "text to tokenize", true);
    v("no_special", no_special, "do not add the tokenizer's default special tokens (BOS/EOS)", false);
  }
};

// `leap inspect data`: what LEAP would train on (source, tokens, blocks), optionally the blocks.
struct InspectDataArgs {
  std::string model;
  TrainOptions data;  // train_data, train_split, text_field, seqlen, max_train_samples, pack_*, data_*
  std::string output;
  template <class V>
  void visit(V& v) {
    v("model", model, "HF model folder, HF repo id in the local cache, or short name (its tokenizer)", true);
    v("train_data", data.train_data, "training text (any leap prune --train_data source)", true);
    v("train_split", data.train_split, "split of an HF dataset", false);
    v("text_field", data.text_field, "text field of .jsonl / column of .parquet data", false);
    v("seqlen", data.seqlen, "tokens per block", false);
    v("max_train_samples", data.max_train_samples, "keep the first N blocks, from the first 6N documents (0: all)",
      false);
    v("pack_batch", data.pack_batch, "documents per packing batch (remainder dropped)", false);
    v("pack_shards", data.pack_shards, "contiguous document shards packed apart", false);
    v("data_workers", data.data_workers, "tokeniser threads (0: all cores)", false);
    v("output", output, "write the blocks in packing order as .safetensors (int32 \"input_ids\" [blocks, seqlen])",
      false);
  }
};

struct InspectSparsityArgs {
  std::string model;
  template <class V>
  void visit(V& v) {
    v("model", model, "HF model folder (e.g. a leap --save_model output) or short name", true);
  }
};

// `leap prune`: LEAP (the default) and the layer-wise baselines.
struct PruneArgs {
  std::string model;
  std::string method = "leap";
  double sparsity = 0.5;
  std::string sparsity_type = "unstructured";
  std::string calib_data;  // default: data/c4/c4_sample.jsonl (or the model preset's)
  std::string calib_split = "train";
  int64_t nsamples = 128;
  int64_t calib_seqlen = 2048;
  int64_t seed = 0;
  std::string save_model;
  std::string save_mask;
  std::string device = "auto";
  std::string dtype;  // default: float32 on CPU, bfloat16 on CUDA
  int64_t batch_size = 8;
  bool offload_activations = false;
  bool shift_zero_metrics = true;
  double percdamp = 0.01;
  int64_t blocksize = 128;
  double admm_percdamp = 0.1;
  int64_t admm_iters = 20;
  int64_t admm_iterative_prune = 15;
  bool admm_gradual = false;
  std::string reconstruct;  // "" | sparsegpt | admm
  double owl_m = 0;         // OWL outlier threshold (× mean); 0: one sparsity for every block
  double owl_lambda = 0;    // OWL: block sparsities within ±λ of --sparsity
  std::string eval_ppl_file;
  int64_t eval_seqlen = 4096;  // as leap eval --seqlen
  std::string output_path;
  std::string recipe;
  std::string eval_tasks;
  int64_t eval_limit = 0;
  TrainOptions leap;  // --method leap
  // data parallelism (launched by torchrun or scripts/launch.sh)
  std::string dist_backend = "auto";
  int64_t dist_timeout = 3600;
  bool dry_run = false;
  int64_t gpu_memory_gib = 80;
  template <class V>
  void visit(V& v) {
    v("model", model, "HF model folder, HF repo id in the local cache, or short name (configs/models)", true);
    v("method", method, "leap (learned masks, the default) | magnitude | wanda | sparsegpt | admm (layer-wise)", false);
    v("sparsity", sparsity, "target sparsity over the decoder linears (N:M implies 1-N/M)", false);
    v("sparsity_type", sparsity_type, "unstructured | N:M (2:4, 4:8; leap learns N:M pattern logits, M <= 8)", false);
    v("calib_data", calib_data,
      "calibration text, any --train_data source (.jsonl, .parquet, folder, glob, cached HF dataset; default: the "
      "bundled C4 sample)",
      false);
    v("calib_split", calib_split, "split of an HF dataset --calib_data", false);
    v("nsamples", nsamples, "calibration sequences (the layer-wise methods and LEAP's Wanda prior)", false);
    v("calib_seqlen", calib_seqlen, "tokens per calibration sequence", false);
    v("seed", seed, "seed of the calibration sampling, LEAP's initial logits, data order and mask noise", false);
    v("save_model", save_model, "write the pruned model as an HF folder here", false);
    v("save_mask", save_mask,
      "write the keep masks as a 1-bit mask file (safetensors, with the base weights' sha256) here; leap apply-mask "
      "rebuilds the model from it (masks that select weights only: leap, wanda, magnitude without --reconstruct)",
      false);
    v("device", device, "cpu | cuda | cuda:N | auto", false);
    v("dtype", dtype, "model dtype (default float32 on CPU, bfloat16 on CUDA)", false);
    v("batch_size", batch_size, "calibration sequences per forward pass", false);
    v("offload_activations", offload_activations, "keep calibration activations on the CPU between blocks", false);
    v("shift_zero_metrics", shift_zero_metrics, "Wanda: shift column statistics by their smallest positive value",
      false);
    v("percdamp", percdamp, "SparseGPT: Hessian dampening, fraction of mean(diag H)", false);
    v("blocksize", blocksize, "SparseGPT: columns per block", false);
    v("admm_percdamp", admm_percdamp, "ADMM: dampening of the normalised Gram matrix", false);
    v("admm_iters", admm_iters, "ADMM: iterations", false);
    v("admm_iterative_prune", admm_iterative_prune, "ADMM: iterations that re-select the mask", false);
    v("admm_gradual", admm_gradual, "ADMM: the paper's cubic per-output schedule instead of the published code's",
      false);
    v("reconstruct", reconstruct,
      "sparsegpt | admm: after the mask is chosen (leap, wanda, magnitude), update the kept weights block by block "
      "on the calibration data with the mask held fixed (the sparsity does not change)",
      false);
    v("owl_m", owl_m,
      "OWL: per-block sparsity from the share of weights whose |W|·‖X‖ exceeds owl_m × the block's mean (as "
      "llm-compressor's sparsity_profile=\"owl\"; the paper uses 5); 0: off. For every layer-wise method and LEAP's "
      "prior",
      false);
    v("owl_lambda", owl_lambda,
      "OWL: the block sparsities span 2 x owl_lambda around --sparsity, their mean (the paper uses 0.08)", false);
    v("eval_ppl_file", eval_ppl_file, "after pruning, report perplexity on this text file", false);
    v("eval_seqlen", eval_seqlen,
      "window length of --eval_ppl_file and --eval_tasks perplexities (as leap eval --seqlen; a preset's eval_seqlen)",
      false);
    v("output_path", output_path, "write a JSON report (config, sparsity, perplexity) here", false);
    v("recipe", recipe, "JSON file of flag values (e.g. configs/recipes/leap.json); flags override it", false);
    v("eval_tasks", eval_tasks, "after pruning, run leap eval on these tasks (same names as leap eval --tasks)", false);
    v("eval_limit", eval_limit, "--limit for --eval_tasks", false);
    leap.visit(v);
    v("dist_backend", dist_backend, "data parallel: auto (nccl on CUDA, gloo on CPU) | gloo | nccl", false);
    v("dist_timeout", dist_timeout, "data parallel: seconds a rank waits for the others (rendezvous, collectives)",
      false);
    v("dry_run", dry_run, "print the memory estimate per rank for this model and these settings, then stop", false);
    v("gpu_memory_gib", gpu_memory_gib, "--dry_run: memory per device to fit, in GiB", false);
  }
  std::set<std::string> given;  // flags set on the command line (filled by the CLI)
};

// `leap eval`: perplexity and zero-shot tasks on one model.
struct EvalArgs {
  std::string model;
  EvalOptions eval;
  std::string device = "auto";
  std::string dtype;
  std::string output_path;
  template <class V>
  void visit(V& v) {
    v("model", model, "HF model folder, HF repo id in the local cache, or short name (configs/models)", true);
    eval.visit(v);
    v("device", device, "cpu | cuda | cuda:N | auto", false);
    v("dtype", dtype, "model dtype (default float32 on CPU, bfloat16 on CUDA)", false);
    v("output_path", output_path, "write lm-eval-shaped results JSON here", false);
  }
  std::set<std::string> given;
};

// `leap apply-mask`: a dense model and a mask file (leap's, or the reference's mask.npz) → the
// pruned model.
struct ApplyMaskArgs {
  std::string model;
  std::string mask;
  std::string save_model;
  std::string output_path;
  template <class V>
  void visit(V& v) {
    v("model", model, "the dense base model the mask was made for (folder, HF repo id or short name)", true);
    v("mask", mask, "mask file: leap prune --save_mask output, or a LEAP/PATCH release's mask.npz", true);
    v("save_model", save_model, "write the pruned model as an HF folder here", true);
    v("output_path", output_path, "also write the JSON report (mask, checks, sparsity) here", false);
  }
  std::set<std::string> given;
};

// `leap report`: a comparison table of eval result files.
struct ReportArgs {
  std::vector<std::string> inputs;
  std::string output;
  std::string csv;
  std::vector<std::string> plot;
  std::vector<std::string> paired;
  template <class V>
  void visit(V& v) {
    v("inputs", inputs, "result JSON files written by leap eval --output_path", true);
    v("paired", paired,
      "METHOD:BASELINE, e.g. leap:admm or leap+owl:leap (a method with the variants it ran with: +distill, +owl, "
      "+reconstruct-admm, +reconstruct-sparsegpt; then @seedN for a seed other than 0, e.g. leap@seed1:leap): "
      "a table of each METHOD run minus the BASELINE run at the same sparsity and pattern, per task over the "
      "same documents with standard errors (needs the samples.jsonl that leap eval --log_samples wrote beside "
      "each result; repeatable)",
      false);
    v("output", output, "also write the Markdown table to this file", false);
    v("csv", csv, "also write the table as CSV to this file", false);
    v("plot", plot,
      "write a figure (SVG; PNG too when rsvg-convert is installed): a name containing \"loss\" plots the LEAP "
      "training curves (metrics.jsonl next to each result), any other name the per-block density of the pruned models "
      "(repeatable)",
      false);
  }
};

}  // namespace leap
