// options.h — one options struct per subcommand, the single source of truth for its flags.
//
// Each struct lists its fields once, in visit(V&): v(name, field, help). The same list drives
// CLI11 parsing and --help (main.cpp), the start-up config table, and the "config" object stored
// in every output JSON (config_table / config_json below). Torch-free.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <set>
#include <type_traits>
#include <string>
#include <vector>

namespace leap {

struct InspectLogitsOptions {
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

struct InspectModelOptions {
  std::string model;
  std::string dtype = "float32";
  template <class V>
  void visit(V& v) {
    v("model", model, "HF model folder, HF repo id in the local cache, or short name (configs/models)", true);
    v("dtype", dtype, "model dtype: float32 | bfloat16 | float16", false);
  }
};

struct InspectTokenizeOptions {
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

struct InspectSparsityOptions {
  std::string model;
  template <class V>
  void visit(V& v) {
    v("model", model, "HF model folder (e.g. a leap --save_model output) or short name", true);
  }
};

// `leap prune`: layer-wise baselines and (issue 5) LEAP.
struct PruneOptions {
  std::string model;
  std::string method = "wanda";
  double sparsity = 0.5;
  std::string sparsity_type = "unstructured";
  std::string calib_data;  // default: data/c4/c4_sample.jsonl (or the model preset's)
  int64_t nsamples = 128;
  int64_t calib_seqlen = 2048;
  int64_t seed = 0;
  std::string save_model;
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
  std::string eval_ppl_file;
  int64_t eval_seqlen = 2048;
  std::string output_path;
  // LEAP (--method leap); defaults from method.md §1 (the reference code / README)
  std::string train_data;  // default: the model preset's, else the calibration file
  int64_t steps = 2000;
  int64_t global_batch = 128;
  int64_t micro_batch = 1;
  int64_t seqlen = 4096;
  double lr = 1e-3;
  double beta1 = 0.9, beta2 = 0.95, weight_decay = 0.0;
  int64_t warmup_steps = 5;
  double max_grad_norm = 1.0;
  double sparse_reg = 7.0, weight_reg = 10.0;
  double tau_start = 4.0, tau_end = 0.05, kappa_start = 25.0, kappa_end = 350.0;
  double prior_strength = 3.0, init_std = 0.014;
  std::string final_mask = "exact";
  int64_t log_every = 10;
  std::string log_file;
  std::string recipe;
  std::string eval_tasks;
  int64_t eval_limit = 0;
  int64_t save_every = 0;
  std::string ckpt_dir;
  bool resume = false;
  int64_t max_steps_per_run = 0;
  bool grad_checkpoint = false;
  std::string mask_dtype = "float32";
  // data parallelism (launched by torchrun or scripts/launch.sh)
  std::string dist_backend = "auto";
  bool shard_optimizer = false;
  double bucket_mib = 25.0;
  int64_t dist_timeout = 3600;
  bool dry_run = false;
  int64_t gpu_memory_gib = 80;
  template <class V>
  void visit(V& v) {
    v("model", model, "HF model folder, HF repo id in the local cache, or short name (configs/models)", true);
    v("method", method, "magnitude | wanda | sparsegpt | admm | leap", false);
    v("sparsity", sparsity, "target sparsity over the decoder linears (N:M implies 1-N/M)", false);
    v("sparsity_type", sparsity_type, "unstructured | N:M (2:4, 4:8)", false);
    v("calib_data", calib_data, "calibration text: .jsonl with a \"text\" field, or plain text (default: bundled C4 sample)", false);
    v("nsamples", nsamples, "calibration sequences", false);
    v("calib_seqlen", calib_seqlen, "tokens per calibration sequence", false);
    v("seed", seed, "seed of the calibration sampling", false);
    v("save_model", save_model, "write the pruned model as an HF folder here", false);
    v("device", device, "cpu | cuda | cuda:N | auto", false);
    v("dtype", dtype, "model dtype (default float32 on CPU, bfloat16 on CUDA)", false);
    v("batch_size", batch_size, "calibration sequences per forward pass", false);
    v("offload_activations", offload_activations, "keep calibration activations on the CPU between blocks", false);
    v("shift_zero_metrics", shift_zero_metrics, "Wanda: shift column statistics by their smallest positive value", false);
    v("percdamp", percdamp, "SparseGPT: Hessian dampening, fraction of mean(diag H)", false);
    v("blocksize", blocksize, "SparseGPT: columns per block", false);
    v("admm_percdamp", admm_percdamp, "ADMM: dampening of the normalised Gram matrix", false);
    v("admm_iters", admm_iters, "ADMM: iterations", false);
    v("admm_iterative_prune", admm_iterative_prune, "ADMM: iterations that re-select the mask", false);
    v("admm_gradual", admm_gradual, "ADMM: the paper's cubic per-output schedule instead of the published code's", false);
    v("eval_ppl_file", eval_ppl_file, "after pruning, report perplexity on this text file", false);
    v("eval_seqlen", eval_seqlen, "window length of --eval_ppl_file", false);
    v("output_path", output_path, "write a JSON report (config, sparsity, perplexity) here", false);
    v("train_data", train_data, "LEAP: training text (.jsonl \"text\" or plain), tokenised and packed into --seqlen blocks", false);
    v("steps", steps, "LEAP: optimizer steps T", false);
    v("global_batch", global_batch, "LEAP: sequences per optimizer step", false);
    v("micro_batch", micro_batch, "LEAP: sequences per forward/backward (fresh mask noise for each)", false);
    v("seqlen", seqlen, "LEAP: tokens per training sequence", false);
    v("lr", lr, "LEAP: peak AdamW learning rate (cosine, warm-up)", false);
    v("beta1", beta1, "LEAP: AdamW beta1", false);
    v("beta2", beta2, "LEAP: AdamW beta2", false);
    v("weight_decay", weight_decay, "LEAP: AdamW weight decay on the logits", false);
    v("warmup_steps", warmup_steps, "LEAP: linear warm-up steps", false);
    v("max_grad_norm", max_grad_norm, "LEAP: gradient clipping (global norm)", false);
    v("sparse_reg", sparse_reg, "LEAP: density penalty weight lambda_s", false);
    v("weight_reg", weight_reg, "LEAP: weight-norm reward weight lambda_w (decays to 0)", false);
    v("tau_start", tau_start, "LEAP: Gumbel-sigmoid temperature at step 0", false);
    v("tau_end", tau_end, "LEAP: temperature at step T", false);
    v("kappa_start", kappa_start, "LEAP: logit scale at step 0", false);
    v("kappa_end", kappa_end, "LEAP: logit scale at step T", false);
    v("prior_strength", prior_strength, "LEAP: Wanda prior strength (in std of the initial logits)", false);
    v("init_std", init_std, "LEAP: std of the initial logits", false);
    v("final_mask", final_mask, "LEAP: exact (global top-k at the budget) | threshold (keep theta > 0)", false);
    v("log_every", log_every, "LEAP: steps between log lines / metrics records", false);
    v("log_file", log_file, "LEAP: metrics JSONL file", false);
    v("recipe", recipe, "JSON file of flag values (e.g. configs/recipes/leap.json); flags override it", false);
    v("eval_tasks", eval_tasks, "after pruning, run leap eval on these tasks (same names as leap eval --tasks)", false);
    v("eval_limit", eval_limit, "--limit for --eval_tasks", false);
    v("save_every", save_every, "LEAP: write a training checkpoint every N steps (0: only when stopping early)", false);
    v("ckpt_dir", ckpt_dir, "LEAP: training checkpoint folder (default: <save_model>.leap_ckpt)", false);
    v("resume", resume, "LEAP: continue from the newest complete checkpoint in --ckpt_dir", false);
    v("max_steps_per_run", max_steps_per_run, "LEAP: stop after N steps of this invocation with a checkpoint (continue with --resume)", false);
    v("grad_checkpoint", grad_checkpoint, "LEAP: recompute each decoder block in backward instead of storing its activations", false);
    v("mask_dtype", mask_dtype, "LEAP: dtype of the mask logits and their gradients: float32 | bfloat16 (bfloat16 keeps a float32 master copy and float32 AdamW moments)", false);
    v("dist_backend", dist_backend, "data parallel: auto (nccl on CUDA, gloo on CPU) | gloo | nccl", false);
    v("shard_optimizer", shard_optimizer, "data parallel: shard AdamW state and master logits over the ranks (ZeRO-1/2)", false);
    v("bucket_mib", bucket_mib, "data parallel: gradient all-reduce bucket size in MiB", false);
    v("dist_timeout", dist_timeout, "data parallel: seconds a rank waits for the others (rendezvous, collectives)", false);
    v("dry_run", dry_run, "print the memory estimate per rank for this model and these settings, then stop", false);
    v("gpu_memory_gib", gpu_memory_gib, "--dry_run: memory per device to fit, in GiB", false);
  }
  std::set<std::string> given;  // flags set on the command line (filled by the CLI)
};

// `leap eval`: perplexity and zero-shot tasks.
struct EvalOptions {
  std::string model;
  std::string tasks = "wikitext2,piqa,arc_easy,arc_challenge,winogrande,openbookqa,mmlu";
  int64_t seqlen = 4096;
  int64_t batch_size = 8;
  int64_t limit = 0;
  int64_t num_fewshot = 0;
  std::string data_dir;  // default $LEAP_DATA_DIR, else leap's data/
  std::string device = "auto";
  std::string dtype;
  std::string output_path;
  std::string ppl_file;
  std::string log_samples;
  int64_t max_length = 0;  // 0: the model's max_position_embeddings
  int64_t ppl_windows = 0;  // 0: every window (c4: 256)
  int64_t mmlu_limit = 0;   // 0: --limit
  template <class V>
  void visit(V& v) {
    v("model", model, "HF model folder, HF repo id in the local cache, or short name (configs/models)", true);
    v("tasks", tasks, "comma list: wikitext2, c4, ppl, piqa, arc_easy, arc_challenge, openbookqa, winogrande, mmlu, hellaswag, lambada_openai, mmlu_<subject> (with --ppl_file and no --tasks: ppl)", false);
    v("seqlen", seqlen, "perplexity window length (4096; 2048 for the older literature; a preset's eval_seqlen)", false);
    v("ppl_windows", ppl_windows, "perplexity on the first N windows only (0: all; c4: 256)", false);
    v("batch_size", batch_size, "sequences per forward pass", false);
    v("limit", limit, "evaluate only the first N documents of each task (per subject for mmlu)", false);
    v("mmlu_limit", mmlu_limit, "mmlu: the first N documents per subject instead of --limit", false);
    v("num_fewshot", num_fewshot, "few-shot examples (mmlu only: first N of the dev split)", false);
    v("data_dir", data_dir, "folder with the task data (default $LEAP_DATA_DIR, else the bundled data/)", false);
    v("device", device, "cpu | cuda | cuda:N | auto", false);
    v("dtype", dtype, "model dtype (default float32 on CPU, bfloat16 on CUDA)", false);
    v("output_path", output_path, "write lm-eval-shaped results JSON here", false);
    v("ppl_file", ppl_file, "text file for the task \"ppl\"", false);
    v("log_samples", log_samples, "write per-document log-likelihoods (jsonl) here", false);
    v("max_length", max_length, "context limit for task scoring (0: the model's max_position_embeddings)", false);
  }
  std::set<std::string> given;
};

// `leap report`: a comparison table of eval result files.
struct ReportOptions {
  std::vector<std::string> inputs;
  std::string output;
  std::string csv;
  std::vector<std::string> plot;
  template <class V>
  void visit(V& v) {
    v("inputs", inputs, "result JSON files written by leap eval --output_path", true);
    v("output", output, "also write the Markdown table to this file", false);
    v("csv", csv, "also write the table as CSV to this file", false);
    v("plot", plot, "write a figure (SVG; PNG too when rsvg-convert is installed): a name containing \"loss\" plots the LEAP training curves (metrics.jsonl next to each result), any other name the per-block density of the pruned models (repeatable)", false);
  }
};

// ---- visitors shared by every options struct ----
namespace detail {
inline std::string to_display(const std::string& s) { return s.empty() ? "-" : s; }
inline std::string to_display(bool b) { return b ? "true" : "false"; }
template <class T>
std::string to_display(const T& x) {
  return nlohmann::json(x).dump();
}
struct TableVisitor {
  std::vector<std::pair<std::string, std::string>> rows;
  template <class T>
  void operator()(const char* name, const T& field, const char*, bool) {
    rows.emplace_back(name, to_display(field));
  }
};
struct JsonVisitor {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  template <class T>
  void operator()(const char* name, const T& field, const char*, bool) {
    j[name] = field;
  }
};

struct DefaultsVisitor {  // assigns preset values to fields the user did not set
  const nlohmann::json& j;
  const std::set<std::string>& given;
  std::string source;
  template <class T>
  void operator()(const char* name, T& field, const char*, bool) {
    if (!j.contains(name) || given.count(name)) return;
    // an integer field must hold a JSON integer: converting 1e115 to int64 is undefined behaviour
    // (found by the recipe fuzzer)
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>)
      if (!j[name].is_number_integer())
        throw std::runtime_error(source + ": \"" + name + "\" has the wrong type: expected an integer");
    try {
      field = j[name].get<T>();
    } catch (const nlohmann::json::exception& e) {
      throw std::runtime_error(source + ": \"" + name + "\" has the wrong type: " + e.what());
    }
  }
};

struct NamesVisitor {
  std::set<std::string> names;
  template <class T>
  void operator()(const char* name, T&, const char*, bool) {
    names.insert(name);
  }
};
}  // namespace detail

// Applies a recipe file: every key must be an option name (or start with '_', a comment); values
// fill the fields not given as flags, which then count as given (a model preset cannot override).
template <class Opts>
void apply_recipe(Opts& o, const nlohmann::json& recipe, const std::string& source) {
  if (!recipe.is_object()) throw std::runtime_error(source + ": a recipe must be a JSON object");
  detail::NamesVisitor names;
  o.visit(names);
  for (auto it = recipe.begin(); it != recipe.end(); ++it)
    if (!it.key().empty() && it.key()[0] != '_' && !names.names.count(it.key()))
      throw std::runtime_error(source + ": unknown key \"" + it.key() + "\"");
  detail::DefaultsVisitor v{recipe, o.given, source};
  o.visit(v);
  for (auto it = recipe.begin(); it != recipe.end(); ++it)
    if (names.names.count(it.key())) o.given.insert(it.key());
}

// Applies the entries of `defaults` (e.g. a model preset) to the fields not given as flags.
template <class Opts>
void apply_defaults(Opts& o, const nlohmann::json& defaults, const std::string& source) {
  detail::DefaultsVisitor v{defaults, o.given, source};
  o.visit(v);
}


// Boxed two-column table of the effective configuration (llm.c style).
std::string format_table(const std::string& title, const std::vector<std::pair<std::string, std::string>>& rows);

template <class Opts>
std::string config_table(const std::string& title, Opts& o) {
  detail::TableVisitor v;
  o.visit(v);
  return format_table(title, v.rows);
}
template <class Opts>
nlohmann::ordered_json config_json(Opts& o) {
  detail::JsonVisitor v;
  o.visit(v);
  return v.j;
}

}  // namespace leap
