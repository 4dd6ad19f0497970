// prune.cpp — the `leap prune` pipeline for the layer-wise methods: resolve and load the model,
// draw calibration samples, prune block by block, measure the achieved sparsity over exactly the
// decoder linears, optionally evaluate perplexity, and write the HF folder + leap_sparsity.json.
#include "leap/prune.h"

#include <filesystem>
#include <map>

#include "leap/calibration.h"
#include "leap/checkpoint.h"
#include "leap/device.h"
#include "leap/error.h"
#include "leap/eval.h"
#include "leap/eval_ppl.h"
#include "leap/fs_util.h"
#include "leap/hf_config.h"
#include "leap/layerwise.h"
#include "leap/leap_trainer.h"
#include "leap/log.h"
#include "leap/distributed.h"
#include "leap/memory_model.h"
#include "leap/model_path.h"
#include "leap/progress.h"
#include "leap/sha256.h"
#include "leap/tokenizer.h"
#include "leap/version.h"
#include "leap/json_input.h"

#include <torch/version.h>

namespace leap {
namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

nlohmann::json model_preset_defaults(const ModelPreset& preset) {
  if (!preset.found() || !preset.json.contains("defaults")) return nlohmann::json::object();
  nlohmann::json d = preset.json["defaults"];
  LEAP_CHECK(d.is_object(), "%s: \"defaults\" must be an object", preset.file.c_str());
  // relative paths in presets are relative to leap's home
  for (auto it = d.begin(); it != d.end(); ++it)
    if (it.value().is_string() && (it.key().find("data") != std::string::npos || it.key().find("file") != std::string::npos)) {
      fs::path v = it.value().get<std::string>();
      if (!v.empty() && v.is_relative()) it.value() = (fs::path(leap_home()) / v).string();
    }
  return d;
}

namespace {

ojson sparsity_json(const std::vector<LinearSparsity>& rows) {
  int64_t z = 0, n = 0;
  std::map<int64_t, std::pair<int64_t, int64_t>> per_layer;
  std::map<std::string, std::pair<int64_t, int64_t>> per_type;
  ojson linears = ojson::object();
  for (const auto& r : rows) {
    z += r.zeros;
    n += r.numel;
    per_layer[r.layer].first += r.zeros;
    per_layer[r.layer].second += r.numel;
    per_type[r.type].first += r.zeros;
    per_type[r.type].second += r.numel;
    linears[r.name] = r.sparsity();
  }
  ojson layers = ojson::array();
  for (auto& [l, zn] : per_layer) layers.push_back(double(zn.first) / double(zn.second));
  ojson types = ojson::object();
  for (auto& [t, zn] : per_type) types[t] = double(zn.first) / double(zn.second);
  return {{"overall", n ? double(z) / double(n) : 0.0},
          {"zeros", z},
          {"params", n},
          {"per_layer", layers},
          {"per_linear_type", types},
          {"per_linear", linears}};
}

}  // namespace

namespace {

// `--dry_run`: the memory estimate from config.json alone — the model's, or, for a short name not
// downloaded yet, the architecture in its preset — so a GPU plan can be made on any machine.
void dry_run(PruneOptions& o) {
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
  const bool cuda = o.device.rfind("cuda", 0) == 0 || ((o.device == "auto" || o.device.empty()) && torch::cuda::is_available());
  torch::Dtype dt = o.dtype.empty() ? (cuda ? torch::kBFloat16 : torch::kFloat32) : parse_dtype(o.dtype);
  log::out(memory_estimate_table(cfg, source, o, int(torch::elementSize(dt)), denv.world, cuda));
}

}  // namespace

void run_prune(PruneOptions& o) {
  if (!o.recipe.empty()) {
    nlohmann::json r;
    try {
      r = parse_json_checked(read_file(o.recipe), o.recipe);
    } catch (const nlohmann::json::exception& e) {
      fail("%s: not valid JSON: %s", o.recipe.c_str(), e.what());
    }
    try {
      apply_recipe(o, r, o.recipe);
    } catch (const std::runtime_error& e) {
      throw Error(e.what());
    }
  }
  if (o.dry_run) return dry_run(o);
  ResolvedModel rm = resolve_model(o.model);
  apply_defaults(o, model_preset_defaults(rm.preset), o.model + " preset");
  if (o.calib_data.empty()) o.calib_data = (fs::path(leap_home()) / "data" / "c4" / "c4_sample.jsonl").string();
  // data parallelism: torchrun's environment; one process when absent
  const DistEnv denv = dist_env_from_environment();
  log::set_rank(denv.rank);
  torch::Device dev = parse_device(o.device);
  if (denv.distributed() && dev.is_cuda() && (o.device == "auto" || o.device == "cuda" || o.device.empty()))
    dev = parse_device("cuda:" + std::to_string(denv.local_rank));  // one GPU per rank

  torch::Dtype dtype = o.dtype.empty() ? default_dtype(dev) : parse_dtype(o.dtype);
  o.dtype = dtype_string(dtype);
  SparsityPattern pattern = parse_sparsity_type(o.sparsity_type);
  o.sparsity = pattern_sparsity(pattern, o.sparsity);
  const bool leap_method = o.method == "leap";
  if (leap_method) {
    LEAP_CHECK(pattern.unstructured(), "--method leap learns unstructured masks (use --sparsity_type unstructured)");
    if (o.train_data.empty()) o.train_data = o.calib_data;
  } else {
    make_pruner(o.method, {}, 1, torch::kCPU);  // validates the method name early
  }
  std::unique_ptr<Comm> comm;
  if (denv.distributed()) {
    if (!leap_method) {  // the layer-wise methods are sequential over blocks: rank 0 runs them alone
      if (denv.rank != 0) {
        LEAP_WARN("--method %s runs on rank 0 only; this rank has nothing to do", o.method.c_str());
        return;
      }
      LEAP_WARN("--method %s runs on rank 0 only (WORLD_SIZE=%d): the other ranks exit", o.method.c_str(), denv.world);
    } else {
      o.dist_backend = resolve_dist_backend(o.dist_backend, dev.is_cuda());
    }
  }
  log::out(config_table("leap prune", o));
  // one writer per output: rank 0 locks the model folder and the training checkpoints
  std::vector<std::unique_ptr<OutputLock>> locks;
  if (denv.rank == 0) {
    if (!o.save_model.empty()) locks.push_back(std::make_unique<OutputLock>(o.save_model));
    if (!o.ckpt_dir.empty()) locks.push_back(std::make_unique<OutputLock>(o.ckpt_dir));
    if (!o.output_path.empty()) locks.push_back(std::make_unique<OutputLock>(o.output_path));
  }
  if (denv.distributed() && leap_method) {
    comm = std::make_unique<Comm>(denv, o.dist_backend, std::chrono::seconds(o.dist_timeout));
    LEAP_INFO("joined %s process group: rank %d of %d (local rank %d) at %s:%d", o.dist_backend.c_str(), denv.rank,
              denv.world, denv.local_rank, denv.master_addr.c_str(), denv.master_port);
  }

  Stopwatch load_timer;
  CausalLM m = load_model(rm.dir, {dtype, dev});
  auto tok = load_tokenizer(rm.dir);
  LEAP_INFO("loaded %s (%s, %s on %s) in %s", rm.dir.c_str(), m->config().model_type.c_str(), dtype_string(dtype),
            dev.str().c_str(), format_duration(load_timer.seconds()).c_str());

  CalibData calib;
  if (o.method != "magnitude" && !(comm && !comm->main())) {  // LEAP's Wanda prior uses the same calibration (drawn even when resuming: cheap, and its sha256 goes in the report)
    calib = load_calibration(*tok, o.calib_data, o.nsamples, o.calib_seqlen, uint64_t(o.seed));
    LEAP_INFO("calibration: %lld x %lld tokens from %s (%s, %lld documents, sha256 %.12s)", (long long)o.nsamples,
              (long long)o.calib_seqlen, calib.path.c_str(), calib.format.c_str(), (long long)calib.documents,
              calib.sha256.c_str());
  }
  LayerwiseOptions lo;
  lo.method = leap_method ? "wanda" : o.method;
  lo.sparsity = o.sparsity;
  lo.pattern = pattern;
  lo.batch = o.batch_size;
  lo.offload_activations = o.offload_activations;
  lo.pruner.shift_zero_metrics = o.shift_zero_metrics;
  lo.pruner.sparsegpt_percdamp = o.percdamp;
  lo.pruner.sparsegpt_blocksize = o.blocksize;
  lo.pruner.admm_percdamp = o.admm_percdamp;
  lo.pruner.admm_iters = o.admm_iters;
  lo.pruner.admm_iterative_prune = o.admm_iterative_prune;
  lo.pruner.admm_gradual = o.admm_gradual;
  Stopwatch timer;
  ojson training = nullptr;
  if (leap_method) {
    // the prior: Wanda at the target sparsity on a separate copy (§1.4); the weights trained
    // against are the original dense ones
    auto make_prior = [&] {
      CausalLM prior_model = load_model(rm.dir, {dtype, dev});
      lo.pruner.shift_zero_metrics = true;
      return prune_layerwise(prior_model, calib.ids, lo);
    };
    nlohmann::json fp = {{"model", rm.dir}, {"train_data_sha256", sha256_file(o.train_data)}};
    LeapResult lr = train_leap(m, *tok, make_prior, o, fp, comm.get());
    training = lr.summary;
    if (!lr.finished) return;
    if (comm && !comm->main()) return;  // rank 0 evaluates and writes the outputs  // --max_steps_per_run: a checkpoint was written, nothing else
  } else {
    prune_layerwise(m, calib.ids, lo);
  }
  double seconds = timer.seconds();
  auto rows = measure_sparsity(m);
  ojson sp = sparsity_json(rows);
  LEAP_INFO("pruned with %s in %s: achieved sparsity %.6f over %lld decoder-linear weights (target %.4f, %s)",
            o.method.c_str(), format_duration(seconds).c_str(), sp["overall"].get<double>(),
            (long long)sp["params"].get<int64_t>(), o.sparsity, pattern.str().c_str());

  ojson report = {{"leap_version", version()},
                  {"git_sha", kGitSha},
                  {"libtorch", TORCH_VERSION},
                  {"method", o.method},
                  {"target_sparsity", o.sparsity},
                  {"pattern", pattern.str()},
                  {"achieved_sparsity", sp},
                  {"nsamples", o.method == "magnitude" ? 0 : o.nsamples},
                  {"calib_seqlen", o.calib_seqlen},
                  {"seed", o.seed},
                  {"calibration", o.method == "magnitude" ? ojson(nullptr)
                                                          : ojson{{"path", calib.path}, {"sha256", calib.sha256}, {"format", calib.format}}},
                  {"source_model", rm.dir},
                  {"prune_seconds", seconds},
                  {"training", training},
                  {"config", config_json(o)}};
  if (!o.eval_ppl_file.empty()) {
    PplText t = load_ppl_text("ppl", "", o.eval_ppl_file);
    auto ids = tok->encode(t.text, true);
    PplResult r = eval_ppl_ids(m, ids, o.eval_seqlen, 1, 0, "ppl");
    LEAP_INFO("perplexity on %s: %.4f (%lld windows of %lld tokens)", t.path.c_str(), r.ppl, (long long)r.windows,
              (long long)r.seqlen);
    report["eval"] = {{"ppl", r.ppl}, {"file", t.path}, {"sha256", t.sha256}, {"seqlen", r.seqlen}, {"windows", r.windows}};
  }
  if (!o.eval_tasks.empty()) {
    EvalOptions eo;
    eo.model = o.save_model.empty() ? rm.dir : o.save_model;
    eo.tasks = o.eval_tasks;
    eo.seqlen = o.eval_seqlen;
    eo.limit = o.eval_limit;
    eo.device = o.device;
    eo.dtype = o.dtype;
    ojson ev = evaluate_model(m, *tok, eo, rm.dir);
    log::out(results_table(ev));
    report["eval_results"] = ev["results"];
    if (ev["summary"].contains("avg_acc_6")) report["eval_avg_acc_6"] = ev["summary"]["avg_acc_6"];
  }
  if (!o.save_model.empty()) {
    save_hf_checkpoint(m, rm.dir, o.save_model, report);
    LEAP_INFO("wrote %s", o.save_model.c_str());
  }
  if (!o.output_path.empty()) write_file_atomic(o.output_path, report.dump(2) + "\n");
}

}  // namespace leap
