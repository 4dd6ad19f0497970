// 1-bit mask files: bit packing as np.packbits does it, leap's mask file written by `leap prune
// --save_mask` and applied by `leap apply-mask` (the same model, bit for bit), a mask refused for
// weights it was not made for, and hostile .npz archives (built here as stored zips) refused with
// the file and the problem named. The reference's real mask.npz (NumPy-written, deflated) is
// tested against NumPy and transformers in tests/parity/test_mask_npz.cpp.
#include <filesystem>
#include <fstream>
#include <zlib.h>

#include "base/error.h"
#include "base/fs_util.h"
#include "cmd_apply_mask.h"
#include "cmd_prune.h"
#include "io/mask_file.h"
#include "io/model_path.h"
#include "io/npz.h"
#include "io/tensor_io.h"
#include "test_util.h"

namespace leap {
namespace {
namespace fs = std::filesystem;

using test::put;

std::string le(uint64_t v, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += char((v >> (8 * i)) & 0xff);
  return s;
}

// A .npy v1 file: header dict literal padded to 64 bytes, then the data.
std::string npy(const std::string& descr, const std::string& shape, const std::string& data) {
  std::string h = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" + shape + "), }";
  while ((10 + h.size() + 1) % 64) h += ' ';
  h += '\n';
  return std::string("\x93NUMPY\x01\x00", 8) + le(h.size(), 2) + h + data;
}

// A zip of stored members, as np.savez writes them (without zip64 extras).
std::string zip(const std::vector<std::pair<std::string, std::string>>& members) {
  std::string out, cd;
  for (const auto& [name, data] : members) {
    const uint32_t crc = uint32_t(crc32(0, reinterpret_cast<const Bytef*>(data.data()), uInt(data.size())));
    const uint64_t off = out.size();
    out += le(0x04034b50, 4) + le(20, 2) + le(0, 2) + le(0, 2) + le(0, 4) + le(crc, 4) + le(data.size(), 4) +
           le(data.size(), 4) + le(name.size(), 2) + le(0, 2) + name + data;
    cd += le(0x02014b50, 4) + le(20, 2) + le(20, 2) + le(0, 2) + le(0, 2) + le(0, 4) + le(crc, 4) + le(data.size(), 4) +
          le(data.size(), 4) + le(name.size(), 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 4) + le(off, 4) +
          name;
  }
  const uint64_t cd_off = out.size();
  return out + cd + le(0x06054b50, 4) + le(0, 4) + le(members.size(), 2) + le(members.size(), 2) + le(cd.size(), 4) +
         le(cd_off, 4) + le(0, 2);
}

std::string i64s(std::vector<int64_t> v) {
  std::string s;
  for (int64_t x : v) s += le(uint64_t(x), 8);
  return s;
}

std::string utf32(const std::string& ascii) {
  std::string s;
  for (char c : ascii) s += le(uint8_t(c), 4);
  return s;
}

// One mask "model.layers.0.mlp.up_proj.weight" of shape [2, 6] (12 bits in 2 bytes).
std::vector<std::pair<std::string, std::string>> good_members() {
  return {{"w.npy", npy("|u1", "2,", std::string("\xB1\xC0", 2))},
          {"w.__shape__.npy", npy("<i8", "2,", i64s({2, 6}))},
          {"__meta__.npy", npy("<U14", "", utf32("{\"sparsity\":1}"))}};
}

TEST(MaskFile, BitsArePackedMostSignificantFirstAsNumpyDoes) {
  // np.packbits([1,0,1,1,0,0,0,1, 1,1,0]) == [0xB1, 0xC0]
  torch::Tensor k = torch::tensor({1, 0, 1, 1, 0, 0, 0, 1, 1, 1, 0}, torch::kBool);
  EXPECT_EQ(pack_bits(k), (std::vector<uint8_t>{0xB1, 0xC0}));
  torch::manual_seed(0);
  for (int64_t n : {1, 7, 8, 9, 1000, 4097, 300001}) {
    torch::Tensor keep = torch::rand({n}) < 0.4;
    std::vector<uint8_t> b = pack_bits(keep);
    ASSERT_EQ(int64_t(b.size()), (n + 7) / 8);
    EXPECT_TRUE(torch::equal(unpack_bits(b.data(), b.size(), {n}), keep)) << n;
  }
}

TEST(MaskFile, PrunedModelIsRebuiltBitForBitAndForeignWeightsAreRefused) {
  const std::string d = test::temp_dir("maskfile");
  PruneArgs p;
  p.model = "stories260k";
  p.method = "wanda";
  p.sparsity = 0.6;
  p.nsamples = 4;
  p.calib_seqlen = 64;
  p.given = {"nsamples", "calib_seqlen"};
  p.save_model = d + "/pruned";
  p.save_mask = d + "/pruned.mask.safetensors";
  run_prune(p);
  // 35 linears of 226560 weights: 28320 bytes of bits plus the header
  EXPECT_LT(fs::file_size(p.save_mask), 40000u);
  const MaskFile mf = read_mask_file(p.save_mask);
  EXPECT_EQ(mf.format, "leap");
  EXPECT_EQ(mf.entries.size(), 35u);
  EXPECT_EQ(mf.meta["method"], "wanda");

  ApplyMaskArgs a;
  a.model = "stories260k";
  a.mask = p.save_mask;
  a.save_model = d + "/applied";
  run_apply_mask(a);
  st::Reader x(p.save_model + "/model.safetensors"), y(a.save_model + "/model.safetensors");
  ASSERT_EQ(x.names(), y.names());
  for (const std::string& n : x.names()) {
    const auto &ix = x.info(n), &iy = y.info(n);
    ASSERT_EQ(ix.end - ix.begin, iy.end - iy.begin) << n;
    EXPECT_EQ(std::memcmp(x.data(n), y.data(n), ix.end - ix.begin), 0) << n << " differs from leap prune's";
  }

  // the same architecture with one weight changed: refused by sha256, nothing written
  const std::string other = d + "/other";
  fs::copy(resolve_model("stories260k").dir, other, fs::copy_options::recursive);
  {
    st::Reader r(other + "/model.safetensors");
    std::vector<std::pair<std::string, torch::Tensor>> ts;
    for (const std::string& n : r.names()) ts.push_back({n, read_tensor(r, n).clone()});
    for (auto& [n, t] : ts)
      if (n == "model.layers.3.mlp.up_proj.weight") t.view(-1)[7] += 1.0f;
    write_safetensors(other + "/model.safetensors.new", ts);
  }
  fs::rename(other + "/model.safetensors.new", other + "/model.safetensors");
  a.model = other;
  a.save_model = d + "/foreign";
  const std::string err = test::error_of([&] { run_apply_mask(a); });
  EXPECT_NE(err.find(p.save_mask + " was made for other weights: 1 of its 35"), std::string::npos) << err;
  EXPECT_NE(err.find("model.layers.3.mlp.up_proj.weight"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(a.save_model));

  // a method that updates the weights cannot be saved as a mask
  p.method = "sparsegpt";
  p.save_model = "";
  p.save_mask = d + "/sgpt.mask.safetensors";
  EXPECT_NE(test::error_of([&] { run_prune(p); }).find("--save_mask: --method sparsegpt updates the kept weights"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(p.save_mask));
}

TEST(MaskFile, MasksThatDoNotFitTheModelAreRefused) {
  const std::string d = test::temp_dir("maskfit");
  ApplyMaskArgs a;
  a.model = "stories260k";
  a.save_model = d + "/out";
  struct Fit {
    std::string key;
    std::vector<int64_t> shape;
    std::string expect;
  };
  for (const Fit& f : {Fit{"model.layers.9.self_attn.q_proj.weight", {64, 64}, "names no decoder linear of"},
                       Fit{"model.layers.0.self_attn.q_proj.weight", {64, 32}, "has shape [64, 32], but the weight"}}) {
    a.mask = d + "/m.safetensors";
    save_mask_file(a.mask, {{f.key, torch::ones(f.shape, torch::kBool), ""}}, {{"base_model", "somewhere"}});
    const std::string err = test::error_of([&] { run_apply_mask(a); });
    EXPECT_NE(err.find(a.mask + ": mask \"" + f.key + "\" "), std::string::npos) << err;
    EXPECT_NE(err.find(f.expect), std::string::npos) << err;
    EXPECT_NE(err.find("made for \"somewhere\""), std::string::npos) << err;
    EXPECT_FALSE(fs::exists(a.save_model));
  }
}

TEST(MaskFile, NpzArchivesAreReadAndBrokenOnesRefusedNamingTheMember) {
  const std::string d = test::temp_dir("npz");
  put(d + "/good.npz", zip(good_members()));
  MaskFile mf = read_mask_file(d + "/good.npz");
  ASSERT_EQ(mf.entries.size(), 1u);
  EXPECT_EQ(mf.format, "npz");
  EXPECT_EQ(mf.meta["sparsity"], 1);
  EXPECT_TRUE(torch::equal(mf.entries[0].keep.view(-1).narrow(0, 0, 11),
                           torch::tensor({1, 0, 1, 1, 0, 0, 0, 1, 1, 1, 0}, torch::kBool)));

  auto with = [&](size_t i, const std::string& bytes) {
    auto m = good_members();
    m[i].second = bytes;
    return zip(m);
  };
  const std::string good = zip(good_members());
  std::string bad_crc = good;
  bad_crc[40] ^= 0x01;  // inside the first member's .npy header
  struct Bad {
    std::string name, bytes, expect;
  };
  const std::vector<Bad> cases = {
      {"empty", "", ""},  // any error, naming the file
      {"truncated", good.substr(0, good.size() / 2), "no zip end-of-central-directory record"},
      {"crc", bad_crc, "CRC-32 mismatch"},
      {"pickle", with(0, npy("|O", "2,", std::string(16, '\0'))), "object arrays need pickle and are refused"},
      {"short_data", with(0, npy("|u1", "3,", "\x01\x02")), "holds 2 bytes, but shape and dtype '|u1' need 3"},
      {"huge_shape", with(0, npy("|u1", "1000000000000, 4", "\x01\x02")), "shape is larger than its data"},
      {"bad_magic", with(0, "NUMPY" + std::string(20, ' ')), "bad magic"},
      // a version-3 header cut inside its 4-byte length (found by fuzz_npz)
      {"short_v3", with(0, std::string("\x93NUMPY\x03\x04?\x00\x00", 11)), "truncated .npy header (11 bytes)"},
      {"wrong_bytes", with(0, npy("|u1", "1,", "\x01")), "holds 1 bytes, but shape [2, 6] needs 2"},
      {"shape_dtype", with(1, npy("<i4", "2,", i64s({2, 6}).substr(0, 8))), "its shape must be a 1-D int64 array"},
      {"meta_not_json", with(2, npy("<U3", "", utf32("{x:"))), "__meta__ is not JSON"},
      {"not_npy", zip({{"w.txt", "hello"}}), "not an .npy file"},
      {"no_shape", zip({good_members()[0]}), "no \"w.__shape__\" array gives its shape"},
  };
  for (const Bad& c : cases) {
    const std::string path = d + "/" + c.name + ".npz";
    put(path, c.bytes);
    const std::string err = test::error_of([&] { read_mask_file(path); });
    EXPECT_NE(err.find(c.expect), std::string::npos) << c.name << ": " << err;
    EXPECT_NE(err.find(path), std::string::npos) << c.name << ": the message does not name the file: " << err;
  }
}

}  // namespace
}  // namespace leap
