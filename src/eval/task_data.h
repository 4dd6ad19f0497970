// task_data.h — readers for the zero-shot task files, producing lm-eval's requests.
//
// Each task reader returns documents in lm-eval's terms: contexts (one, or one per choice for
// Winogrande's partial scoring), continuations (target delimiter " " + choice, or one shared
// continuation), the choice strings acc_norm normalises by (code points, without the delimiter),
// and the gold index. Prompts follow lm-eval 0.4.13's task YAMLs:
//   piqa           "Question: {goal}\nAnswer:"            choices sol1, sol2
//   arc_easy/_challenge "Question: {question}\nAnswer:"    choices text
//   openbookqa     "{question_stem}"                       choices text
//   winogrande     sentence[:_] + option  →  " " + sentence after "_" (stripped)
//   hellaswag      preprocess(activity: ctx_a + " " + ctx_b.capitalize())  choices preprocess(ending)
//   mmlu           description + "{q.strip()}\nA. ..\nB. ..\nC. ..\nD. ..\nAnswer:"  choices A-D
//   lambada_openai text minus its last word  →  " " + last word
// Layouts: the staged ones (original PIQA jsonl + labels, llm-foundry jsonl for ARC, OBQA,
// Winogrande and LAMBADA, MMLU CSVs with a header, HellaSwag llama.cpp text, .bz2 allowed) and
// the original/HF-schema jsonl layouts. Malformed lines are errors naming file and line.
// See docs/METHOD.md §3.3.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace leap {

struct TaskDoc {
  std::vector<std::string> contexts;       // 1, or one per choice (partial scoring)
  std::vector<std::string> continuations;  // one per choice, or 1 shared (partial scoring)
  std::vector<std::string> choices;        // for acc_norm lengths
  int64_t gold = 0;
  std::string subject;  // mmlu
};

struct TaskData {
  std::string name;
  std::string kind = "multiple_choice";  // or "loglikelihood" (lambada)
  std::vector<TaskDoc> docs;
  std::vector<std::string> files;  // files read
  std::string sha256;              // of the files read, concatenated in order
  int version = 1;                 // lm-eval task version
  int64_t original_size = 0;       // documents before --limit
};

std::vector<std::string> known_tasks();  // zero-shot tasks leap can evaluate
bool is_mmlu_subject_task(const std::string& name);

// Loads task `name` from data_dir. limit > 0: first `limit` documents (per subject for mmlu).
TaskData load_task(const std::string& name, const std::string& data_dir, int64_t limit, int64_t num_fewshot);

// The 57 MMLU subjects with their lm-eval category (stem, other, social_sciences, humanities).
const std::vector<std::pair<std::string, std::string>>& mmlu_subjects();

// CSV parsing (RFC 4180: quotes, doubled quotes, newlines inside quotes). Errors name file/line.
std::vector<std::vector<std::string>> parse_csv(const std::string& text, const std::string& file);
// Reads a file, decompressing .bz2.
std::string read_text_file(const std::string& path);

}  // namespace leap
