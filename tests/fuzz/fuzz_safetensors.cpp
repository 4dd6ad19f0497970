// libFuzzer target: the safetensors header parser (bytes as a whole file) and, from the same bytes
// split at the first 0x00, a sharded index (model.safetensors.index.json) beside that file.
#include "fuzz_util.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace leap;
  fuzz::expect_clean([&] { st::parse_header(data, size, "fuzz.safetensors"); }, "fuzz.safetensors");
  // an index: JSON before the first NUL, a shard file after it
  const uint8_t* nul = static_cast<const uint8_t*>(std::memchr(data, 0, size));
  if (nul) {
    std::string dir = fuzz::scratch() + "/ckpt";
    std::filesystem::remove_all(dir);
    fuzz::put("ckpt/model.safetensors.index.json", data, size_t(nul - data));
    fuzz::put("ckpt/model-00001-of-00001.safetensors", nul + 1, size - size_t(nul - data) - 1);
    fuzz::expect_clean([&] { st::Reader c(dir); }, dir);
  }
  return 0;
}
