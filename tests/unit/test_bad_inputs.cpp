// Hostile and malformed inputs across every file type leap reads: each case writes its files into
// a fresh folder, runs the reader, and must get a leap::Error whose message names the file and
// states the specific problem (no crash, no partial result). Also: the output lock, and weights
// with NaN/Inf. Table-driven so a new reader adds rows, not tests.
#include <filesystem>
#include <fstream>

#include "base/error.h"
#include "base/fs_util.h"
#include "base/json_input.h"
#include "data/documents.h"
#include "eval/task_data.h"
#include "io/hf_config.h"
#include "io/safetensors.h"
#include "io/tensor_io.h"
#include "model/model.h"
#include "options.h"
#include "prune/calibration.h"
#include "prune/pruner.h"
#include "test_util.h"
#include "text/tokenizer.h"

namespace leap {
namespace {
namespace fs = std::filesystem;

using test::put;

std::string st_bytes(const std::string& header, const std::string& data, int64_t len = -1) {
  uint64_t n = len >= 0 ? uint64_t(len) : header.size();
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[size_t(i)] = char((n >> (8 * i)) & 0xff);
  return out + header + data;
}

const char* kLlamaConfig = R"({"model_type":"llama","hidden_size":64,"intermediate_size":172,"num_hidden_layers":2,
  "num_attention_heads":8,"num_key_value_heads":4,"vocab_size":512,"max_position_embeddings":512,"rms_norm_eps":1e-5})";

std::string nested(int depth) {
  return std::string(size_t(depth), '[') + std::string(size_t(depth), ']');
}

std::string bpe_json(const std::string& model) {
  return R"({"version":"1.0","added_tokens":[],"normalizer":null,"pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true},"post_processor":null,"decoder":{"type":"ByteLevel"},"model":)" +
         model + "}";
}

struct Case {
  std::string name;
  std::function<void(const std::string& dir)> setup;
  std::function<void(const std::string& dir)> run;
  std::string expect;  // the specific problem
  std::string file;    // the file the message must name (relative to dir)
};

TEST(BadInput, EveryReaderNamesTheFileAndTheProblem) {
  const std::string f32x2(8, '\0');
  auto st = [](const std::string& d) { st::File f(d + "/model.safetensors"); };
  auto ckpt = [](const std::string& d) { st::Reader c(d); };
  auto cfg = [](const std::string& d) { load_hf_config(d + "/config.json"); };
  auto tok = [](const std::string& d) { load_tokenizer(d); };
  auto recipe = [](const std::string& d) {
    PruneArgs o;
    load_recipe(o, d + "/recipe.json");
  };
  auto calib = [](const std::string& d) { read_documents(d + "/calib.jsonl", nullptr); };
  auto task = [](const std::string& name) { return [name](const std::string& d) { load_task(name, d, 0, 0); }; };
  auto file = [](const std::string& rel, const std::string& bytes) {
    return [rel, bytes](const std::string& d) { put(d + "/" + rel, bytes); };
  };
  auto files = [](std::vector<std::pair<std::string, std::string>> fs_) {
    return [fs_](const std::string& d) {
      for (const auto& [rel, bytes] : fs_) put(d + "/" + rel, bytes);
    };
  };
  const std::string good_st = st_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", f32x2);
  std::vector<Case> cases = {
      // safetensors header
      {"st_empty", file("model.safetensors", ""), st, "truncated safetensors file", "model.safetensors"},
      {"st_len_huge", file("model.safetensors", st_bytes("{}", "", int64_t(1) << 40)), st, "exceeds the",
       "model.safetensors"},
      {"st_not_json", file("model.safetensors", st_bytes("{oops", "")), st, "not valid JSON", "model.safetensors"},
      {"st_deep_json", file("model.safetensors", st_bytes(nested(200), "")), st, "JSON nested deeper than 64 levels",
       "model.safetensors"},
      {"st_bad_dtype",
       file("model.safetensors", st_bytes(R"({"a":{"dtype":"F13","shape":[2],"data_offsets":[0,8]}})", f32x2)), st,
       "unsupported dtype", "model.safetensors"},
      {"st_overflow",
       file("model.safetensors",
            st_bytes(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}})", f32x2)),
       st, "overflows", "model.safetensors"},
      {"st_past_end",
       file("model.safetensors", st_bytes(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", f32x2)), st,
       "run past the end of the data section", "model.safetensors"},
      {"st_overlap",
       file(
           "model.safetensors",
           st_bytes(
               R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
               f32x2)),
       st, "overlaps", "model.safetensors"},
      // sharded index
      {"index_not_json", file("model.safetensors.index.json", "{"), ckpt, "not valid JSON",
       "model.safetensors.index.json"},
      {"index_no_map", file("model.safetensors.index.json", R"({"metadata":{}})"), ckpt,
       "missing \"weight_map\" object", "model.safetensors.index.json"},
      {"index_escapes_folder",
       file("model.safetensors.index.json", R"({"weight_map":{"a":"../../etc/x.safetensors"}})"), ckpt,
       "must be a plain file name inside the model folder", "model.safetensors.index.json"},
      {"index_absolute_path", file("model.safetensors.index.json", R"({"weight_map":{"a":"/tmp/x.safetensors"}})"),
       ckpt, "must be a plain file name inside the model folder", "model.safetensors.index.json"},
      {"index_missing_shard", file("model.safetensors.index.json", R"({"weight_map":{"a":"model-00001.safetensors"}})"),
       ckpt, "listed in", "model-00001.safetensors"},
      {"index_wrong_shard",
       files(
           {{"model.safetensors.index.json", R"({"weight_map":{"b":"s1.safetensors"}})"}, {"s1.safetensors", good_st}}),
       ckpt, "tensor \"b\" listed in the index is not in the shard", "s1.safetensors"},
      // config.json
      {"config_not_json", file("config.json", "{\"model_type\": llama}"), cfg, "not valid JSON", "config.json"},
      {"config_deep", file("config.json", "{\"a\":" + nested(100) + "}"), cfg, "JSON nested deeper than 64 levels",
       "config.json"},
      {"config_not_object", file("config.json", "[]"), cfg, "top level is not a JSON object", "config.json"},
      {"config_unknown_type", file("config.json", R"({"model_type":"gpt2"})"), cfg, "unsupported model_type \"gpt2\"",
       "config.json"},
      {"config_missing_key", file("config.json", R"({"model_type":"llama","hidden_size":64})"), cfg,
       "missing required key", "config.json"},
      {"config_negative",
       file("config.json",
            std::string(kLlamaConfig)
                .replace(std::string(kLlamaConfig).find("\"num_hidden_layers\":2"), 21, "\"num_hidden_layers\":-2")),
       cfg, "\"num_hidden_layers\" must be a positive integer", "config.json"},
      {"config_heads",
       file("config.json",
            std::string(kLlamaConfig)
                .replace(std::string(kLlamaConfig).find("\"num_key_value_heads\":4"), 23, "\"num_key_value_heads\":3")),
       cfg, "must be a multiple of num_key_value_heads", "config.json"},
      {"config_activation",
       file("config.json",
            std::string(kLlamaConfig).substr(0, std::string(kLlamaConfig).size() - 1) + ",\"hidden_act\":\"relu2\"}"),
       cfg, "unsupported activation \"relu2\"", "config.json"},
      // tokenizers
      {"tok_none", file("config.json", kLlamaConfig), tok, "no tokenizer.json or tokenizer.model in this folder", ""},
      {"tok_not_json", file("tokenizer.json", "{\"model\":"), tok, "not valid JSON", "tokenizer.json"},
      {"tok_no_model", file("tokenizer.json", R"({"version":"1.0"})"), tok, "model is missing", "tokenizer.json"},
      {"tok_wordpiece", file("tokenizer.json", bpe_json(R"({"type":"WordPiece","vocab":{}})")), tok,
       "model.type \"WordPiece\" is not supported", "tokenizer.json"},
      {"tok_vocab_array", file("tokenizer.json", bpe_json(R"({"type":"BPE","vocab":[1,2],"merges":[]})")), tok,
       "model.vocab is not an object", "tokenizer.json"},
      {"tok_vocab_id_huge", file("tokenizer.json", bpe_json(R"({"type":"BPE","vocab":{"a":99999999999},"merges":[]})")),
       tok, "model.vocab[\"a\"] = 99999999999 is not a token id", "tokenizer.json"},
      {"tok_bad_merge", file("tokenizer.json", bpe_json(R"({"type":"BPE","vocab":{"a":0},"merges":["ab"]})")), tok,
       "model.merges[0] is not \"A B\"", "tokenizer.json"},
      {"tok_added_id_huge",
       file(
           "tokenizer.json",
           R"({"added_tokens":[{"id":1000000000000,"content":"<x>"}],"model":{"type":"BPE","vocab":{"a":0},"merges":[]}})"),
       tok, "added_tokens[0].id = 1000000000000 is not a token id", "tokenizer.json"},
      {"tok_bad_regex",
       file(
           "tokenizer.json",
           R"({"pre_tokenizer":{"type":"Split","pattern":{"Regex":"(a"},"behavior":"Isolated"},"model":{"type":"BPE","vocab":{"a":0},"merges":[]}})"),
       tok, "pre_tokenizer.pattern.Regex: tokenizer regex", "tokenizer.json"},
      {"sp_added_id_huge",
       files({{"tokenizer.model", read_file(test::source_dir() + "/data/stories260k/tokenizer.model")},
              {"tokenizer_config.json", R"({"added_tokens_decoder":{"1000000000000":{"content":"<x>"}}})"}}),
       tok, "added_tokens_decoder key \"1000000000000\" is not a token id", "tokenizer_config.json"},
      {"tok_deep", file("tokenizer.json", "{\"model\":" + nested(70) + "}"), tok, "JSON nested deeper than 64 levels",
       "tokenizer.json"},
      {"tok_config_bad", files({{"tokenizer_config.json", "{"}, {"tokenizer.model", "x"}}), tok, "not valid JSON",
       "tokenizer_config.json"},
      {"sp_garbage", file("tokenizer.model", std::string("\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11)), tok,
       "malformed sentencepiece model", "tokenizer.model"},
      // task data and calibration text
      {"task_piqa_labels",
       files({{"piqa/valid.jsonl", "{\"goal\":\"g\",\"sol1\":\"a\",\"sol2\":\"b\"}\n"},
              {"piqa/valid-labels.lst", "0\n1\n"}}),
       task("piqa"), "2 labels for 1 questions", "piqa/valid-labels.lst"},
      {"task_arc_json", file("arc/arc_easy.jsonl", "{oops\n"), task("arc_easy"), "arc_easy.jsonl:1: not valid JSON",
       "arc/arc_easy.jsonl"},
      {"task_arc_deep", file("arc/arc_easy.jsonl", nested(65) + "\n"), task("arc_easy"),
       "JSON nested deeper than 64 levels", "arc/arc_easy.jsonl:1"},
      {"task_mmlu_answer",
       file("mmlu/test/anatomy_test.csv", "question,choice0,choice1,choice2,choice3,answer\nq,a,b,c,d,9\n"),
       task("mmlu_anatomy"), "answer \"9\"", "mmlu/test/anatomy_test.csv"},
      {"calib_empty", file("calib.jsonl", ""), calib, "calib.jsonl (file, 1 jsonl shard, 0.0 MB): no documents",
       "calib.jsonl"},
      {"calib_no_text", file("calib.jsonl", "{\"txt\":\"a\"}\n"), calib,
       "expected an object with a string field \"text\"", "calib.jsonl:1"},
      {"calib_long_string", file("calib.jsonl", "{\"text\":\"" + std::string((size_t(16) << 20) + 1, 'a') + "\"}\n"),
       calib, "exceeds the limit of 16777216 bytes", "calib.jsonl:1"},
      // recipes
      {"recipe_unknown_key", file("recipe.json", R"({"stepz": 10})"), recipe, "unknown key \"stepz\"", "recipe.json"},
      {"recipe_wrong_type", file("recipe.json", R"({"steps": "ten"})"), recipe, "\"steps\" has the wrong type",
       "recipe.json"},
      {"recipe_not_object", file("recipe.json", "[1]"), recipe, "a recipe must be a JSON object", "recipe.json"},
  };
  ASSERT_GE(cases.size(), 30u);
  std::string root = test::temp_dir("bad_inputs");
  for (const auto& c : cases) {
    std::string d = root + "/" + c.name;
    fs::create_directories(d);
    c.setup(d);
    std::string err = test::error_of([&] { c.run(d); });
    EXPECT_NE(err.find(c.expect), std::string::npos)
        << c.name << ": expected \"" << c.expect << "\", got \"" << err << "\"";
    EXPECT_NE(err.find(d + (c.file.empty() ? "" : "/" + c.file)), std::string::npos)
        << c.name << ": the message does not name " << d << "/" << c.file << ": " << err;
  }
}

TEST(BadInput, WeightsWithNanOrInfAreRefusedNamingTheTensor) {
  std::string src = test::source_dir() + "/data/stories260k";
  std::string d = test::temp_dir("nan_weights");
  for (const char* f : {"config.json", "tokenizer.model", "tokenizer_config.json"})
    fs::copy_file(src + "/" + f, d + "/" + f);
  st::Reader c(src);
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (const auto& name : c.names()) {
    torch::Tensor t = read_tensor(c, name).clone();
    if (name == "model.layers.3.mlp.up_proj.weight") t.view({-1})[17] = std::numeric_limits<float>::infinity();
    tensors.emplace_back(name, t);
  }
  write_safetensors(d + "/model.safetensors", tensors);
  std::string err = test::error_of([&] { load_model(d, {}); });
  EXPECT_NE(err.find(d + "/model.safetensors: tensor \"model.layers.3.mlp.up_proj.weight\" has 1 non-finite value(s)"),
            std::string::npos)
      << err;
}

TEST(BadInput, SecondWriterOfAnOutputGetsAClearError) {
  std::string d = test::temp_dir("locks");
  std::string out = d + "/model_out";
  {
    OutputLock a(out);
    std::string err = test::error_of([&] { OutputLock b(out); });
    EXPECT_NE(err.find(out + ": another leap process (pid " + std::to_string(::getpid()) + ") is writing this output"),
              std::string::npos)
        << err;
  }
  OutputLock again(out);  // released with its holder
  SUCCEED();
}

TEST(BadInput, JsonLimitsAreCheckedOutsideStrings) {
  // brackets inside strings (and escaped quotes) are not nesting
  std::string ok = "{\"a\":\"" + std::string(200, '[') + "\\\"" + std::string(200, '{') + "\"}";
  EXPECT_NO_THROW(check_json_limits(ok, "ok.json"));
  EXPECT_NO_THROW(check_json_limits(nested(64), "64.json"));
  EXPECT_NE(test::error_of([&] {
              check_json_limits(nested(65), "65.json");
            }).find("65.json: JSON nested deeper than 64 levels at byte 64"),
            std::string::npos);
  JsonLimits small;
  small.max_bytes = 10;
  EXPECT_NE(test::error_of([&] {
              check_json_limits(std::string(11, ' '), "big.json", small);
            }).find("exceeds the limit of 10 bytes"),
            std::string::npos);
}

TEST(BadInput, AdmmMaskIterationsWithinItsIterations) {
  PrunerOptions o;
  o.admm_iters = 10;
  o.admm_iterative_prune = 11;
  EXPECT_NE(test::error_of([&] {
              make_pruner("admm", o, 8, torch::kCPU);
            }).find("--admm_iterative_prune (11) must not exceed --admm_iters (10)"),
            std::string::npos);
  o.admm_iterative_prune = 10;
  EXPECT_NO_THROW(make_pruner("admm", o, 8, torch::kCPU));
}

}  // namespace
}  // namespace leap
