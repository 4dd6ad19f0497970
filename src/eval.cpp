// eval.cpp — `leap eval`: runs the requested perplexity and zero-shot tasks on one model and
// writes lm-eval-shaped results (results / groups / config / versions / n-shot / n-samples /
// higher_is_better / date), a terminal table in lm-eval's layout, and optional per-document logs.
#include "leap/eval.h"

#include <torch/version.h>

#include <cmath>
#include <ctime>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "leap/device.h"
#include "leap/error.h"
#include "leap/eval_ppl.h"
#include "leap/eval_tasks.h"
#include "leap/fs_util.h"
#include "leap/log.h"
#include "leap/model_path.h"
#include "leap/progress.h"
#include "leap/svg_plot.h"
#include "leap/prune.h"
#include "leap/version.h"
#include "leap/json_input.h"

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

ojson json_num(double v) { return std::isfinite(v) ? ojson(v) : ojson("N/A"); }

}  // namespace

ojson evaluate_model(CausalLM& m, const Tokenizer& tok, EvalOptions& o, const std::string& model_dir) {
  std::string data_dir = o.data_dir;
  if (data_dir.empty()) {
    const char* env = std::getenv("LEAP_DATA_DIR");
    data_dir = env && *env ? env : (fs::path(leap_home()) / "data").string();
  }
  int64_t max_length = o.max_length > 0 ? o.max_length : m->config().max_position_embeddings;
  ojson results = ojson::object(), groups = ojson::object(), versions = ojson::object(), nshot = ojson::object(),
        nsamples = ojson::object(), hib = ojson::object();
  std::vector<std::string> log_lines;
  LoglikelihoodScorer scorer(m, tok, max_length, o.batch_size);
  for (const std::string& name : split_tasks(o.tasks)) {
    Stopwatch sw;
    if (name == "wikitext2" || name == "c4" || name == "ppl") {
      PplText t = load_ppl_text(name, data_dir, o.ppl_file);
      std::vector<int64_t> ids = tok.encode(t.text, true);
      PplResult r = eval_ppl_ids(m, ids, o.seqlen, o.batch_size, o.ppl_windows > 0 ? o.ppl_windows : t.max_windows, name);
      results[name] = {{"alias", name},
                       {"ppl", r.ppl},
                       {"mean_nll", r.mean_nll},
                       {"protocol", {{"seqlen", r.seqlen},
                                     {"windows", r.windows},
                                     {"tokens", r.tokens},
                                     {"dropped_tail_tokens", r.dropped_tail},
                                     {"bos", tok.adds_bos() ? "one BOS at the start of the text (tokenizer default)" : "none"},
                                     {"join", t.join},
                                     {"file", t.path},
                                     {"sha256", t.sha256}}}};
      versions[name] = 1;
      hib[name] = {{"ppl", false}};
      LEAP_INFO("%s: PPL = %.4f (%lld windows x %lld tokens, %s)", name.c_str(), r.ppl, (long long)r.windows,
                (long long)r.seqlen, format_duration(sw.seconds()).c_str());
      continue;
    }
    const bool mmlu = name == "mmlu" || is_mmlu_subject_task(name);
    TaskData td = load_task(name, data_dir, mmlu && o.mmlu_limit > 0 ? o.mmlu_limit : o.limit, o.num_fewshot);
    TaskOutcome out = evaluate_task(scorer, td);
    if (mmlu) {
      // leaves: one result per subject; groups weighted by size with pooled stderr
      std::map<std::string, std::vector<double>> by_subject;
      for (size_t i = 0; i < out.acc.size(); ++i) by_subject[out.subject[i]].push_back(out.acc[i]);
      std::map<std::string, std::string> cat_of;
      for (const auto& [s, c] : mmlu_subjects()) cat_of[s] = c;
      std::map<std::string, std::vector<std::pair<double, double>>> cat_stats;  // cat → (acc·n, n), se
      std::map<std::string, std::vector<double>> cat_se, cat_n, cat_acc;
      for (const auto& [s, xs] : by_subject) {
        auto [mu, se] = mean_and_stderr(xs);
        std::string leaf = "mmlu_" + s;
        results[leaf] = {{"alias", s}, {"acc,none", mu}, {"acc_stderr,none", json_num(se)}};
        versions[leaf] = 1.0;
        nshot[leaf] = o.num_fewshot;
        nsamples[leaf] = {{"original", int64_t(xs.size())}, {"effective", int64_t(xs.size())}};
        hib[leaf] = {{"acc", true}};
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
        results[g] = r;
        groups[g] = r;
        versions[g] = 2;
        nshot[g] = o.num_fewshot;
        hib[g] = {{"acc", true}};
      }
    } else {
      results[name] = out.metrics;
      versions[name] = double(td.version);
      nshot[name] = 0;
      hib[name] = td.kind == "loglikelihood" ? ojson{{"perplexity", false}, {"acc", true}}
                                              : ojson{{"acc", true}, {"acc_norm", true}};
    }
    if (!mmlu) nsamples[name] = {{"original", td.original_size}, {"effective", int64_t(td.docs.size())}};
    const ojson& r = results[name];
    LEAP_INFO("%s: acc = %.4f over %zu documents (%s)", name.c_str(), r["acc,none"].get<double>(), td.docs.size(),
              format_duration(sw.seconds()).c_str());
    if (!o.log_samples.empty())
      for (auto& s : out.samples) {
        ojson line = {{"task", name}};
        for (auto it = s.begin(); it != s.end(); ++it) line[it.key()] = it.value();
        log_lines.push_back(line.dump());
      }
  }
  // headline: unweighted mean of acc over the six paper tasks, as the LEAP paper reports it
  ojson summary = ojson::object();
  bool all = true;
  double sum = 0;
  for (const auto& t : paper_tasks()) {
    if (!results.contains(t)) {
      all = false;
      break;
    }
    sum += results[t]["acc,none"].get<double>();
  }
  if (all) summary["avg_acc_6"] = sum / double(paper_tasks().size());
  ojson cfg = config_json(o);
  cfg["model_path"] = model_dir;
  cfg["data_dir"] = data_dir;
  cfg["max_length"] = max_length;
  cfg["dtype"] = dtype_string(m->dtype());
  cfg["device"] = m->device().str();
  ojson out = {{"results", results},
               {"groups", groups},
               {"summary", summary},
               {"config", cfg},
               {"versions", versions},
               {"n-shot", nshot},
               {"n-samples", nsamples},
               {"higher_is_better", hib},
               {"date", now_iso()},
               {"leap_version", version()},
               {"git_hash", kGitSha},
               {"libtorch", TORCH_VERSION},
               {"harness_reference", "lm-evaluation-harness 0.4.13 task definitions"}};
  if (!o.log_samples.empty()) {
    std::string all_lines;
    for (const auto& l : log_lines) all_lines += l + "\n";
    write_file_atomic(o.log_samples, all_lines);
  }
  return out;
}

std::string results_table(const ojson& out) {
  std::string s = "|     Tasks     |Version|Filter|n-shot|  Metric  |   | Value  |   |Stderr|\n"
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
      s += strformat("|%-15s|%7s|%-6s|%6s|%-10s|%s|%8.4f|%s|%6s|\n", first ? task.c_str() : "", first ? ver.c_str() : "",
                     "none", first ? shot.c_str() : "", metric.c_str(), up ? "↑  " : "↓  ", m.value().get<double>(),
                     se.empty() ? "   " : "±  ", se.c_str());
      first = false;
    }
  }
  if (out["summary"].contains("avg_acc_6"))
    s += strformat("\nAverage acc over the six paper tasks (mmlu, piqa, arc_easy, arc_challenge, winogrande, openbookqa): %.4f\n",
                   out["summary"]["avg_acc_6"].get<double>());
  return s;
}

void run_eval(EvalOptions& o) {
  ResolvedModel rm = resolve_model(o.model);
  // a preset's "seqlen" is LEAP's training length; its evaluation window is "eval_seqlen"
  nlohmann::json d = model_preset_defaults(rm.preset);
  d.erase("seqlen");
  if (d.contains("eval_seqlen")) d["seqlen"] = d["eval_seqlen"];
  apply_defaults(o, d, o.model + " preset");
  if (!o.ppl_file.empty() && !o.given.count("tasks")) o.tasks = "ppl";  // a file to score, not the default tasks
  torch::Device dev = parse_device(o.device);
  torch::Dtype dtype = o.dtype.empty() ? default_dtype(dev) : parse_dtype(o.dtype);
  o.dtype = dtype_string(dtype);
  log::out(config_table("leap eval", o));
  std::unique_ptr<OutputLock> lock;  // one writer per output file
  if (!o.output_path.empty()) lock = std::make_unique<OutputLock>(o.output_path);
  CausalLM m = load_model(rm.dir, {dtype, dev});
  auto tok = load_tokenizer(rm.dir);
  ojson out = evaluate_model(m, *tok, o, rm.dir);
  log::out(results_table(out));
  if (!o.output_path.empty()) {
    fs::path p(o.output_path);
    if (p.has_parent_path()) fs::create_directories(p.parent_path());
    write_file_atomic(o.output_path, out.dump(2) + "\n");
    LEAP_INFO("wrote %s", o.output_path.c_str());
  }
}

namespace {
struct ReportRun {
  std::string name, file;
  ojson sparsity;  // leap_sparsity.json of the evaluated folder, or null
};

void write_figure(const std::string& path, const std::string& svg) {
  write_file_atomic(path, svg);
  if (std::system("command -v rsvg-convert > /dev/null 2>&1") == 0) {
    std::string png = path.substr(0, path.size() - (path.size() > 4 && path.substr(path.size() - 4) == ".svg" ? 4 : 0)) + ".png";
    std::string cmd = "rsvg-convert -o '" + png + "' '" + path + "'";
    if (std::system(cmd.c_str()) != 0) LEAP_WARN("could not convert %s to PNG", path.c_str());
  }
  LEAP_INFO("wrote %s", path.c_str());
}

void plot_density(const std::vector<ReportRun>& runs, const std::string& path) {
  std::vector<PlotSeries> series;
  std::set<double> budgets;
  for (const auto& r : runs) {
    if (r.sparsity.is_null() || !r.sparsity.contains("achieved_sparsity")) continue;
    const auto& per = r.sparsity["achieved_sparsity"]["per_layer"];
    PlotSeries s{r.name, {}, {}, false};
    for (size_t i = 0; i < per.size(); ++i) {
      s.x.push_back(double(i));
      s.y.push_back(1.0 - per[i].get<double>());
    }
    series.push_back(s);
    budgets.insert(1.0 - r.sparsity.value("target_sparsity", 0.0));
  }
  if (series.empty()) fail("--plot %s: none of the results belongs to a folder with leap_sparsity.json", path.c_str());
  for (double b : budgets) {
    PlotSeries s{strformat("budget %.2f", b), {}, {}, true};
    s.x = {0.0, series[0].x.back()};
    s.y = {b, b};
    series.push_back(s);
  }
  write_figure(path, svg_line_chart("Density per decoder block", "decoder block", "density (fraction of weights kept)", series));
}

void plot_loss(const std::vector<ReportRun>& runs, const std::string& path) {
  std::vector<PlotSeries> series;
  for (const auto& r : runs) {
    fs::path m = fs::path(r.file).parent_path() / "metrics.jsonl";
    if (!file_exists(m.string())) continue;
    PlotSeries s{r.name, {}, {}, false};
    std::string text = read_file(m.string());
    size_t pos = 0;
    while (pos < text.size()) {
      size_t nl = text.find('\n', pos);
      if (nl == std::string::npos) nl = text.size();
      std::string line = text.substr(pos, nl - pos);
      pos = nl + 1;
      if (line.empty()) continue;
      try {
        ojson j = parse_json_checked<ojson>(line, m.string());
        s.x.push_back(j["step"].get<double>());
        s.y.push_back(j["ce"].get<double>());
      } catch (const ojson::exception& e) {
        fail("%s: malformed metrics line: %s", m.string().c_str(), e.what());
      }
    }
    if (!s.x.empty()) series.push_back(s);
  }
  if (series.empty()) fail("--plot %s: no metrics.jsonl next to any result file", path.c_str());
  write_figure(path, svg_line_chart("LEAP training: cross-entropy", "optimizer step", "CE (nats/token)", series));
}
}  // namespace

void run_report(ReportOptions& o) {
  std::vector<ReportRun> runs;
  std::vector<std::string> cols = paper_tasks();
  std::vector<std::vector<std::string>> rows;
  bool any_ppl = false;
  std::vector<std::string> ppl_tasks = {"wikitext2", "c4", "ppl"};
  for (const auto& f : o.inputs) {
    ojson j;
    try {
      j = parse_json_checked<ojson>(read_file(f), f);
    } catch (const ojson::exception& e) {
      fail("%s: not valid JSON: %s", f.c_str(), e.what());
    }
    if (!j.contains("results") || !j["results"].is_object()) fail("%s: no \"results\" object (not a leap eval output?)", f.c_str());
    const ojson& r = j["results"];
    std::string name = f;
    if (j.contains("config") && j["config"].contains("model")) name = j["config"]["model"].get<std::string>();
    // a pruned folder written by leap names its method and budget in leap_sparsity.json
    std::string model_path = j.contains("config") && j["config"].contains("model_path") ? j["config"]["model_path"].get<std::string>() : "";
    fs::path side = fs::path(model_path) / "leap_sparsity.json";
    ojson sparsity;
    if (!model_path.empty() && file_exists(side.string())) {
      try {
        sparsity = parse_json_checked<ojson>(read_file(side.string()), side.string());
        name = strformat("%s %.0f%% %s", sparsity.value("method", std::string("?")).c_str(),
                         100 * sparsity.value("target_sparsity", 0.0), sparsity.value("pattern", std::string("")).c_str());
        if (name.size() > 13 && name.substr(name.size() - 13) == " unstructured") name.resize(name.size() - 13);
      } catch (const ojson::exception&) {
      }
    } else if (!model_path.empty()) {
      name = "dense";
    }
    runs.push_back({name, f, sparsity});
    std::vector<std::string> row = {name};
    double sum = 0;
    int n = 0;
    for (const auto& t : cols) {
      if (r.contains(t) && r[t].contains("acc,none")) {
        double v = r[t]["acc,none"].get<double>() * 100;
        row.push_back(strformat("%.2f", v));
        sum += v;
        ++n;
      } else {
        row.push_back("-");
      }
    }
    row.push_back(n == int(cols.size()) ? strformat("%.2f", sum / n) : "-");
    std::string ppl = "-";
    for (const auto& pt : ppl_tasks)
      if (r.contains(pt) && r[pt].contains("ppl")) {
        ppl = strformat("%.3f", r[pt]["ppl"].get<double>());
        any_ppl = true;
        break;
      }
    row.push_back(ppl);
    rows.push_back(row);
  }
  std::vector<std::string> header = {"run"};
  for (const auto& c : cols) header.push_back(c);
  header.push_back("avg");
  header.push_back("ppl");
  (void)any_ppl;
  std::string md = "|";
  for (const auto& h : header) md += " " + h + " |";
  md += "\n|";
  for (size_t i = 0; i < header.size(); ++i) md += i == 0 ? "---|" : "---:|";
  md += "\n";
  std::string csv;
  for (size_t i = 0; i < header.size(); ++i) csv += (i ? "," : "") + header[i];
  csv += "\n";
  for (const auto& r : rows) {
    md += "|";
    for (const auto& c : r) md += " " + c + " |";
    md += "\n";
    for (size_t i = 0; i < r.size(); ++i) {
      std::string c = r[i];
      if (c.find(',') != std::string::npos || c.find('"') != std::string::npos) {
        std::string q = "\"";
        for (char ch : c) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
        c = q + "\"";
      }
      csv += (i ? "," : "") + c;
    }
    csv += "\n";
  }
  md += "\naccuracy in % (`acc,none`, 0-shot unless the run says otherwise); avg = unweighted mean of the six; ppl = the first of wikitext2 / c4 / ppl in the file\n";
  log::out(md);
  if (!o.output.empty()) write_file_atomic(o.output, md);
  if (!o.csv.empty()) write_file_atomic(o.csv, csv);
  for (const auto& p : o.plot) {
    if (fs::path(p).filename().string().find("loss") != std::string::npos) plot_loss(runs, p);
    else plot_density(runs, p);
  }
}

}  // namespace leap
