// cmd_report.cpp — `leap report`: a Markdown/CSV comparison table of `leap eval` result files
// (the six paper tasks, their mean, a perplexity), and figures of per-block density or LEAP's
// training curves (svg_plot.h).
#include "cmd_report.h"

#include <cstdlib>
#include <filesystem>
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
  ojson sparsity;  // leap_sparsity.json of the evaluated folder, or null
};

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
}  // namespace

void run_report(ReportArgs& o) {
  std::vector<ReportRun> runs;
  std::vector<std::string> cols = paper_tasks();
  std::vector<std::vector<std::string>> rows;
  bool any_ppl = false;
  std::vector<std::string> ppl_tasks = {"wikitext2", "c4", "ppl"};
  for (const auto& f : o.inputs) {
    ojson j = read_ordered_json_file(f);
    if (!j.contains("results") || !j["results"].is_object())
      fail("%s: no \"results\" object (not a leap eval output?)", f.c_str());
    const ojson& r = j["results"];
    std::string name = f;
    if (j.contains("config") && j["config"].contains("model")) name = j["config"]["model"].get<std::string>();
    // a pruned folder written by leap names its method and budget in leap_sparsity.json
    std::string model_path =
        j.contains("config") && j["config"].contains("model_path") ? j["config"]["model_path"].get<std::string>() : "";
    fs::path side = fs::path(model_path) / "leap_sparsity.json";
    ojson sparsity;
    if (!model_path.empty() && file_exists(side.string())) {
      try {
        sparsity = parse_json_checked<ojson>(read_file(side.string()), side.string());
        name =
            strformat("%s %.0f%% %s", sparsity.value("method", std::string("?")).c_str(),
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
  md +=
      "\naccuracy in % (`acc,none`, 0-shot unless the run says otherwise); avg = unweighted mean of the six; ppl = the "
      "first of wikitext2 / c4 / ppl in the file\n";
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
