// main.cpp — the `leap` command line: CLI11 subcommands wired to the command drivers (cmd_*.h).
// Nothing else lives here; every flag comes from an arguments struct (options.h) through one
// generic visitor.
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <torch/version.h>

#include "base/error.h"
#include "base/log.h"
#include "cmd_apply_mask.h"
#include "cmd_eval.h"
#include "cmd_inspect.h"
#include "cmd_prune.h"
#include "cmd_report.h"
#include "leap/version.h"
#include "model/device.h"

namespace {

// Registers every field of an options struct as a --flag on a CLI11 subcommand.
struct CliVisitor {
  CLI::App* app;
  void operator()(const char* name, bool& field, const char* help, bool) {
    // --flag, --flag=true|false
    app->add_flag(std::string("--") + name + "{true}", field, help)->capture_default_str();
  }
  void operator()(const char* name, std::vector<std::string>& field, const char* help, bool required) {
    // "inputs" is the positional list; other lists are repeatable --flags
    auto* opt = std::string(name) == "inputs" ? app->add_option(name, field, help)
                                              : app->add_option(std::string("--") + name, field, help);
    if (required) opt->required();
  }
  template <class T>
  void operator()(const char* name, T& field, const char* help, bool required) {
    auto* opt = app->add_option(std::string("--") + name, field, help);
    if (required)
      opt->required();
    else
      opt->capture_default_str();
  }
};

// Records in o.given the flags that were set on the command line (for presets / recipes).
struct GivenVisitor {
  CLI::App* app;
  std::set<std::string>* given;
  template <class T>
  void operator()(const char* name, T&, const char*, bool) {
    if (app->count(std::string("--") + name) > 0) given->insert(name);
  }
};
template <class Opts>
void record_given(CLI::App* app, Opts& o) {
  if constexpr (requires { o.given; }) {
    GivenVisitor v{app, &o.given};
    o.visit(v);
  }
}

template <class Opts>
CLI::App* add_command(CLI::App* parent, const char* name, const char* desc, Opts& o) {
  CLI::App* sub = parent->add_subcommand(name, desc);
  CliVisitor v{sub};
  o.visit(v);
  sub->parse_complete_callback([sub, &o] { record_given(sub, o); });
  return sub;
}

std::string version_string() {
  return leap::strformat("leap %s (git %s, LibTorch %s)", leap::version(), leap::kGitSha, TORCH_VERSION);
}

}  // namespace

int main(int argc, char** argv) {
  // a file-size limit (ulimit -f) must surface as a write error naming the file, not kill leap
  std::signal(SIGXFSZ, SIG_IGN);
  leap::flush_cpu_denormals();  // before LibTorch starts its threads, which inherit it (model/device.h)
  CLI::App app{"leap — Learnable End-to-End Adaptive Pruning for LLMs (LibTorch)", "leap"};
  app.require_subcommand(1);
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "debug logging");
  app.set_version_flag("--version", version_string());

  leap::InspectLogitsArgs logits_o;
  leap::InspectModelArgs model_o;
  leap::InspectTokenizeArgs tok_o;
  leap::InspectSparsityArgs sparsity_o;
  leap::InspectDataArgs data_o;
  leap::PruneArgs prune_o;
  leap::EvalArgs eval_o;
  leap::ReportArgs report_o;
  leap::ApplyMaskArgs apply_o;
  CLI::App* eval =
      add_command(&app, "eval", "perplexity and zero-shot accuracy, scored as lm-evaluation-harness", eval_o);
  CLI::App* report = add_command(&app, "report", "comparison table (Markdown/CSV) of leap eval result files", report_o);
  CLI::App* prune = add_command(
      &app, "prune",
      "prune a model with LEAP (the default) or a layer-wise method (magnitude, wanda, sparsegpt, admm) and save it",
      prune_o);
  CLI::App* apply_mask =
      add_command(&app, "apply-mask",
                  "rebuild a pruned model from its dense base and a 1-bit mask file (leap's or mask.npz)", apply_o);
  CLI::App* inspect = app.add_subcommand(
      "inspect", "look inside a model: logits, architecture, tokenizer, sparsity; and at training data");
  inspect->require_subcommand(1);
  CLI::App* logits = add_command(inspect, "logits", "write a model's float32 logits for given token ids", logits_o);
  CLI::App* model = add_command(inspect, "model", "print architecture, parameter counts and prunable linears", model_o);
  CLI::App* tokenize = add_command(inspect, "tokenize", "print the token ids and pieces of a text", tok_o);
  CLI::App* sparsity = add_command(inspect, "sparsity", "per-layer sparsity table, from the weights", sparsity_o);
  CLI::App* data =
      add_command(inspect, "data", "tokenise (into the token cache) and pack training text; the blocks", data_o);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (verbose) leap::log::set_level(leap::log::Level::debug);
  try {
    if (*logits)
      leap::run_inspect_logits(logits_o);
    else if (*model)
      leap::run_inspect_model(model_o);
    else if (*tokenize)
      leap::run_inspect_tokenize(tok_o);
    else if (*sparsity)
      leap::run_inspect_sparsity(sparsity_o);
    else if (*data)
      leap::run_inspect_data(data_o);
    else if (*prune)
      leap::run_prune(prune_o);
    else if (*eval)
      leap::run_eval(eval_o);
    else if (*report)
      leap::run_report(report_o);
    else if (*apply_mask)
      leap::run_apply_mask(apply_o);
  } catch (const leap::Error& e) {
    leap::log::error(e.what());
    return 1;
  } catch (const c10::Error& e) {
    leap::log::error(std::string("LibTorch error: ") + e.what_without_backtrace());
    return 1;
  } catch (const std::exception& e) {
    leap::log::error(std::string("error: ") + e.what());
    return 1;
  }
  return 0;
}
