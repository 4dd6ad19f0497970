// libFuzzer target: recipe files (--recipe): JSON limits, then every key checked against the
// prune options (unknown keys and wrong types are errors naming the file).
#include "fuzz_util.h"
#include "leap/json_input.h"
#include "leap/options.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace leap;
  std::string text(reinterpret_cast<const char*>(data), size);
  fuzz::expect_clean(
      [&] {
        PruneOptions o;
        nlohmann::json j;
        try {
          j = parse_json_checked(text, "fuzz/recipe.json");
        } catch (const nlohmann::json::exception& e) {
          throw Error(std::string("fuzz/recipe.json: not valid JSON: ") + e.what());
        }
        try {  // as run_prune does: apply_recipe reports with std::runtime_error
          apply_recipe(o, j, "fuzz/recipe.json");
        } catch (const Error&) {
          throw;
        } catch (const std::runtime_error& e) {
          throw Error(e.what());
        }
      },
      "fuzz/recipe.json");
  return 0;
}
