// libFuzzer target: recipe files (--recipe): JSON limits, then every key checked against the
// prune arguments (unknown keys and wrong types are errors naming the file), as load_recipe does.
#include "base/json_input.h"
#include "fuzz_util.h"
#include "options.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace leap;
  std::string text(reinterpret_cast<const char*>(data), size);
  fuzz::expect_clean(
      [&] {
        PruneArgs o;
        nlohmann::json j;
        try {
          j = parse_json_checked(text, "fuzz/recipe.json");
        } catch (const nlohmann::json::exception& e) {
          throw Error(std::string("fuzz/recipe.json: not valid JSON: ") + e.what());
        }
        apply_recipe(o, j, "fuzz/recipe.json");  // throws leap::Error
      },
      "fuzz/recipe.json");
  return 0;
}
