// cmd_eval.cpp — `leap eval`: resolves and loads one model, runs the requested perplexity and
// zero-shot tasks (eval/evaluate.h), prints lm-eval's table and writes the results JSON.
#include "cmd_eval.h"

#include <filesystem>

#include "base/error.h"
#include "base/fs_util.h"
#include "base/log.h"
#include "eval/evaluate.h"
#include "io/model_path.h"
#include "model/device.h"

namespace leap {
namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

void run_eval(EvalArgs& o) {
  ResolvedModel rm = resolve_model(o.model);
  // a preset's "seqlen" is LEAP's training length; its evaluation window is "eval_seqlen"
  nlohmann::json d = model_preset_defaults(rm.preset);
  d.erase("seqlen");
  if (d.contains("eval_seqlen")) d["seqlen"] = d["eval_seqlen"];
  apply_defaults(o, d, o.model + " preset");
  if (!o.eval.ppl_file.empty() && !o.given.count("tasks"))
    o.eval.tasks = "ppl";  // a file to score, not the default tasks
  torch::Device dev = parse_device(o.device);
  torch::Dtype dtype = o.dtype.empty() ? default_dtype(dev) : parse_dtype(o.dtype);
  o.dtype = dtype_string(dtype);
  log::out(config_table("leap eval", o));
  std::unique_ptr<OutputLock> lock;  // one writer per output file
  if (!o.output_path.empty()) lock = std::make_unique<OutputLock>(o.output_path);
  CausalLM m = load_model(rm.dir, {dtype, dev});
  auto tok = load_tokenizer(rm.dir);
  ojson out = evaluate_model(m, *tok, o.eval, rm.dir, config_json(o));
  log::out(results_table(out));
  if (!o.output_path.empty()) {
    fs::path p(o.output_path);
    if (p.has_parent_path()) fs::create_directories(p.parent_path());
    write_file_atomic(o.output_path, out.dump(2) + "\n");
    LEAP_INFO("wrote %s", o.output_path.c_str());
  }
}

}  // namespace leap
