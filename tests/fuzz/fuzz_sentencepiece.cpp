// libFuzzer target: the SentencePiece path — tokenizer.model (leap's protobuf reader and edit, then
// libsentencepiece) with a tokenizer_config.json — loaded, then used to encode and decode.
#include "fuzz_util.h"
#include "text/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace leap;
  std::string dir = fuzz::scratch() + "/tok_sp";
  std::filesystem::remove_all(dir);
  fuzz::put("tok_sp/tokenizer.model", data, size);
  const std::string cfg = R"({"add_bos_token": true, "legacy": false})";
  fuzz::put("tok_sp/tokenizer_config.json", reinterpret_cast<const uint8_t*>(cfg.data()), cfg.size());
  fuzz::expect_clean(
      [&] {
        auto tok = load_tokenizer(dir);
        auto ids = tok->encode("Once upon a time, <s> there was  a cat.\n", true);
        tok->decode(ids);
      },
      dir);
  return 0;
}
