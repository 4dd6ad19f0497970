// mask_file.cpp — see mask_file.h.
#include "io/mask_file.h"

#include <cstring>

#include "base/error.h"
#include "base/fs_util.h"
#include "base/sha256.h"
#include "io/npz.h"
#include "io/tensor_io.h"

namespace leap {
using json = nlohmann::json;

namespace {
constexpr int kFormatVersion = 1;

std::vector<int64_t> checked_shape(const json& j, const std::string& where) {
  if (!j.is_array() || j.empty() || j.size() > 8) fail("%s: shape must be a list of 1 to 8 sizes", where.c_str());
  std::vector<int64_t> s;
  int64_t n = 1;
  for (const auto& d : j) {
    if (!d.is_number_integer() || d.get<int64_t>() < 0 || d.get<int64_t>() > (int64_t(1) << 40))
      fail("%s: shape %s has a bad size", where.c_str(), j.dump().c_str());
    s.push_back(d.get<int64_t>());
    if (s.back() && n > (int64_t(1) << 40) / s.back())
      fail("%s: shape %s is too large", where.c_str(), j.dump().c_str());
    n *= s.back();
  }
  return s;
}

int64_t numel_of(const std::vector<int64_t>& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

MaskFile read_leap(const std::string& path) {
  st::Reader r(path);
  const st::File& f = *r.files().front();
  auto it = f.header().metadata.find("leap_mask");
  if (it == f.header().metadata.end())
    fail(
        "%s: a safetensors file without \"leap_mask\" metadata is not a leap mask file (leap prune --save_mask "
        "writes one)",
        path.c_str());
  json meta = json::parse(it->second, nullptr, false);
  if (!meta.is_object() || !meta.contains("tensors") || !meta["tensors"].is_object())
    fail("%s: \"leap_mask\" metadata is not a JSON object with \"tensors\"", path.c_str());
  if (meta.value("version", 0) != kFormatVersion)
    fail("%s: mask file format version %s is not supported (this leap reads version %d)", path.c_str(),
         meta.contains("version") ? meta["version"].dump().c_str() : "(none)", kFormatVersion);
  MaskFile mf;
  mf.path = path;
  mf.format = "leap";
  for (const std::string& key : r.names()) {
    const std::string where = path + ": tensor \"" + key + "\"";
    const st::TensorInfo& ti = r.info(key);
    if (!meta["tensors"].contains(key)) fail("%s: not described in the \"leap_mask\" metadata", where.c_str());
    const json& d = meta["tensors"][key];
    if (ti.dtype != st::DType::U8 || ti.shape.size() != 1)
      fail("%s: must be a 1-D U8 tensor of packed bits", where.c_str());
    const std::vector<int64_t> shape = checked_shape(d.value("shape", json()), where);
    if (ti.shape[0] != (numel_of(shape) + 7) / 8)
      fail("%s: holds %lld bytes, but shape %s needs %lld", where.c_str(), (long long)ti.shape[0],
           shape_str(shape).c_str(), (long long)((numel_of(shape) + 7) / 8));
    mf.entries.push_back({key, unpack_bits(r.data(key), size_t(ti.shape[0]), shape), d.value("weights_sha256", "")});
  }
  for (const auto& [key, d] : meta["tensors"].items())
    if (!r.contains(key)) fail("%s: metadata describes tensor \"%s\", which the file lacks", path.c_str(), key.c_str());
  meta.erase("tensors");
  mf.meta = meta;
  return mf;
}

// The reference's mask.npz: "<key>" packed bits, "<key>.__shape__" int64 sizes, "__meta__" JSON.
MaskFile read_reference_npz(const std::string& path) {
  std::map<std::string, NpyArray> arrays = read_npz(path);
  MaskFile mf;
  mf.path = path;
  mf.format = "npz";
  if (arrays.count("__meta__")) {
    const std::string s = npy_string(arrays["__meta__"], path + ": __meta__");
    mf.meta = json::parse(s, nullptr, false);
    if (mf.meta.is_discarded()) fail("%s: __meta__ is not JSON", path.c_str());
  }
  const std::string kShape = ".__shape__";
  for (const auto& [key, a] : arrays) {
    if (key == "__meta__" ||
        (key.size() > kShape.size() && key.compare(key.size() - kShape.size(), kShape.size(), kShape) == 0))
      continue;
    const std::string where = path + ": \"" + key + "\"";
    auto s = arrays.find(key + kShape);
    if (s == arrays.end()) fail("%s: no \"%s%s\" array gives its shape", where.c_str(), key.c_str(), kShape.c_str());
    const NpyArray& sa = s->second;
    if (sa.descr != "<i8" || sa.shape.size() != 1) fail("%s: its shape must be a 1-D int64 array", where.c_str());
    json dims = json::array();
    for (int64_t i = 0; i < sa.numel(); ++i) {
      int64_t v;
      std::memcpy(&v, sa.data.data() + 8 * i, 8);
      dims.push_back(v);
    }
    const std::vector<int64_t> shape = checked_shape(dims, where);
    if (a.descr != "|u1" || a.shape.size() != 1)
      fail("%s: must be a 1-D uint8 array of packed bits (np.packbits)", where.c_str());
    if (a.numel() != (numel_of(shape) + 7) / 8)
      fail("%s: holds %lld bytes, but shape %s needs %lld", where.c_str(), (long long)a.numel(),
           shape_str(shape).c_str(), (long long)((numel_of(shape) + 7) / 8));
    mf.entries.push_back({key, unpack_bits(a.data.data(), a.data.size(), shape), ""});
  }
  for (const auto& [key, a] : arrays)
    if (key.size() > kShape.size() && key.compare(key.size() - kShape.size(), kShape.size(), kShape) == 0 &&
        !arrays.count(key.substr(0, key.size() - kShape.size())))
      fail("%s: \"%s\" gives the shape of a mask the archive lacks", path.c_str(), key.c_str());
  return mf;
}
}  // namespace

std::vector<uint8_t> pack_bits(const torch::Tensor& keep) {
  torch::Tensor k = keep.to(torch::kCPU, torch::kBool).contiguous();
  const int64_t n = k.numel();
  const bool* b = k.data_ptr<bool>();
  std::vector<uint8_t> out(size_t((n + 7) / 8), 0);
  at::parallel_for(0, int64_t(out.size()), 1 << 16, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      uint8_t v = 0;
      for (int64_t j = 0; j < 8; ++j) v |= uint8_t((8 * i + j < n && b[8 * i + j]) ? 0x80 >> j : 0);
      out[size_t(i)] = v;
    }
  });
  return out;
}

torch::Tensor unpack_bits(const uint8_t* bits, size_t nbytes, const std::vector<int64_t>& shape) {
  const int64_t n = numel_of(shape);
  LEAP_CHECK(int64_t(nbytes) >= (n + 7) / 8, "unpack_bits: %zu bytes hold fewer than %lld bits", nbytes, (long long)n);
  torch::Tensor out = torch::empty(shape, torch::kBool);
  bool* o = out.data_ptr<bool>();
  at::parallel_for(0, n, 1 << 19, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) o[i] = (bits[i >> 3] >> (7 - (i & 7))) & 1;
  });
  return out;
}

std::string weights_sha256(const st::Reader& ckpt, const std::string& key) {
  const st::TensorInfo& ti = ckpt.info(key);
  Sha256 h;
  const std::string head = std::string(st::dtype_name(ti.dtype)) + shape_str(ti.shape);
  h.update(head.data(), head.size());
  h.update(ckpt.data(key), size_t(ti.end - ti.begin));
  return h.hex_digest();
}

void save_mask_file(const std::string& path, const std::vector<MaskEntry>& entries, const json& meta) {
  json m = meta;
  m["format"] = "leap-mask";
  m["version"] = kFormatVersion;
  m["bit_order"] = "big (np.packbits default; np.unpackbits(x, count=prod(shape)) reads it)";
  m["tensors"] = json::object();
  std::vector<std::vector<uint8_t>> packed;
  packed.reserve(entries.size());
  std::vector<st::OutTensor> out;
  int64_t total = 0, kept = 0;
  for (const MaskEntry& e : entries) {
    packed.push_back(pack_bits(e.keep));
    out.push_back({e.key, st::DType::U8, {int64_t(packed.back().size())}, packed.back().data(), packed.back().size()});
    m["tensors"][e.key] = {{"shape", e.keep.sizes().vec()}, {"weights_sha256", e.weights_sha256}};
    total += e.keep.numel();
    kept += e.keep.sum().item<int64_t>();
  }
  m["masked_weights"] = total;
  m["kept_weights"] = kept;
  st::write_file(path, out, {{"leap_mask", m.dump()}});
}

MaskFile read_mask_file(const std::string& path) {
  char magic[4] = {0, 0, 0, 0};
  {
    MappedFile f(path);
    if (f.size() >= 4) std::memcpy(magic, f.data(), 4);
  }
  if (std::memcmp(magic, "PK\x03\x04", 4) == 0 || std::memcmp(magic, "PK\x05\x06", 4) == 0)
    return read_reference_npz(path);
  return read_leap(path);
}

}  // namespace leap
