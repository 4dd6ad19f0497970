// libFuzzer target: config.json (every model family, rope variants, layer patterns).
#include "fuzz_util.h"
#include "io/hf_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  leap::fuzz::expect_clean([&] { leap::parse_hf_config(text, "fuzz/config.json"); }, "fuzz/config.json");
  return 0;
}
