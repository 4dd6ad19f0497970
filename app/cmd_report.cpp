// cmd_report.cpp — `leap report`: a Markdown/CSV comparison table of `leap eval` result files
// (the six paper tasks, their mean with its standard error, a perplexity), paired differences
// between two methods over the same documents (from the per-document samples.jsonl beside each
// result), and figures of per-block density or LEAP's training curves (svg_plot.h).
#include "cmd_report.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>

#include "base/error.h"
#include "base/fs_util.h"
#include "base/json_input.h"
#include "base/log.h"
#include "eval/evaluate.h"
#include "svg_plot.h"

namespace leap {
namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

namespace {
struct ReportRun {
  std::string name, file;
  std::string label;  // the method and its variants ("leap+distill+owl"), from leap_sparsity.json; "" without
  ojson sparsity;     // leap_sparsity.json of the evaluated folder, or null
};

// The method of a pruned folder with the variants of issue "Beyond the paper" it was run with, as
// scripts/variants.sh names them: "+distill" (distillation weight > 0), "+owl" (OWL budgets), and
// "+reconstruct-<sparsegpt|admm>" (weights updated on the mask), then "@seed<N>" for a seed other than
// 0 (two seeds of one recipe are two rows, and pair: leap@seed1:leap). Reports without a config give
// the method.
std::string method_label(const ojson& sparsity) {
  std::string label = sparsity.value("method", std::string("?"));
  const ojson cfg = sparsity.contains("config") && sparsity["config"].is_object() ? sparsity["config"] : ojson::object();
  if (cfg.value("distill_weight", 0.0) > 0) label += "+distill";
  if (cfg.value("owl_m", 0.0) > 0) label += "+owl";
  if (sparsity.contains("reconstruct") && sparsity["reconstruct"].is_string() &&
      !sparsity["reconstruct"].get<std::string>().empty())
    label += "+reconstruct-" + sparsity["reconstruct"].get<std::string>();
  const int64_t seed =
      sparsity.contains("seed") && sparsity["seed"].is_number_integer() ? sparsity["seed"].get<int64_t>() : 0;
  if (seed != 0) label += "@seed" + std::to_string(seed);
  return label;
}

void write_figure(const std::string& path, const std::string& svg) {
  write_file_atomic(path, svg);
  if (std::system("command -v rsvg-convert > /dev/null 2>&1") == 0) {
    std::string png =
        path.substr(0, path.size() - (path.size() > 4 && path.substr(path.size() - 4) == ".svg" ? 4 : 0)) + ".png";
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
  write_figure(
      path, svg_line_chart("Density per decoder block", "decoder block", "density (fraction of weights kept)", series));
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

// Per-document accuracy of one run, task → document → acc, from the samples.jsonl that
// `leap eval --log_samples` wrote beside its result file; each task's mean must equal the result's
// acc (the samples belong to that evaluation). Empty when there is no samples.jsonl.
using DocAcc = std::map<std::string, std::map<std::string, double>>;
DocAcc load_doc_acc(const ReportRun& run, const ojson& results) {
  DocAcc acc;
  fs::path f = fs::path(run.file).parent_path() / "samples.jsonl";
  if (!file_exists(f.string())) return acc;
  const std::string text = read_file(f.string());
  std::set<std::string> tasks;
  for (const auto& t : paper_tasks()) tasks.insert(t);
  size_t pos = 0, line_no = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    const std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (line.empty()) continue;
    ojson j = parse_json_checked<ojson>(line, f.string());
    if (!j.contains("task") || !j.contains("doc_id") || !j.contains("acc") || !j["acc"].is_number())
      fail("%s:%zu: a sample needs \"task\", \"doc_id\" and a numeric \"acc\"", f.string().c_str(), line_no);
    const std::string task = j["task"].get<std::string>();
    if (!tasks.count(task)) continue;
    const std::string doc = j.value("subject", std::string()) + "/" + j["doc_id"].dump();
    if (!acc[task].emplace(doc, j["acc"].get<double>()).second)
      fail("%s:%zu: document %s of %s appears twice", f.string().c_str(), line_no, doc.c_str(), task.c_str());
  }
  for (const auto& [task, docs] : acc) {
    double sum = 0;
    for (const auto& [doc, a] : docs) sum += a;
    const double mean = sum / double(docs.size());
    if (!results.contains(task) || std::abs(results[task].value("acc,none", -1.0) - mean) > 1e-9)
      fail(
          "%s: %s's mean accuracy over its %zu documents (%.6f) is not %s's (the samples belong to another "
          "evaluation?)",
          f.string().c_str(), task.c_str(), docs.size(), mean, run.file.c_str());
  }
  return acc;
}

// mean and standard error (sample standard deviation / √n, as lm-eval's stderr) of xs
std::pair<double, double> mean_se(const std::vector<double>& xs) {
  double m = 0;
  for (double x : xs) m += x;
  m /= double(xs.size());
  double v = 0;
  for (double x : xs) v += (x - m) * (x - m);
  return {m, xs.size() > 1 ? std::sqrt(v / double(xs.size() - 1) / double(xs.size())) : 0.0};
}

// "A:B" pairs: each run labelled A (a method and its variants, method_label) against the run labelled B
// at the same budget and pattern,
// per task over the documents both evaluated (they must be the same), d_i = acc_A,i − acc_B,i;
// the six-task difference is the mean of the task differences, its s.e. √(Σ se_t²) / 6.
std::string paired_table(const std::vector<ReportRun>& runs, const std::vector<ojson>& results,
                         const std::vector<std::string>& pairs) {
  const std::vector<std::string> cols = paper_tasks();
  std::string md;
  for (const auto& spec : pairs) {
    const size_t colon = spec.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == spec.size())
      fail("--paired %s: expected METHOD:BASELINE, e.g. leap:admm or leap+owl:leap", spec.c_str());
    const std::string a_m = spec.substr(0, colon), b_m = spec.substr(colon + 1);
    auto same_budget = [](const ReportRun& x, const ReportRun& y) {
      return x.sparsity.value("target_sparsity", -1.0) == y.sparsity.value("target_sparsity", -1.0) &&
             x.sparsity.value("pattern", std::string()) == y.sparsity.value("pattern", std::string());
    };
    for (size_t i = 0; i < runs.size(); ++i) {
      if (runs[i].label != a_m) continue;
      size_t j = 0;
      while (j < runs.size() && !(runs[j].label == b_m && same_budget(runs[i], runs[j]))) ++j;
      if (j == runs.size()) continue;
      DocAcc A = load_doc_acc(runs[i], results[i]), B = load_doc_acc(runs[j], results[j]);
      if (A.empty() || B.empty()) {
        LEAP_WARN("--paired %s: no samples.jsonl beside %s (run leap eval with --log_samples)", spec.c_str(),
                  (A.empty() ? runs[i] : runs[j]).file.c_str());
        continue;
      }
      if (md.empty()) {
        md = "\n| paired difference, same documents (points) |";
        for (const auto& c : cols) md += " " + c + " |";
        md += " avg ± s.e. |\n|---|";
        for (size_t c = 0; c <= cols.size(); ++c) md += "---:|";
        md += "\n";
      }
      std::string row = "| " + runs[i].name + " − " + runs[j].name + " |";
      double sum = 0, var = 0;
      bool all = true;
      for (const auto& t : cols) {
        if (!A.count(t) || !B.count(t)) {
          row += " - |";
          all = false;
          continue;
        }
        if (A[t].size() != B[t].size())
          fail("--paired %s: %s has %zu documents in %s but %zu in %s: not the same documents", spec.c_str(), t.c_str(),
               A[t].size(), runs[i].file.c_str(), B[t].size(), runs[j].file.c_str());
        std::vector<double> d;
        for (const auto& [doc, a] : A[t]) {
          auto it = B[t].find(doc);
          if (it == B[t].end())
            fail("--paired %s: document %s of %s is in %s but not in %s", spec.c_str(), doc.c_str(), t.c_str(),
                 runs[i].file.c_str(), runs[j].file.c_str());
          d.push_back(100 * (a - it->second));
        }
        auto [m, se] = mean_se(d);
        row += strformat(" %+.2f ± %.2f |", m, se);
        sum += m;
        var += se * se;
      }
      const double k = double(cols.size());
      row += all ? strformat(" **%+.2f ± %.2f** |", sum / k, std::sqrt(var) / k) : " - |";
      md += row + "\n";
    }
  }
  return md;
}
}  // namespace

void run_report(ReportArgs& o) {
  std::vector<ReportRun> runs;
  std::vector<std::string> cols = paper_tasks();
  std::vector<std::vector<std::string>> rows;
  bool any_ppl = false;
  std::vector<std::string> ppl_tasks = {"wikitext2", "c4", "ppl"};
  std::vector<ojson> results;
  for (const auto& f : o.inputs) {
    ojson j = read_ordered_json_file(f);
    if (!j.contains("results") || !j["results"].is_object())
      fail("%s: no \"results\" object (not a leap eval output?)", f.c_str());
    const ojson& r = j["results"];
    std::string name = f;
    if (j.contains("config") && j["config"].contains("model")) name = j["config"]["model"].get<std::string>();
    // a pruned folder written by leap names its method and budget in leap_sparsity.json; a copy beside
    // the result file (a sweep's recorded cell, whose model folder is gone) comes first
    std::string model_path =
        j.contains("config") && j["config"].contains("model_path") ? j["config"]["model_path"].get<std::string>() : "";
    fs::path side = fs::path(f).parent_path() / "leap_sparsity.json";
    if (!file_exists(side.string())) side = fs::path(model_path) / "leap_sparsity.json";
    ojson sparsity;
    std::string label;
    if (!model_path.empty() && file_exists(side.string())) {
      try {
        sparsity = parse_json_checked<ojson>(read_file(side.string()), side.string());
        label = method_label(sparsity);
        name = strformat("%s %.0f%% %s", label.c_str(), 100 * sparsity.value("target_sparsity", 0.0),
                         sparsity.value("pattern", std::string("")).c_str());
        if (name.size() > 13 && name.substr(name.size() - 13) == " unstructured") name.resize(name.size() - 13);
      } catch (const ojson::exception&) {
      }
    } else if (!model_path.empty()) {
      name = "dense";
    }
    runs.push_back({name, f, label, sparsity});
    results.push_back(r);
    std::vector<std::string> row = {name};
    double sum = 0, var = 0;
    int n = 0, n_se = 0;
    for (const auto& t : cols) {
      if (r.contains(t) && r[t].contains("acc,none")) {
        double v = r[t]["acc,none"].get<double>() * 100;
        row.push_back(strformat("%.2f", v));
        sum += v;
        ++n;
        if (r[t].contains("acc_stderr,none") && r[t]["acc_stderr,none"].is_number()) {
          const double se = r[t]["acc_stderr,none"].get<double>() * 100;
          var += se * se;
          ++n_se;
        }
      } else {
        row.push_back("-");
      }
    }
    // the six tasks' documents are independent: s.e.(mean of six) = √(Σ se_t²) / 6
    const bool full = n == int(cols.size());
    row.push_back(full ? strformat("%.2f", sum / n) : "-");
    row.push_back(full && n_se == n ? strformat("%.2f", std::sqrt(var) / n) : "-");
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
  header.push_back("avg_se");
  header.push_back("ppl");
  (void)any_ppl;
  // Markdown: avg and its s.e. in one column
  const size_t avg_col = header.size() - 3;
  std::string md = "|";
  for (size_t i = 0; i < header.size(); ++i)
    if (i != avg_col + 1) md += " " + std::string(i == avg_col ? "avg ± s.e." : header[i]) + " |";
  md += "\n|";
  for (size_t i = 0; i + 1 < header.size(); ++i) md += i == 0 ? "---|" : "---:|";
  md += "\n";
  std::string csv;
  for (size_t i = 0; i < header.size(); ++i) csv += (i ? "," : "") + header[i];
  csv += "\n";
  for (const auto& r : rows) {
    md += "|";
    for (size_t i = 0; i < r.size(); ++i) {
      if (i == avg_col + 1) continue;
      md += " " + (i == avg_col && r[i + 1] != "-" ? r[i] + " ± " + r[i + 1] : r[i]) + " |";
    }
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
  md +=
      "\naccuracy in % (`acc,none`, 0-shot unless the run says otherwise); avg = unweighted mean of the six; ppl = the "
      "first of wikitext2 / c4 / ppl in the file; s.e. = √(Σ over the six of each task's squared standard error) / 6\n";
  const std::string paired = paired_table(runs, results, o.paired);
  if (!paired.empty())
    md += paired +
          "\npaired difference: per task the mean of acc(run) − acc(baseline) over the same documents, with its "
          "standard error (the differences' standard deviation / √n); avg: the mean of the six, s.e. √(Σ se²) / 6. A "
          "difference within about two standard errors of zero is not evidence of a gain.\n";
  log::out(md);
  if (!o.output.empty()) write_file_atomic(o.output, md);
  if (!o.csv.empty()) write_file_atomic(o.csv, csv);
  for (const auto& p : o.plot) {
    if (fs::path(p).filename().string().find("loss") != std::string::npos)
      plot_loss(runs, p);
    else
      plot_density(runs, p);
  }
}

}  // namespace leap
