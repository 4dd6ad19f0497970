// safetensors reader/writer: round trips, sharded folders, and every malformed-input case the
// format allows, each a clear leap::Error naming the file and the problem (no crash).
#include <filesystem>
#include <fstream>

#include "base/error.h"
#include "base/fs_util.h"
#include "io/safetensors.h"
#include "io/tensor_io.h"
#include "test_util.h"

namespace leap {
namespace {
namespace fs = std::filesystem;

std::string file_bytes(const std::string& header, const std::string& data, int64_t len_override = -1) {
  uint64_t n = len_override >= 0 ? uint64_t(len_override) : header.size();
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = char((n >> (8 * i)) & 0xff);
  return out + header + data;
}

void write_raw(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), std::streamsize(bytes.size()));
}

TEST(Safetensors, RoundTripAllFloatDtypes) {
  std::string d = test::temp_dir("st_roundtrip");
  std::string p = d + "/x.safetensors";
  auto a = torch::randn({3, 5});
  auto b = torch::randn({7}).to(torch::kBFloat16);
  auto c = torch::randn({2, 2, 2}).to(torch::kFloat16);
  auto e = torch::arange(6, torch::kInt64).view({2, 3});
  write_safetensors(p, {{"a", a}, {"b", b}, {"c", c}, {"e", e}}, {{"format", "pt"}});
  st::Reader ck(p);
  EXPECT_EQ(ck.names(), (std::vector<std::string>{"a", "b", "c", "e"}));
  EXPECT_TRUE(torch::equal(read_tensor(ck, "a"), a));
  EXPECT_TRUE(torch::equal(read_tensor(ck, "b"), b));
  EXPECT_TRUE(torch::equal(read_tensor(ck, "c"), c));
  EXPECT_TRUE(torch::equal(read_tensor(ck, "e"), e));
  EXPECT_EQ(ck.files()[0]->header().metadata.at("format"), "pt");
  EXPECT_EQ(ck.files()[0]->header().data_offset % 8, 0u);
  // no temporary file left behind
  int n = 0;
  for (auto& x : fs::directory_iterator(d)) n += x.path().filename().string().find(".tmp.") != std::string::npos;
  EXPECT_EQ(n, 0);
}

TEST(Safetensors, HfSafetensorsReadsLeapFiles) {
  std::string d = test::temp_dir("st_py");
  std::string p = d + "/x.safetensors";
  write_safetensors(p, {{"w", torch::arange(12, torch::kFloat32).view({3, 4}) / 7.0},
                        {"h", torch::full({2}, 1.5).to(torch::kBFloat16)}});
  std::string cmd = test::python() + " -c \"from safetensors.torch import load_file; import torch; t = load_file('" +
                    p +
                    "'); assert torch.equal(t['w'], torch.arange(12.).view(3, 4) / 7.0); "
                    "assert t['h'].dtype == torch.bfloat16 and t['h'].tolist() == [1.5, 1.5]\"";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

struct BadCase {
  const char* name;
  std::string bytes;
  const char* expect;  // substring of the error message
};

TEST(Safetensors, MalformedFilesGiveClearErrors) {
  const std::string f32x2 = std::string(8, '\0');
  std::vector<BadCase> cases = {
      {"empty", "", "truncated safetensors file"},
      {"short", "abc", "truncated safetensors file"},
      {"len_past_end", file_bytes("{}", "", 1000), "runs past the end of the file"},
      {"len_huge", file_bytes("{}", "", int64_t(1) << 40), "exceeds the"},
      {"not_json", file_bytes("{not json", ""), "not valid JSON"},
      {"not_object", file_bytes("[1,2]", ""), "not a JSON object"},
      {"no_dtype", file_bytes(R"({"a":{"shape":[2],"data_offsets":[0,8]}})", f32x2), "missing or non-string \"dtype\""},
      {"bad_dtype", file_bytes(R"({"a":{"dtype":"F13","shape":[2],"data_offsets":[0,8]}})", f32x2),
       "unsupported dtype"},
      {"neg_shape", file_bytes(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", f32x2), "non-negative"},
      {"offsets_reversed", file_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", f32x2),
       "before begin"},
      {"offsets_past_end", file_bytes(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", f32x2),
       "run past the end of the data section"},
      {"wrong_dtype_size", file_bytes(R"({"a":{"dtype":"F64","shape":[2],"data_offsets":[0,8]}})", f32x2),
       "does not match shape x dtype size"},
      {"overlap",
       file_bytes(
           R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
           f32x2),
       "overlaps"},
      {"gap", file_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", f32x2),
       "gap in the data section"},
      {"trailing", file_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", f32x2),
       "truncated or trailing"},
      {"overflow",
       file_bytes(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}})", f32x2),
       "overflows"},
      {"offsets_not_pair", file_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", f32x2),
       "array of two integers"},
      {"metadata_not_string", file_bytes(R"({"__metadata__":{"k":1}})", ""), "is not a string"},
  };
  std::string d = test::temp_dir("st_bad");
  for (const auto& c : cases) {
    std::string p = d + "/" + c.name + ".safetensors";
    write_raw(p, c.bytes);
    std::string err = test::error_of([&] { st::File f(p); });
    EXPECT_NE(err.find(c.expect), std::string::npos) << c.name << ": got \"" << err << "\"";
    EXPECT_NE(err.find(p), std::string::npos) << c.name << ": error does not name the file: " << err;
  }
}

TEST(Safetensors, ShardedFolders) {
  std::string d = test::temp_dir("st_shards");
  write_safetensors(d + "/model-00001-of-00002.safetensors", {{"a", torch::ones({2})}});
  write_safetensors(d + "/model-00002-of-00002.safetensors", {{"b", torch::zeros({3})}});
  auto index = [&](const std::string& map) {
    write_file_atomic(d + "/model.safetensors.index.json", R"({"metadata":{},"weight_map":)" + map + "}");
  };
  index(R"({"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"})");
  st::Reader ok(d);
  EXPECT_EQ(ok.names(), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(torch::equal(read_tensor(ok, "b"), torch::zeros({3})));

  index(R"({"a":"model-00001-of-00002.safetensors","b":"model-00003-of-00002.safetensors"})");
  EXPECT_NE(test::error_of([&] { st::Reader c(d); }).find("is missing"), std::string::npos);
  index(R"({"a":"../evil.safetensors"})");
  EXPECT_NE(test::error_of([&] { st::Reader c(d); }).find("must be a plain file name inside the model folder"),
            std::string::npos);
  index(R"({"a":"/etc/passwd"})");
  EXPECT_NE(test::error_of([&] { st::Reader c(d); }).find("must be a plain file name"), std::string::npos);
  index(R"({"a":"sub/x.safetensors"})");
  EXPECT_NE(test::error_of([&] { st::Reader c(d); }).find("must be a plain file name"), std::string::npos);
  index(R"({"a":"model-00001-of-00002.safetensors","c":"model-00002-of-00002.safetensors"})");
  EXPECT_NE(test::error_of([&] { st::Reader c(d); }).find("listed in the index is not in the shard"),
            std::string::npos);
  index(R"({"a":"model-00002-of-00002.safetensors","b":"model-00001-of-00002.safetensors"})");
  EXPECT_NE(test::error_of([&] { st::Reader c(d); }).find("as the index says"), std::string::npos);
  index(R"([1])");
  EXPECT_NE(test::error_of([&] { st::Reader c(d); }).find("missing \"weight_map\""), std::string::npos);
}

TEST(Safetensors, MissingFolderContent) {
  std::string d = test::temp_dir("st_empty");
  EXPECT_NE(test::error_of([&] { st::Reader c(d); }).find("no model.safetensors"), std::string::npos);
  EXPECT_NE(test::error_of([&] { st::Reader c(d + "/nope"); }).find("no such file or folder"), std::string::npos);
}

}  // namespace
}  // namespace leap
