// libFuzzer target: the task data readers. The first byte picks the file the rest becomes:
// ARC / OpenBookQA / WinoGrande / HellaSwag JSONL, PIQA's jsonl + labels, MMLU's CSV, or a
// perplexity text; then the task is loaded as `leap eval` would.
#include "eval/task_data.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace leap;
  if (size < 1) return 0;
  std::string dir = fuzz::scratch() + "/tasks";
  std::filesystem::remove_all(dir);
  const uint8_t kind = data[0] % 7;
  const uint8_t* d = data + 1;
  size_t n = size - 1;
  std::string task;
  switch (kind) {
    case 0:
      fuzz::put("tasks/arc/arc_easy.jsonl", d, n);
      task = "arc_easy";
      break;
    case 1:
      fuzz::put("tasks/openbookqa/openbook_qa.jsonl", d, n);
      task = "openbookqa";
      break;
    case 2:
      fuzz::put("tasks/winogrande/winogrande.jsonl", d, n);
      task = "winogrande";
      break;
    case 3: {
      const uint8_t* nul = static_cast<const uint8_t*>(std::memchr(d, 0, n));
      size_t a = nul ? size_t(nul - d) : n;
      fuzz::put("tasks/piqa/valid.jsonl", d, a);
      fuzz::put("tasks/piqa/valid-labels.lst", nul ? nul + 1 : d + n, nul ? n - a - 1 : 0);
      task = "piqa";
      break;
    }
    case 4:
      fuzz::put("tasks/mmlu/test/anatomy_test.csv", d, n);
      task = "mmlu_anatomy";
      break;
    case 5:
      fuzz::put("tasks/hellaswag/hellaswag_val.jsonl", d, n);
      task = "hellaswag";
      break;
    default: {
      std::string p = fuzz::put("tasks/text.txt", d, n);
      fuzz::expect_clean([&] { read_text_file(p); }, p);
      return 0;
    }
  }
  fuzz::expect_clean([&] { load_task(task, dir, 0, 0); }, dir);
  return 0;
}
