// cmd_prune.cpp — `leap prune`: resolve and load the model, apply the recipe and the model preset,
// then either train LEAP masks (leap/trainer.h, the default) or prune block by block with a
// layer-wise method (prune/layerwise.h); measure the achieved sparsity over exactly the decoder
// linears, optionally evaluate, and write the HF folder with leap_sparsity.json and the report.
// With torchrun's environment LEAP runs data-parallel; the layer-wise methods run on rank 0.
#include "cmd_prune.h"

#include <filesystem>
#include <map>
#include <memory>
#include <torch/version.h>

#include "base/error.h"
#include "base/fs_util.h"
#include "base/log.h"
#include "base/progress.h"
#include "base/sha256.h"
#include "cmd_apply_mask.h"
#include "eval/evaluate.h"
#include "eval/ppl.h"
#include "io/hf_config.h"
#include "io/model_path.h"
#include "leap/distributed.h"
#include "leap/memory_model.h"
#include "leap/trainer.h"
#include "leap/version.h"
#include "model/device.h"
#include "model/hf_export.h"
#include "prune/calibration.h"
#include "prune/layerwise.h"
#include "prune/owl.h"
#include "prune/sparsity_summary.h"
#include "text/tokenizer.h"

namespace leap {
namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

namespace {

// What the memory model needs besides the LEAP settings.
MemoryPlan memory_plan(const PruneArgs& o, torch::Dtype dt, int world, bool cuda, const SparsityPattern& pattern) {
  return {o.nsamples, o.calib_seqlen, o.gpu_memory_gib, int(torch::elementSize(dt)), world, cuda, pattern.n, pattern.m};
}

// `--dry_run`: the memory estimate from config.json alone — the model's, or, for a short name not
// downloaded yet, the architecture in its preset — so a GPU plan can be made on any machine.
void dry_run(PruneArgs& o) {
  const DistEnv denv = dist_env_from_environment();
  log::set_rank(denv.rank);
  ModelConfig cfg;
  std::string source;
  try {
    ResolvedModel rm = resolve_model(o.model);
    apply_defaults(o, model_preset_defaults(rm.preset), o.model + " preset");
    source = (fs::path(rm.dir) / "config.json").string();
    cfg = load_hf_config(source);
  } catch (const Error&) {
    const ModelPreset preset = read_model_preset(o.model);
    if (!preset.found() || !preset.json.contains("config")) throw;
    apply_defaults(o, model_preset_defaults(preset), o.model + " preset");
    source = preset.file + " (\"config\"; the model is not downloaded)";
    cfg = parse_hf_config(preset.json["config"].dump(), preset.file);
  }
  const bool cuda =
      o.device.rfind("cuda", 0) == 0 || ((o.device == "auto" || o.device.empty()) && torch::cuda::is_available());
  torch::Dtype dt = o.dtype.empty() ? (cuda ? torch::kBFloat16 : torch::kFloat32) : parse_dtype(o.dtype);
  const SparsityPattern pattern = parse_sparsity_type(o.sparsity_type);
  log::out(memory_estimate_table(cfg, source, o.leap, memory_plan(o, dt, denv.world, cuda, pattern)));
}

// What the flags, the recipe and the preset resolve to for this process.
struct PruneRun {
  ResolvedModel rm;
  DistEnv denv;
  torch::Device dev = torch::kCPU;
  torch::Dtype dtype = torch::kFloat32;
  SparsityPattern pattern;
  bool leap = false;  // --method leap
};

// On CUDA, the measured training peaks (rank 0's) beside the memory model's total: how far the
// --dry_run estimate is from this run (fragmentation and the allocator's cache are not modelled).
void compare_with_memory_model(const PruneArgs& o, const PruneRun& r, const ModelConfig& cfg, ojson& training) {
  if (!r.dev.is_cuda() || !training.contains("cuda_peak_reserved_mib_per_rank")) return;
  const MemoryPlan plan = memory_plan(o, r.dtype, r.denv.world, true, r.pattern);
  const MemoryEstimate e = estimate_memory(cfg, memory_inputs(o.leap, plan), plan.nsamples, plan.calib_seqlen);
  const double model_mib = e.total / (1024.0 * 1024.0);
  const double alloc = training["cuda_peak_allocated_mib_per_rank"][0].get<double>(),
               reserved = training["cuda_peak_reserved_mib_per_rank"][0].get<double>();
  training["memory_model_mib_per_rank"] = model_mib;
  LEAP_INFO(
      "memory model: %.0f MiB per rank while training; measured on rank 0: %.0f MiB allocated (%.2fx), %.0f "
      "MiB reserved (%.2fx)",
      model_mib, alloc, alloc / model_mib, reserved, reserved / model_mib);
}

// Applies the preset, fills the defaults that depend on others (calibration and training text,
// the checkpoint folder, device per rank, dtype) and checks the method; `o` then shows them all.
PruneRun resolve_run(PruneArgs& o) {
  PruneRun r;
  r.rm = resolve_model(o.model);
  apply_defaults(o, model_preset_defaults(r.rm.preset), o.model + " preset");
  if (o.calib_data.empty()) o.calib_data = (fs::path(leap_home()) / "data" / "c4" / "c4_sample.jsonl").string();
  r.denv = dist_env_from_environment();  // torchrun's environment; one process when absent
  log::set_rank(r.denv.rank);
  r.dev = parse_device(o.device);
  if (r.denv.distributed() && r.dev.is_cuda() && (o.device == "auto" || o.device == "cuda" || o.device.empty()))
    r.dev = parse_device("cuda:" + std::to_string(r.denv.local_rank));  // one GPU per rank
  r.dtype = o.dtype.empty() ? default_dtype(r.dev) : parse_dtype(o.dtype);
  o.dtype = dtype_string(r.dtype);
  r.pattern = parse_sparsity_type(o.sparsity_type);
  o.sparsity = pattern_sparsity(r.pattern, o.sparsity);
  r.leap = o.method == "leap";
  if (r.leap) {
    LEAP_CHECK(r.pattern.unstructured() || r.pattern.m <= 8,
               "--method leap --sparsity_type %s: learnable N:M masks keep C(M,N) logits per group of M weights, and M "
               "is at most 8 (4:8: 70 per group)",
               r.pattern.str().c_str());
    LEAP_CHECK(r.dtype != torch::kFloat16, "%s", kFloat16Refusal);  // before the model is loaded
    if (o.leap.train_data.empty())  // never the calibration sample in its place: it is some 0.5 M tokens
      fail(
          "--method leap needs training text and %s names none: pass --train_data (a .txt / .jsonl[.gz|.zst] / "
          ".parquet file, a folder or glob of them, or a dataset in the local HF cache such as DKYoon/SlimPajama-6B)",
          r.rm.preset.found() ? (r.rm.preset.file + " (the " + o.model + " preset)").c_str() : "the model");
    if (o.leap.ckpt_dir.empty() && !o.save_model.empty()) o.leap.ckpt_dir = o.save_model + ".leap_ckpt";
  } else {
    make_pruner(o.method, {}, 1, torch::kCPU);  // validates the method name early
  }
  if (!o.reconstruct.empty()) {
    LEAP_CHECK(o.reconstruct == "sparsegpt" || o.reconstruct == "admm",
               "--reconstruct takes sparsegpt or admm (got \"%s\")", o.reconstruct.c_str());
    LEAP_CHECK(r.leap || o.method == "wanda" || o.method == "magnitude",
               "--method %s updates the weights itself; --reconstruct is for the masks of leap, wanda and magnitude",
               o.method.c_str());
  }
  LEAP_CHECK(o.owl_m >= 0 && o.owl_lambda >= 0 && ((o.owl_m > 0) == (o.owl_lambda > 0)),
             "--owl_m and --owl_lambda go together, both positive (got %g and %g; llm-compressor's OWL needs both too)",
             o.owl_m, o.owl_lambda);
  if (o.owl_m > 0) {
    LEAP_CHECK(r.pattern.unstructured(), "--owl_m: OWL allocates unstructured sparsity (N:M fixes every block's)");
    LEAP_CHECK(o.sparsity - 2 * o.owl_lambda >= 0 && o.sparsity + 2 * o.owl_lambda <= 1,
               "--owl_lambda %g: the block sparsities, within --sparsity ± 2 x owl_lambda (prune/owl.h), must lie in "
               "[0, 1] (--sparsity %g)",
               o.owl_lambda, o.sparsity);
  }
  // a mask file rebuilds the model only where the method selected weights without changing them
  LEAP_CHECK(
      o.save_mask.empty() || ((r.leap || o.method == "wanda" || o.method == "magnitude") && o.reconstruct.empty()),
      "--save_mask: --method %s%s updates the kept weights, so a mask alone cannot rebuild the pruned model; "
      "use --save_model",
      o.method.c_str(), o.reconstruct.empty() ? "" : (" with --reconstruct " + o.reconstruct).c_str());
  if (r.denv.distributed() && r.leap) o.dist_backend = resolve_dist_backend(o.dist_backend, r.dev.is_cuda());
  return r;
}

LayerwiseOptions layerwise_options(const PruneArgs& o, const PruneRun& r) {
  LayerwiseOptions lo;
  lo.method = r.leap ? "wanda" : o.method;  // LEAP's prior is Wanda at the target sparsity
  lo.sparsity = o.sparsity;
  lo.pattern = r.pattern;
  lo.batch = o.batch_size;
  lo.offload_activations = o.offload_activations;
  lo.pruner.shift_zero_metrics = r.leap || o.shift_zero_metrics;
  lo.pruner.sparsegpt_percdamp = o.percdamp;
  lo.pruner.sparsegpt_blocksize = o.blocksize;
  lo.pruner.admm_percdamp = o.admm_percdamp;
  lo.pruner.admm_iters = o.admm_iters;
  lo.pruner.admm_iterative_prune = o.admm_iterative_prune;
  lo.pruner.admm_gradual = o.admm_gradual;
  return lo;
}

// --reconstruct: the dense weights updated on the chosen keep masks, block by block on the
// calibration data (docs/METHOD.md §2.7); the pruned model `m` is released first.
void reconstruct_weights(CausalLM& m, const PruneArgs& o, const PruneRun& r, const CalibData& calib,
                         const std::map<std::string, torch::Tensor>& keep) {
  Stopwatch sw;
  m = CausalLM(nullptr);
  m = load_model(r.rm.dir, {r.dtype, r.dev});
  LayerwiseOptions ro = layerwise_options(o, r);
  ro.method = o.reconstruct;
  ro.keep = &keep;
  prune_layerwise(m, calib.ids, ro);
  LEAP_INFO("reconstructed the kept weights with %s on the %s masks in %s", o.reconstruct.c_str(), o.method.c_str(),
            format_duration(sw.seconds()).c_str());
}

// One writer per output: rank 0 locks the model folder, the training checkpoints and the report.
std::vector<std::unique_ptr<OutputLock>> lock_outputs(const PruneArgs& o, int rank) {
  std::vector<std::unique_ptr<OutputLock>> locks;
  if (rank != 0) return locks;
  for (const std::string* p : {&o.save_model, &o.save_mask, &o.leap.ckpt_dir, &o.output_path})
    if (!p->empty()) locks.push_back(std::make_unique<OutputLock>(*p));
  return locks;
}

// leap_sparsity.json / --output_path: what was run on which data, and what it achieved.
ojson prune_report(PruneArgs& o, const PruneRun& r, const CalibData& calib, const ojson& sparsity, double seconds,
                   const ojson& training) {
  const bool magnitude = o.method == "magnitude" && o.reconstruct.empty() && o.owl_m <= 0;  // no calibration read
  return {{"leap_version", version()},
          {"git_sha", kGitSha},
          {"libtorch", TORCH_VERSION},
          {"method", o.method},
          {"target_sparsity", o.sparsity},
          {"pattern", r.pattern.str()},
          {"reconstruct", o.reconstruct.empty() ? ojson(nullptr) : ojson(o.reconstruct)},
          {"achieved_sparsity", sparsity},
          {"nsamples", magnitude ? 0 : o.nsamples},
          {"calib_seqlen", o.calib_seqlen},
          {"seed", o.seed},
          {"calibration", magnitude ? ojson(nullptr)
                                    : ojson{{"path", calib.path}, {"sha256", calib.sha256}, {"format", calib.format}}},
          {"source_model", r.rm.dir},
          {"prune_seconds", seconds},
          {"training", training},
          {"config", config_json(o)}};
}

// --eval_ppl_file and --eval_tasks on the pruned model in memory; results go into the report.
void evaluate_pruned(CausalLM& m, const Tokenizer& tok, const PruneArgs& o, const PruneRun& r, ojson& report) {
  if (!o.eval_ppl_file.empty()) {
    PplText t = load_ppl_text("ppl", "", o.eval_ppl_file);
    auto ids = tok.encode(t.text, true);
    PplResult p = eval_ppl_ids(m, ids, o.eval_seqlen, 1, 0, "ppl");
    LEAP_INFO("perplexity on %s: %.4f (%lld windows of %lld tokens)", t.path.c_str(), p.ppl, (long long)p.windows,
              (long long)p.seqlen);
    report["eval"] = {
        {"ppl", p.ppl}, {"file", t.path}, {"sha256", t.sha256}, {"seqlen", p.seqlen}, {"windows", p.windows}};
  }
  if (!o.eval_tasks.empty()) {
    EvalArgs ea;  // as `leap eval --model <the output> --tasks ... --seqlen --limit` would record it
    ea.model = o.save_model.empty() ? r.rm.dir : o.save_model;
    ea.eval.tasks = o.eval_tasks;
    ea.eval.seqlen = o.eval_seqlen;
    ea.eval.limit = o.eval_limit;
    ea.device = o.device;
    ea.dtype = o.dtype;
    ojson ev = evaluate_model(m, tok, ea.eval, r.rm.dir, config_json(ea));
    log::out(results_table(ev));
    report["eval_results"] = ev["results"];
    if (ev["summary"].contains("avg_acc_6")) report["eval_avg_acc_6"] = ev["summary"]["avg_acc_6"];
  }
}

}  // namespace

void run_prune(PruneArgs& o) {
  if (!o.recipe.empty()) load_recipe(o, o.recipe);
  if (o.dry_run) return dry_run(o);
  PruneRun r = resolve_run(o);
  if (r.denv.distributed() && !r.leap) {  // the layer-wise methods are sequential over blocks
    if (r.denv.rank != 0) {
      LEAP_WARN("--method %s runs on rank 0 only; this rank has nothing to do", o.method.c_str());
      return;
    }
    LEAP_WARN("--method %s runs on rank 0 only (WORLD_SIZE=%d): the other ranks exit", o.method.c_str(), r.denv.world);
  }
  log::out(config_table("leap prune", o));
  const auto locks = lock_outputs(o, r.denv.rank);
  std::unique_ptr<Comm> comm;
  if (r.denv.distributed() && r.leap) {
    comm = std::make_unique<Comm>(r.denv, o.dist_backend, std::chrono::seconds(o.dist_timeout));
    LEAP_INFO("joined %s process group: rank %d of %d (local rank %d) at %s:%d", o.dist_backend.c_str(), r.denv.rank,
              r.denv.world, r.denv.local_rank, r.denv.master_addr.c_str(), r.denv.master_port);
  }

  Stopwatch load_timer;
  CausalLM m = load_model(r.rm.dir, {r.dtype, r.dev});
  auto tok = load_tokenizer(r.rm.dir);
  LEAP_INFO("loaded %s (%s, %s on %s) in %s", r.rm.dir.c_str(), m->config().model_type.c_str(), dtype_string(r.dtype),
            r.dev.str().c_str(), format_duration(load_timer.seconds()).c_str());

  // the layer-wise methods and LEAP's Wanda prior (drawn even when resuming: cheap, and its sha256
  // goes in the report); only rank 0 computes the prior
  CalibData calib;
  if ((o.method != "magnitude" || !o.reconstruct.empty() || o.owl_m > 0) && !(comm && !comm->main())) {
    calib = load_calibration(*tok, o.calib_data, o.nsamples, o.calib_seqlen, uint64_t(o.seed), o.calib_split,
                             o.leap.text_field);
    LEAP_INFO("calibration: %lld x %lld tokens from %s (%s, %lld documents, sha256 %.12s)", (long long)o.nsamples,
              (long long)o.calib_seqlen, calib.path.c_str(), calib.format.c_str(), (long long)calib.documents,
              calib.sha256.c_str());
  }
  LayerwiseOptions lo = layerwise_options(o, r);
  ojson owl = nullptr;
  if (o.owl_m > 0 && calib.ids.defined()) {  // per-block sparsities from the dense model (prune/owl.h)
    const OwlAllocation oa = owl_allocation(m, calib.ids, o.sparsity, o.owl_m, o.owl_lambda, o.batch_size);
    lo.block_sparsity = oa.block_sparsity;
    std::string line;
    for (size_t i = 0; i < oa.block_sparsity.size(); ++i)
      line += strformat("%s%zu: %.4f (%.2f%%)", i ? ", " : "", i, oa.block_sparsity[i], oa.outlier_pct[i]);
    LEAP_INFO("OWL block sparsities (outlier ratio) for M=%g, lambda=%g: %s", o.owl_m, o.owl_lambda, line.c_str());
    owl = {{"owl_m", o.owl_m},
           {"owl_lambda", o.owl_lambda},
           {"block_sparsity", oa.block_sparsity},
           {"outlier_pct", oa.outlier_pct}};
  }
  Stopwatch timer;
  ojson training = nullptr;
  LayerwiseTimes phases;  // a layer-wise method's phase times (the LEAP prior's are only logged)
  std::map<std::string, torch::Tensor> keep;  // the final keep masks by linear name
  if (r.leap) {
    // the prior: Wanda at the target sparsity on a separate copy (docs/METHOD.md §1.3); the weights
    // trained against are the original dense ones
    auto make_prior = [&] {
      CausalLM prior_model = load_model(r.rm.dir, {r.dtype, r.dev});
      return prune_layerwise(prior_model, calib.ids, lo);
    };
    TrainContext ctx{o.sparsity, o.seed, {{"model", r.rm.dir}}, comm.get(), r.pattern.n, r.pattern.m};
    LeapResult lr = train_leap(m, *tok, make_prior, o.leap, ctx);
    training = lr.summary;
    compare_with_memory_model(o, r, m->config(), training);
    if (!lr.finished) return;           // --max_steps_per_run: a checkpoint was written, nothing else
    if (comm && !comm->main()) return;  // rank 0 evaluates and writes the outputs
    keep = std::move(lr.keep);
    if (!o.reconstruct.empty()) reconstruct_weights(m, o, r, calib, keep);
  } else {
    lo.times = &phases;
    keep = prune_layerwise(m, calib.ids, lo);
    if (!o.reconstruct.empty()) reconstruct_weights(m, o, r, calib, keep);
  }
  const double seconds = timer.seconds();
  const ojson sp = sparsity_json(summarize_sparsity(measure_sparsity(m)));
  LEAP_INFO("pruned with %s in %s: achieved sparsity %.6f over %lld decoder-linear weights (target %.4f, %s)",
            o.method.c_str(), format_duration(seconds).c_str(), sp["overall"].get<double>(),
            (long long)sp["params"].get<int64_t>(), o.sparsity, r.pattern.str().c_str());

  ojson report = prune_report(o, r, calib, sp, seconds, training);
  if (!owl.is_null()) report["owl"] = owl;
  if (!r.leap)
    report["phase_seconds"] = {
        {"forward", phases.forward_s}, {"statistics", phases.statistics_s}, {"solve", phases.solve_s}};
  evaluate_pruned(m, *tok, o, r, report);
  if (!o.save_mask.empty()) {
    const ojson meta = {{"method", o.method},
                        {"sparsity", o.sparsity},
                        {"pattern", r.pattern.str()},
                        {"base_model", r.rm.dir},
                        {"achieved_sparsity", sp["overall"]},
                        {"leap_version", version()},
                        {"git_sha", kGitSha}};
    save_mask_file(o.save_mask, mask_entries(r.rm.dir, keep), nlohmann::json::parse(meta.dump()));
    LEAP_INFO("wrote the 1-bit mask file %s (%s)", o.save_mask.c_str(),
              strformat("%.2f MiB", double(fs::file_size(o.save_mask)) / (1024.0 * 1024.0)).c_str());
    report["mask_file"] = o.save_mask;
  }
  if (!o.save_model.empty()) {
    export_hf_model(m, r.rm.dir, o.save_model, report);
    LEAP_INFO("wrote %s", o.save_model.c_str());
  }
  if (!o.output_path.empty()) write_file_atomic(o.output_path, report.dump(2) + "\n");
}

}  // namespace leap
