// libFuzzer target: tokenizer.json (byte-level BPE: vocab, merges, added tokens, normalizer,
// pre-tokenizer regexes, post-processor) loaded from a folder, then used to encode and decode.
#include "fuzz_util.h"
#include "text/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace leap;
  std::string dir = fuzz::scratch() + "/tok_json";
  std::filesystem::remove_all(dir);
  fuzz::put("tok_json/tokenizer.json", data, size);
  fuzz::expect_clean(
      [&] {
        auto tok = load_tokenizer(dir);
        auto ids = tok->encode("Hello wörld 123 <|endoftext|>  tabs\tand\nnewlines 😀", true);
        tok->decode(ids);
      },
      dir);
  return 0;
}
