// task_data.cpp — see task_data.h.
#include "eval/task_data.h"

#include <algorithm>
#include <bzlib.h>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>

#include "base/error.h"
#include "base/fs_util.h"
#include "base/json_input.h"
#include "base/sha256.h"
#include "text/unicode.h"

namespace leap {
namespace fs = std::filesystem;
using json = nlohmann::json;

const std::vector<std::pair<std::string, std::string>>& mmlu_subjects() {
  static const std::vector<std::pair<std::string, std::string>> s = [] {
    std::vector<std::pair<std::string, std::string>> v;
    auto add = [&](const char* cat, std::initializer_list<const char*> names) {
      for (const char* n : names) v.emplace_back(n, cat);
    };
    add("stem",
        {"abstract_algebra", "anatomy", "astronomy", "college_biology", "college_chemistry", "college_computer_science",
         "college_mathematics", "college_physics", "computer_security", "conceptual_physics", "electrical_engineering",
         "elementary_mathematics", "high_school_biology", "high_school_chemistry", "high_school_computer_science",
         "high_school_mathematics", "high_school_physics", "high_school_statistics", "machine_learning"});
    add("other", {"business_ethics", "clinical_knowledge", "college_medicine", "global_facts", "human_aging",
                  "management", "marketing", "medical_genetics", "miscellaneous", "nutrition",
                  "professional_accounting", "professional_medicine", "virology"});
    add("social_sciences",
        {"econometrics", "high_school_geography", "high_school_government_and_politics", "high_school_macroeconomics",
         "high_school_microeconomics", "high_school_psychology", "human_sexuality", "professional_psychology",
         "public_relations", "security_studies", "sociology", "us_foreign_policy"});
    add("humanities",
        {"formal_logic", "high_school_european_history", "high_school_us_history", "high_school_world_history",
         "international_law", "jurisprudence", "logical_fallacies", "moral_disputes", "moral_scenarios", "philosophy",
         "prehistory", "professional_law", "world_religions"});
    std::sort(v.begin(), v.end());
    return v;
  }();
  return s;
}

std::vector<std::string> known_tasks() {
  return {"piqa", "arc_easy", "arc_challenge", "openbookqa", "winogrande", "mmlu", "hellaswag", "lambada_openai"};
}

bool is_mmlu_subject_task(const std::string& name) {
  if (name.rfind("mmlu_", 0) != 0) return false;
  for (const auto& s : mmlu_subjects())
    if ("mmlu_" + s.first == name) return true;
  return false;
}

std::string read_text_file(const std::string& path) {
  std::string raw = read_file(path);
  if (path.size() < 4 || path.substr(path.size() - 4) != ".bz2") return raw;
  std::string out;
  bz_stream s{};
  if (BZ2_bzDecompressInit(&s, 0, 0) != BZ_OK) fail("%s: cannot initialise bzip2", path.c_str());
  s.next_in = raw.data();
  s.avail_in = unsigned(raw.size());
  char buf[1 << 16];
  int rc;
  do {
    s.next_out = buf;
    s.avail_out = sizeof buf;
    rc = BZ2_bzDecompress(&s);
    if (rc != BZ_OK && rc != BZ_STREAM_END) {
      BZ2_bzDecompressEnd(&s);
      fail("%s: corrupt bzip2 data (error %d)", path.c_str(), rc);
    }
    out.append(buf, sizeof buf - s.avail_out);
    if (rc == BZ_OK && s.avail_in == 0 && s.avail_out != 0) {
      BZ2_bzDecompressEnd(&s);
      fail("%s: truncated bzip2 data", path.c_str());
    }
  } while (rc != BZ_STREAM_END);
  BZ2_bzDecompressEnd(&s);
  return out;
}

std::vector<std::vector<std::string>> parse_csv(const std::string& t, const std::string& file) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, field_started = false;
  size_t line = 1, quote_line = 0;
  for (size_t i = 0; i < t.size(); ++i) {
    char c = t[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < t.size() && t[i + 1] == '"') {
          field.push_back('"');
          ++i;
        } else {
          quoted = false;
        }
      } else {
        if (c == '\n') ++line;
        field.push_back(c);
      }
      continue;
    }
    if (c == '"') {
      if (!field.empty()) fail("%s:%zu: stray quote inside an unquoted field", file.c_str(), line);
      quoted = true;
      quote_line = line;
      field_started = true;
    } else if (c == ',') {
      row.push_back(field);
      field.clear();
      field_started = true;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < t.size() && t[i + 1] == '\n') ++i;
      if (field_started || !field.empty() || !row.empty()) {
        row.push_back(field);
        rows.push_back(row);
      }
      row.clear();
      field.clear();
      field_started = false;
      ++line;
    } else {
      field.push_back(c);
      field_started = true;
    }
  }
  if (quoted) fail("%s:%zu: unterminated quoted field", file.c_str(), quote_line);
  if (field_started || !field.empty() || !row.empty()) {
    row.push_back(field);
    rows.push_back(row);
  }
  return rows;
}

namespace {

struct Lines {
  std::string file;
  std::vector<std::pair<size_t, json>> rows;  // (line number, object)
};

Lines read_jsonl(const std::string& path) {
  Lines L;
  L.file = path;
  std::string raw = read_text_file(path);
  size_t pos = 0, no = 0;
  while (pos < raw.size()) {
    size_t nl = raw.find('\n', pos);
    if (nl == std::string::npos) nl = raw.size();
    std::string line = raw.substr(pos, nl - pos);
    pos = nl + 1;
    ++no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json j;
    try {
      j = parse_json_checked(line, path + ":" + std::to_string(no));
    } catch (const json::exception& e) {
      fail("%s:%zu: not valid JSON: %s", path.c_str(), no, e.what());
    }
    if (!j.is_object()) fail("%s:%zu: expected a JSON object", path.c_str(), no);
    L.rows.emplace_back(no, std::move(j));
  }
  if (L.rows.empty()) fail("%s: no records", path.c_str());
  return L;
}

std::string str_field(const json& j, const char* k, const std::string& file, size_t line) {
  if (!j.contains(k) || !j[k].is_string()) fail("%s:%zu: missing string field \"%s\"", file.c_str(), line, k);
  return j[k].get<std::string>();
}
std::vector<std::string> str_list(const json& j, const char* k, const std::string& file, size_t line) {
  if (!j.contains(k) || !j[k].is_array() || j[k].empty())
    fail("%s:%zu: missing non-empty list field \"%s\"", file.c_str(), line, k);
  std::vector<std::string> out;
  for (const auto& v : j[k]) {
    if (!v.is_string()) fail("%s:%zu: \"%s\" must hold strings", file.c_str(), line, k);
    out.push_back(v.get<std::string>());
  }
  return out;
}
int64_t gold_field(const json& j, size_t n_choices, const std::string& file, size_t line) {
  if (!j.contains("gold") || !j["gold"].is_number_integer())
    fail("%s:%zu: missing integer field \"gold\"", file.c_str(), line);
  int64_t g = j["gold"].get<int64_t>();
  if (g < 0 || g >= int64_t(n_choices))
    fail("%s:%zu: gold %lld out of range for %zu choices", file.c_str(), line, (long long)g, n_choices);
  return g;
}
// Index of answerKey among labels (ARC/OBQA original layouts); answerKey may carry spaces.
int64_t answer_index(const std::vector<std::string>& labels, std::string key, const std::string& file, size_t line) {
  key.erase(0, key.find_first_not_of(' '));
  for (size_t i = 0; i < labels.size(); ++i)
    if (labels[i] == key) return int64_t(i);
  fail("%s:%zu: answerKey \"%s\" is not among the choice labels", file.c_str(), line, key.c_str());
}

std::string find_file(const std::string& data_dir, const std::string& task,
                      std::initializer_list<const char*> candidates) {
  std::string looked;
  for (const char* c : candidates) {
    fs::path p = fs::path(data_dir) / c;
    if (file_exists(p.string())) return p.string();
    looked += "\n  - " + p.string();
  }
  fail("task %s: data file not found (set --data_dir or LEAP_DATA_DIR). Looked for:%s", task.c_str(), looked.c_str());
}

TaskDoc mc(const std::string& ctx, const std::vector<std::string>& choices, int64_t gold) {
  TaskDoc d;
  d.contexts = {ctx};
  for (const auto& c : choices) d.continuations.push_back(" " + c);
  d.choices = choices;
  d.gold = gold;
  return d;
}

// --- piqa
void load_piqa(TaskData& t, const std::string& dir) {
  std::string f = find_file(dir, "piqa", {"piqa/valid.jsonl", "piqa/dev.jsonl"});
  std::string lab = (fs::path(f).parent_path() / (fs::path(f).stem().string() + "-labels.lst")).string();
  if (!file_exists(lab)) fail("task piqa: label file %s not found (it must sit next to %s)", lab.c_str(), f.c_str());
  Lines L = read_jsonl(f);
  std::vector<int64_t> labels;
  std::string raw = read_file(lab);
  size_t pos = 0, no = 0;
  while (pos < raw.size()) {
    size_t nl = raw.find('\n', pos);
    if (nl == std::string::npos) nl = raw.size();
    std::string s = raw.substr(pos, nl - pos);
    pos = nl + 1;
    ++no;
    s.erase(std::remove(s.begin(), s.end(), '\r'), s.end());
    if (s.empty()) continue;
    if (s != "0" && s != "1") fail("%s:%zu: label \"%s\" is not 0 or 1", lab.c_str(), no, s.c_str());
    labels.push_back(s == "1");
  }
  if (labels.size() != L.rows.size())
    fail("%s: %zu labels for %zu questions in %s", lab.c_str(), labels.size(), L.rows.size(), f.c_str());
  for (size_t i = 0; i < L.rows.size(); ++i) {
    const auto& [line, j] = L.rows[i];
    std::string goal = str_field(j, "goal", f, line);
    t.docs.push_back(mc(
        "Question: " + goal + "\nAnswer:", {str_field(j, "sol1", f, line), str_field(j, "sol2", f, line)}, labels[i]));
  }
  t.files = {f, lab};
}

// --- arc / openbookqa: llm-foundry {query, choices, gold} or original {question: {stem, choices}, answerKey}
void load_qa(TaskData& t, const std::string& dir, const std::string& file_rel, bool arc) {
  std::string f = find_file(dir, t.name, {file_rel.c_str()});
  Lines L = read_jsonl(f);
  for (const auto& [line, j] : L.rows) {
    std::string question;
    std::vector<std::string> choices;
    int64_t gold;
    if (j.contains("query")) {  // llm-foundry
      question = str_field(j, "query", f, line);
      if (arc) {
        if (question.rfind("Question: ", 0) != 0)
          fail("%s:%zu: ARC query does not start with \"Question: \"", f.c_str(), line);
        question = question.substr(10);
      }
      choices = str_list(j, "choices", f, line);
      gold = gold_field(j, choices.size(), f, line);
    } else if (j.contains("question") && j["question"].is_object()) {  // original AI2 layout
      const json& q = j["question"];
      question = str_field(q, "stem", f, line);
      std::vector<std::string> labels;
      if (!q.contains("choices") || !q["choices"].is_array()) fail("%s:%zu: missing question.choices", f.c_str(), line);
      for (const auto& c : q["choices"]) {
        choices.push_back(str_field(c, "text", f, line));
        labels.push_back(str_field(c, "label", f, line));
      }
      gold = answer_index(labels, str_field(j, "answerKey", f, line), f, line);
    } else {  // HF schema
      question = str_field(j, arc ? "question" : "question_stem", f, line);
      if (!j.contains("choices") || !j["choices"].is_object())
        fail("%s:%zu: missing choices {text, label}", f.c_str(), line);
      choices = str_list(j["choices"], "text", f, line);
      gold = answer_index(str_list(j["choices"], "label", f, line), str_field(j, "answerKey", f, line), f, line);
    }
    t.docs.push_back(mc(arc ? "Question: " + question + "\nAnswer:" : question, choices, gold));
  }
  t.files = {f};
}

// --- winogrande: llm-foundry {context_options, continuation, gold} or original {sentence, option1, option2, answer}
void load_winogrande(TaskData& t, const std::string& dir) {
  std::string f = find_file(dir, "winogrande", {"winogrande/winogrande.jsonl", "winogrande/dev.jsonl"});
  Lines L = read_jsonl(f);
  for (const auto& [line, j] : L.rows) {
    TaskDoc d;
    if (j.contains("context_options")) {
      d.contexts = str_list(j, "context_options", f, line);
      std::string cont = str_field(j, "continuation", f, line);
      d.continuations = {" " + cont};
      d.gold = gold_field(j, d.contexts.size(), f, line);
    } else {
      std::string s = str_field(j, "sentence", f, line);
      size_t idx = s.find('_');
      if (idx == std::string::npos) fail("%s:%zu: sentence has no \"_\" blank", f.c_str(), line);
      std::string tail = s.substr(idx + 1);
      tail.erase(0, tail.find_first_not_of(" \t\n\r\f\v"));
      tail.erase(tail.find_last_not_of(" \t\n\r\f\v") + 1);
      d.contexts = {s.substr(0, idx) + str_field(j, "option1", f, line),
                    s.substr(0, idx) + str_field(j, "option2", f, line)};
      d.continuations = {" " + tail};
      std::string a = j.contains("answer") && j["answer"].is_string() ? j["answer"].get<std::string>() : "";
      if (a != "1" && a != "2") fail("%s:%zu: answer must be \"1\" or \"2\"", f.c_str(), line);
      d.gold = a == "2";
    }
    d.choices = d.contexts;
    t.docs.push_back(d);
  }
  t.files = {f};
}

// --- hellaswag
std::string hs_preprocess(std::string text) {  // lm-eval hellaswag utils.preprocess
  text.erase(0, text.find_first_not_of(" \t\n\r\f\v"));
  text.erase(text.find_last_not_of(" \t\n\r\f\v") + 1);
  for (size_t p; (p = text.find(" [title]")) != std::string::npos;) text.replace(p, 8, ". ");
  static const std::regex brackets("\\[.*?\\]");
  text = std::regex_replace(text, brackets, "");
  for (size_t p; (p = text.find("  ")) != std::string::npos;) text.replace(p, 2, " ");
  return text;
}
std::string py_capitalize(const std::string& s) {  // str.capitalize for the ASCII cases that occur
  std::string out = s;
  for (auto& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
  if (!out.empty()) out[0] = char(std::toupper(static_cast<unsigned char>(out[0])));
  return out;
}
void load_hellaswag(TaskData& t, const std::string& dir) {
  std::string f = find_file(
      dir, "hellaswag",
      {"hellaswag/hellaswag_val.jsonl", "hellaswag/hellaswag_val_full.txt.bz2", "hellaswag/hellaswag_val_full.txt"});
  auto add = [&](const std::string& activity, const std::string& ctx_a, const std::string& ctx_b,
                 const std::vector<std::string>& endings, int64_t gold) {
    std::vector<std::string> ch;
    for (const auto& e : endings) ch.push_back(hs_preprocess(e));
    t.docs.push_back(mc(hs_preprocess(activity + ": " + ctx_a + " " + py_capitalize(ctx_b)), ch, gold));
  };
  if (f.find(".jsonl") != std::string::npos) {  // original / HF layout
    Lines L = read_jsonl(f);
    for (const auto& [line, j] : L.rows) {
      auto endings = str_list(j, "endings", f, line);
      int64_t gold = -1;  // "label": an index into the endings, as a number or a string of digits
      if (j.contains("label") && j["label"].is_number_integer()) {
        gold = j["label"].get<int64_t>();
      } else if (j.contains("label") && j["label"].is_string()) {
        const std::string l = j["label"].get<std::string>();
        if (!l.empty() && l.size() < 10 && l.find_first_not_of("0123456789") == std::string::npos) gold = std::stoll(l);
      }
      if (gold < 0 || gold >= int64_t(endings.size()))
        fail("%s:%zu: bad label (an index into the %zu endings expected)", f.c_str(), line, endings.size());
      add(str_field(j, "activity_label", f, line), str_field(j, "ctx_a", f, line), str_field(j, "ctx_b", f, line),
          endings, gold);
    }
  } else {  // llama.cpp layout: 6 lines per task: "activity: ctx", label, 4 endings (ctx_b not capitalised)
    std::string raw = read_text_file(f);
    std::vector<std::string> lines;
    size_t pos = 0;
    while (pos <= raw.size()) {
      size_t nl = raw.find('\n', pos);
      if (nl == std::string::npos) nl = raw.size();
      lines.push_back(raw.substr(pos, nl - pos));
      pos = nl + 1;
    }
    while (!lines.empty() && lines.back().empty()) lines.pop_back();
    if (lines.size() % 6 != 0)
      fail("%s: %zu lines is not a multiple of 6 (context, label, 4 endings)", f.c_str(), lines.size());
    static const std::regex tail("^(.*[.!?][\"')]?) (\\S.*)$");
    for (size_t i = 0; i < lines.size(); i += 6) {
      const std::string& cl = lines[i];
      size_t colon = cl.find(": ");
      if (colon == std::string::npos) fail("%s:%zu: context line has no \"activity: \" prefix", f.c_str(), i + 1);
      std::string act = cl.substr(0, colon), ctx = cl.substr(colon + 2), a = ctx, b;
      std::smatch m;
      if (std::regex_match(ctx, m, tail)) {  // ctx_b = the lowercase fragment after the last sentence end
        std::string frag = m[2].str();
        if (!frag.empty() && std::islower(static_cast<unsigned char>(frag[0])) &&
            frag.find_first_of(".!?") == std::string::npos) {
          a = m[1].str();
          b = frag;
        }
      }
      const std::string& lab = lines[i + 1];
      if (lab.size() != 1 || lab[0] < '0' || lab[0] > '3')
        fail("%s:%zu: label \"%s\" is not 0-3", f.c_str(), i + 2, lab.c_str());
      add(act, a, b, {lines[i + 2], lines[i + 3], lines[i + 4], lines[i + 5]}, lab[0] - '0');
    }
  }
  t.files = {f};
}

// --- lambada_openai: {context, continuation} or {text}
void load_lambada(TaskData& t, const std::string& dir) {
  std::string f = find_file(dir, "lambada_openai", {"lambada/lambada_openai.jsonl", "lambada/lambada_test.jsonl"});
  Lines L = read_jsonl(f);
  t.kind = "loglikelihood";
  for (const auto& [line, j] : L.rows) {
    TaskDoc d;
    if (j.contains("context")) {
      d.contexts = {str_field(j, "context", f, line)};
      d.continuations = {" " + str_field(j, "continuation", f, line)};
    } else {
      std::string text = str_field(j, "text", f, line);
      size_t sp = text.rfind(' ');
      if (sp == std::string::npos) fail("%s:%zu: text has no space to split off the last word", f.c_str(), line);
      d.contexts = {text.substr(0, sp)};
      d.continuations = {" " + text.substr(sp + 1)};
    }
    t.docs.push_back(d);
  }
  t.files = {f};
}

// --- mmlu
std::vector<TaskDoc> read_mmlu_csv(const std::string& path, const std::string& subject) {
  auto rows = parse_csv(read_file(path), path);
  std::vector<TaskDoc> out;
  size_t start = 0;
  if (!rows.empty() && !rows[0].empty() && rows[0][0] == "question") start = 1;  // header (staged layout)
  for (size_t r = start; r < rows.size(); ++r) {
    const auto& row = rows[r];
    if (row.size() != 6)
      fail("%s: row %zu has %zu fields, expected 6 (question, 4 choices, answer)", path.c_str(), r + 1, row.size());
    int64_t ans;
    const std::string& a = row[5];
    if (a.size() == 1 && a[0] >= 'A' && a[0] <= 'D')
      ans = a[0] - 'A';
    else if (a.size() == 1 && a[0] >= '0' && a[0] <= '3')
      ans = a[0] - '0';
    else
      fail("%s: row %zu: answer \"%s\" is not 0-3 or A-D", path.c_str(), r + 1, a.c_str());
    TaskDoc d;
    d.contexts = {row[0]};  // the raw question; the prompt is built later
    d.choices = {row[1], row[2], row[3], row[4]};
    d.gold = ans;
    d.subject = subject;
    out.push_back(d);
  }
  return out;
}
std::string mmlu_question_block(const TaskDoc& d) {
  std::string q = d.contexts[0];
  q.erase(0, q.find_first_not_of(" \t\n\r\f\v"));
  q.erase(q.find_last_not_of(" \t\n\r\f\v") + 1);
  return q + "\nA. " + d.choices[0] + "\nB. " + d.choices[1] + "\nC. " + d.choices[2] + "\nD. " + d.choices[3] +
         "\nAnswer:";
}
void load_mmlu(TaskData& t, const std::string& dir, const std::vector<std::string>& subjects, int64_t limit,
               int64_t k) {
  t.version = 2;
  for (const auto& s : subjects) {
    std::string f = find_file(dir, "mmlu", {("mmlu/test/" + s + "_test.csv").c_str()});
    auto docs = read_mmlu_csv(f, s);
    t.files.push_back(f);
    std::string prefix = "The following are multiple choice questions (with answers) about ";
    std::string subj = s;
    std::replace(subj.begin(), subj.end(), '_', ' ');
    prefix += subj + ".\n\n";
    if (k > 0) {  // first_n from the dev split
      std::string df = find_file(dir, "mmlu", {("mmlu/dev/" + s + "_dev.csv").c_str()});
      auto dev = read_mmlu_csv(df, s);
      t.files.push_back(df);
      if (int64_t(dev.size()) < k)
        fail("%s: %zu dev questions, fewer than --num_fewshot %lld", df.c_str(), dev.size(), (long long)k);
      for (int64_t i = 0; i < k; ++i)
        prefix += mmlu_question_block(dev[size_t(i)]) + " " + std::string(1, char('A' + dev[size_t(i)].gold)) + "\n\n";
    }
    t.original_size += int64_t(docs.size());
    if (limit > 0 && int64_t(docs.size()) > limit) docs.resize(size_t(limit));
    for (auto& d : docs) {
      TaskDoc m = mc(prefix + mmlu_question_block(d), {"A", "B", "C", "D"}, d.gold);
      m.subject = s;
      t.docs.push_back(m);
    }
  }
}

}  // namespace

TaskData load_task(const std::string& name, const std::string& dir, int64_t limit, int64_t k) {
  TaskData t;
  t.name = name;
  if (k > 0 && name != "mmlu" && !is_mmlu_subject_task(name))
    fail(
        "task %s: --num_fewshot > 0 needs its training split, which is not in the data folder (only mmlu has a dev "
        "split)",
        name.c_str());
  if (name == "piqa")
    load_piqa(t, dir);
  else if (name == "arc_easy")
    load_qa(t, dir, "arc/arc_easy.jsonl", true);
  else if (name == "arc_challenge")
    load_qa(t, dir, "arc/arc_challenge.jsonl", true);
  else if (name == "openbookqa")
    load_qa(t, dir, "openbookqa/openbook_qa.jsonl", false);
  else if (name == "winogrande")
    load_winogrande(t, dir);
  else if (name == "hellaswag")
    load_hellaswag(t, dir);
  else if (name == "lambada_openai")
    load_lambada(t, dir);
  else if (name == "mmlu" || is_mmlu_subject_task(name)) {
    std::vector<std::string> subjects;
    for (const auto& s : mmlu_subjects())
      if (name == "mmlu" || name == "mmlu_" + s.first) subjects.push_back(s.first);
    load_mmlu(t, dir, subjects, limit, k);
  } else {
    std::string list;
    for (const auto& n : known_tasks()) list += " " + n;
    fail("unknown task \"%s\" (known:%s, wikitext2, c4, ppl, mmlu_<subject>)", name.c_str(), list.c_str());
  }
  if (t.name != "mmlu" && !is_mmlu_subject_task(t.name)) {
    t.original_size = int64_t(t.docs.size());
    if (limit > 0 && int64_t(t.docs.size()) > limit) t.docs.resize(size_t(limit));
  }
  Sha256 h;
  for (const auto& f : t.files) {
    std::string s = sha256_file(f);
    h.update(s.data(), s.size());
  }
  t.sha256 = h.hex_digest();
  return t;
}

}  // namespace leap
