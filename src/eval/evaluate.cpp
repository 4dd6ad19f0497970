// evaluate.cpp — see evaluate.h. Metric names, versions and the MMLU grouping follow
// lm-evaluation-harness 0.4.13 (docs/METHOD.md §3).
#include "eval/evaluate.h"

#include <cmath>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <map>
#include <sstream>
#include <torch/version.h>

#include "base/error.h"
#include "base/fs_util.h"
#include "base/log.h"
#include "base/progress.h"
#include "eval/ppl.h"
#include "eval/task_data.h"
#include "eval/tasks.h"
#include "io/model_path.h"
#include "leap/version.h"

namespace leap {
namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

const std::vector<std::string>& paper_tasks() {
  static const std::vector<std::string> t = {"mmlu", "piqa", "arc_easy", "arc_challenge", "winogrande", "openbookqa"};
  return t;
}

namespace {

std::vector<std::string> split_tasks(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string t;
  while (std::getline(ss, t, ',')) {
    t.erase(0, t.find_first_not_of(" \t"));
    t.erase(t.find_last_not_of(" \t") + 1);
    if (!t.empty()) out.push_back(t);
  }
  return out;
}

std::string now_iso() {
  std::time_t t = std::time(nullptr);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

// lm-eval's pooled_sample_stderr over subtasks
double pooled_stderr(const std::vector<double>& se, const std::vector<double>& n) {
  double num = 0, total = 0;
  for (size_t i = 0; i < se.size(); ++i) {
    num += (n[i] - 1) * se[i] * se[i] * n[i];
    total += n[i];
  }
  double var = num / (total - double(se.size()));
  return std::sqrt(var / total);
}

ojson json_num(double v) {
  return std::isfinite(v) ? ojson(v) : ojson("N/A");
}

// The sections of the results object, filled task by task.
struct Results {
  ojson results = ojson::object(), groups = ojson::object(), versions = ojson::object(), nshot = ojson::object(),
        nsamples = ojson::object(), hib = ojson::object(), throughput = ojson::object();
  std::vector<std::string> log_lines;  // --log_samples
};

// wikitext2 / c4 / ppl: rolling windows of --seqlen tokens (docs/METHOD.md §3.1).
void add_perplexity(Results& R, CausalLM& m, const Tokenizer& tok, const EvalOptions& o, const std::string& name,
                    const std::string& data_dir) {
  Stopwatch sw;
  PplText t = load_ppl_text(name, data_dir, o.ppl_file);
  std::vector<int64_t> ids = tok.encode(t.text, true);
  PplResult r = eval_ppl_ids(m, ids, o.seqlen, o.batch_size, o.ppl_windows > 0 ? o.ppl_windows : t.max_windows, name);
  R.results[name] = {{"alias", name},
                     {"ppl", r.ppl},
                     {"mean_nll", r.mean_nll},
                     {"protocol",
                      {{"seqlen", r.seqlen},
                       {"windows", r.windows},
                       {"tokens", r.tokens},
                       {"dropped_tail_tokens", r.dropped_tail},
                       {"bos", tok.adds_bos() ? "one BOS at the start of the text (tokenizer default)" : "none"},
                       {"join", t.join},
                       {"file", t.path},
                       {"sha256", t.sha256}}}};
  R.versions[name] = 1;
  R.hib[name] = {{"ppl", false}};
  LEAP_INFO("%s: PPL = %.4f (%lld windows x %lld tokens, %s)", name.c_str(), r.ppl, (long long)r.windows,
            (long long)r.seqlen, format_duration(sw.seconds()).c_str());
}

// MMLU: one leaf per subject, groups (categories, mmlu) weighted by size with pooled stderr.
void add_mmlu_results(Results& R, const TaskOutcome& out, int64_t num_fewshot) {
  std::map<std::string, std::vector<double>> by_subject;
  for (size_t i = 0; i < out.acc.size(); ++i) by_subject[out.subject[i]].push_back(out.acc[i]);
  std::map<std::string, std::string> cat_of;
  for (const auto& [s, c] : mmlu_subjects()) cat_of[s] = c;
  std::map<std::string, std::vector<double>> cat_se, cat_n, cat_acc;
  for (const auto& [s, xs] : by_subject) {
    auto [mu, se] = mean_and_stderr(xs);
    std::string leaf = "mmlu_" + s;
    R.results[leaf] = {{"alias", s}, {"acc,none", mu}, {"acc_stderr,none", json_num(se)}};
    R.versions[leaf] = 1.0;
    R.nshot[leaf] = num_fewshot;
    R.nsamples[leaf] = {{"original", int64_t(xs.size())}, {"effective", int64_t(xs.size())}};
    R.hib[leaf] = {{"acc", true}};
    for (const std::string& g : {std::string("mmlu_") + cat_of[s], std::string("mmlu")}) {
      cat_se[g].push_back(se);
      cat_n[g].push_back(double(xs.size()));
      cat_acc[g].push_back(mu * double(xs.size()));
    }
  }
  for (const auto& [g, ns] : cat_n) {
    double total = 0, correct = 0;
    for (size_t i = 0; i < ns.size(); ++i) total += ns[i], correct += cat_acc[g][i];
    ojson r = {{"alias", g == "mmlu" ? "mmlu" : g.substr(5)},
               {"acc,none", correct / total},
               {"acc_stderr,none", json_num(pooled_stderr(cat_se[g], ns))},
               {"sample_count", {{"acc,none", int64_t(total)}}}};
    R.results[g] = r;
    R.groups[g] = r;
    R.versions[g] = 2;
    R.nshot[g] = num_fewshot;
    R.hib[g] = {{"acc", true}};
  }
}

// A zero-shot task scored by log-likelihood (docs/METHOD.md §3.2).
void add_task(Results& R, LoglikelihoodScorer& scorer, const EvalOptions& o, const std::string& name,
              const std::string& data_dir) {
  Stopwatch sw;
  const bool mmlu = name == "mmlu" || is_mmlu_subject_task(name);
  TaskData td = load_task(name, data_dir, mmlu && o.mmlu_limit > 0 ? o.mmlu_limit : o.limit, o.num_fewshot);
  TaskOutcome out = evaluate_task(scorer, td);
  const ScoreStats& st = scorer.last_stats();
  const double req_per_s = double(st.requests) / std::max(st.seconds, 1e-9),
               tok_per_s = double(st.input_tokens) / std::max(st.seconds, 1e-9);
  R.throughput[name] = {{"requests", st.requests},         {"rows", st.rows},       {"input_tokens", st.input_tokens},
                        {"model_tokens", st.model_tokens}, {"seconds", st.seconds}, {"requests_per_s", req_per_s},
                        {"input_tokens_per_s", tok_per_s}};
  if (mmlu) {
    add_mmlu_results(R, out, o.num_fewshot);
  } else {
    R.results[name] = out.metrics;
    R.versions[name] = double(td.version);
    R.nshot[name] = 0;
    R.hib[name] = td.kind == "loglikelihood" ? ojson{{"perplexity", false}, {"acc", true}}
                                             : ojson{{"acc", true}, {"acc_norm", true}};
    R.nsamples[name] = {{"original", td.original_size}, {"effective", int64_t(td.docs.size())}};
  }
  const ojson& r = R.results[name];
  LEAP_INFO(
      "%s: acc = %.4f over %zu documents (%s; %lld requests, %.1f req/s, %.0f input tokens/s; the model ran "
      "%.0f%% of those tokens)",
      name.c_str(), r["acc,none"].get<double>(), td.docs.size(), format_duration(sw.seconds()).c_str(),
      (long long)st.requests, req_per_s, tok_per_s,
      100.0 * double(st.model_tokens) / double(std::max<int64_t>(st.input_tokens, 1)));
  if (!o.log_samples.empty())
    for (auto& s : out.samples) {
      ojson line = {{"task", name}};
      for (auto it = s.begin(); it != s.end(); ++it) line[it.key()] = it.value();
      R.log_lines.push_back(line.dump());
    }
}

// The headline: unweighted mean of acc over the six paper tasks, as the LEAP paper reports it.
ojson headline(const ojson& results) {
  ojson summary = ojson::object();
  double sum = 0;
  for (const auto& t : paper_tasks()) {
    if (!results.contains(t)) return summary;
    sum += results[t]["acc,none"].get<double>();
  }
  summary["avg_acc_6"] = sum / double(paper_tasks().size());
  return summary;
}

}  // namespace

ojson evaluate_model(CausalLM& m, const Tokenizer& tok, const EvalOptions& o, const std::string& model_dir,
                     ojson config) {
  std::string data_dir = o.data_dir;
  if (data_dir.empty()) {
    const char* env = std::getenv("LEAP_DATA_DIR");
    data_dir = env && *env ? env : (fs::path(leap_home()) / "data").string();
  }
  const int64_t max_length = o.max_length > 0 ? o.max_length : m->config().max_position_embeddings;
  Results R;
  LoglikelihoodScorer scorer(m, tok, max_length, o.batch_size, o.share_prefixes);
  for (const std::string& name : split_tasks(o.tasks)) {
    if (name == "wikitext2" || name == "c4" || name == "ppl")
      add_perplexity(R, m, tok, o, name, data_dir);
    else
      add_task(R, scorer, o, name, data_dir);
  }
  if (!config.is_object()) config = ojson::object();
  config["model_path"] = model_dir;
  config["data_dir"] = data_dir;
  config["max_length"] = max_length;
  config["dtype"] = dtype_string(m->dtype());
  config["device"] = m->device().str();
  ojson summary = headline(R.results);
  ojson out = {{"results", R.results},       {"groups", R.groups},
               {"summary", summary},         {"config", config},
               {"versions", R.versions},     {"n-shot", R.nshot},
               {"n-samples", R.nsamples},    {"higher_is_better", R.hib},
               {"throughput", R.throughput}, {"date", now_iso()},
               {"leap_version", version()},  {"git_hash", kGitSha},
               {"libtorch", TORCH_VERSION},  {"harness_reference", "lm-evaluation-harness 0.4.13 task definitions"}};
  if (!o.log_samples.empty()) {
    std::string all_lines;
    for (const auto& l : R.log_lines) all_lines += l + "\n";
    write_file_atomic(o.log_samples, all_lines);
  }
  return out;
}

std::string results_table(const ojson& out) {
  std::string s =
      "|     Tasks     |Version|Filter|n-shot|  Metric  |   | Value  |   |Stderr|\n"
      "|---------------|------:|------|-----:|----------|---|-------:|---|-----:|\n";
  const ojson& res = out["results"];
  for (auto it = res.begin(); it != res.end(); ++it) {
    const std::string& task = it.key();
    if (task.rfind("mmlu_", 0) == 0 && !out["groups"].contains(task)) continue;  // subjects: JSON only
    std::string ver = out["versions"].contains(task) ? out["versions"][task].dump() : "";
    std::string shot = out["n-shot"].contains(task) ? out["n-shot"][task].dump() : "";
    bool first = true;
    for (auto m = it.value().begin(); m != it.value().end(); ++m) {
      const std::string& key = m.key();
      if (key == "alias" || key == "sample_count" || key == "protocol" || key == "mean_nll" ||
          key.find("_stderr") != std::string::npos || !m.value().is_number())
        continue;
      std::string metric = key.substr(0, key.find(','));
      std::string se_key = metric + "_stderr,none";
      std::string se = it.value().contains(se_key) && it.value()[se_key].is_number()
                           ? strformat("%.4f", it.value()[se_key].get<double>())
                           : "";
      bool up = metric != "ppl" && metric != "perplexity";
      s += strformat("|%-15s|%7s|%-6s|%6s|%-10s|%s|%8.4f|%s|%6s|\n", first ? task.c_str() : "",
                     first ? ver.c_str() : "", "none", first ? shot.c_str() : "", metric.c_str(), up ? "↑  " : "↓  ",
                     m.value().get<double>(), se.empty() ? "   " : "±  ", se.c_str());
      first = false;
    }
  }
  if (out["summary"].contains("avg_acc_6"))
    s += strformat(
        "\nAverage acc over the six paper tasks (mmlu, piqa, arc_easy, arc_challenge, winogrande, openbookqa): %.4f\n",
        out["summary"]["avg_acc_6"].get<double>());
  return s;
}

}  // namespace leap
