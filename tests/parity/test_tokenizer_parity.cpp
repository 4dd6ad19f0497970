// Tokenizer parity with HF transformers' AutoTokenizer (tests/python/make_tokenizer_fixtures.py):
// byte-level BPE in the Llama-3, Qwen2 (NFC) and GPT-2 styles, a Gemma-style SentencePiece model,
// and the real stories260k tokenizer.model, on non-ASCII text, digits, whitespace runs and
// special tokens; with and without the default special tokens.
#include <nlohmann/json.hpp>

#include "base/fs_util.h"
#include "test_util.h"
#include "text/tokenizer.h"
#include "text/unicode.h"

namespace leap {
namespace {

const nlohmann::json& cases() {
  static nlohmann::json j = nlohmann::json::parse(read_file(test::fixtures_dir() + "/tokenizers/cases.json"));
  return j;
}

std::string show(const std::vector<int64_t>& v) {
  std::string s;
  for (auto x : v) s += std::to_string(x) + " ";
  return s;
}

class TokenizerParity : public ::testing::TestWithParam<std::string> {};

TEST_P(TokenizerParity, IdsEqualTransformers) {
  const auto& c = cases().at(GetParam());
  auto tok = load_tokenizer(c.at("dir").get<std::string>());
  int checked = 0, mismatched = 0;
  for (const auto& row : c.at("cases")) {
    std::string text = row.at("text").get<std::string>();
    auto want = row.at("ids").get<std::vector<int64_t>>();
    auto want_ns = row.at("ids_no_special").get<std::vector<int64_t>>();
    auto got = tok->encode(text, true);
    auto got_ns = tok->encode(text, false);
    ++checked;
    if (got != want || got_ns != want_ns) {
      ++mismatched;
      ADD_FAILURE() << GetParam() << " text " << nlohmann::json(text).dump() << "\n  hf:   " << show(want)
                    << "\n  leap: " << show(got) << "\n  hf (no special):   " << show(want_ns)
                    << "\n  leap (no special): " << show(got_ns);
    }
  }
  EXPECT_GT(checked, 40);
  std::cout << "[ " << GetParam() << " ] " << checked - mismatched << "/" << checked << " texts identical to "
            << c.at("hf_class").get<std::string>() << "\n";
}

TEST_P(TokenizerParity, DecodeRoundTrips) {
  const auto& c = cases().at(GetParam());
  auto tok = load_tokenizer(c.at("dir").get<std::string>());
  for (const auto& row : c.at("cases")) {
    std::string text = row.at("text").get<std::string>();
    if (text.empty() || tok->kind() != "bpe") continue;  // sentencepiece decode normalises spaces
    std::string expect = GetParam() == "qwen2_bpe" ? unicode::nfc(text) : text;
    EXPECT_EQ(tok->decode(tok->encode(text, false)), expect);
  }
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, TokenizerParity,
                         ::testing::Values("llama3_bpe", "qwen2_bpe", "gpt2_bpe", "gemma_sp", "stories260k"));

}  // namespace
}  // namespace leap
