// safetensors.cpp — see safetensors.h.
#include "io/safetensors.h"

#include <algorithm>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/json_input.h"

namespace leap::st {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {
struct DTypeRow {
  DType d;
  const char* name;
  size_t size;
};
constexpr DTypeRow kDTypes[] = {{DType::F64, "F64", 8},   {DType::F32, "F32", 4}, {DType::F16, "F16", 2},
                                {DType::BF16, "BF16", 2}, {DType::I64, "I64", 8}, {DType::I32, "I32", 4},
                                {DType::I16, "I16", 2},   {DType::I8, "I8", 1},   {DType::U8, "U8", 1},
                                {DType::BOOL, "BOOL", 1}};
}  // namespace

DType dtype_from_string(const std::string& s, const std::string& context) {
  for (const auto& r : kDTypes)
    if (s == r.name) return r.d;
  fail("%s: unsupported dtype \"%s\"", context.c_str(), s.c_str());
}
const char* dtype_name(DType d) {
  for (const auto& r : kDTypes)
    if (r.d == d) return r.name;
  return "?";
}
size_t dtype_size(DType d) {
  for (const auto& r : kDTypes)
    if (r.d == d) return r.size;
  return 0;
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

Header parse_header(const uint8_t* data, uint64_t size, const std::string& file) {
  const char* f = file.c_str();
  if (size < 8)
    fail("%s: truncated safetensors file (%llu bytes, need at least 8 for the header length)", f,
         (unsigned long long)size);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | data[i];
  if (n > kMaxHeaderBytes)
    fail("%s: safetensors header length %llu exceeds the %llu-byte limit", f, (unsigned long long)n,
         (unsigned long long)kMaxHeaderBytes);
  if (n > size - 8)
    fail("%s: safetensors header length %llu runs past the end of the file (%llu bytes)", f, (unsigned long long)n,
         (unsigned long long)size);
  Header h;
  h.data_offset = 8 + n;
  const uint64_t data_size = size - h.data_offset;
  json j;
  try {
    j = parse_json_checked(std::string_view(reinterpret_cast<const char*>(data) + 8, size_t(n)), f);
  } catch (const json::exception& e) {
    fail("%s: safetensors header is not valid JSON: %s", f, e.what());
  }
  if (!j.is_object()) fail("%s: safetensors header is not a JSON object", f);
  std::vector<const TensorInfo*> order;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& name = it.key();
    const json& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) fail("%s: __metadata__ is not an object", f);
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) fail("%s: __metadata__[\"%s\"] is not a string", f, m.key().c_str());
        h.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    std::string ctx = file + ": tensor \"" + name + "\"";
    if (!v.is_object()) fail("%s: entry is not an object", ctx.c_str());
    if (!v.contains("dtype") || !v["dtype"].is_string()) fail("%s: missing or non-string \"dtype\"", ctx.c_str());
    if (!v.contains("shape") || !v["shape"].is_array()) fail("%s: missing or non-array \"shape\"", ctx.c_str());
    if (!v.contains("data_offsets") || !v["data_offsets"].is_array() || v["data_offsets"].size() != 2)
      fail("%s: \"data_offsets\" must be an array of two integers", ctx.c_str());
    TensorInfo t;
    t.name = name;
    t.dtype = dtype_from_string(v["dtype"].get<std::string>(), ctx);
    uint64_t numel = 1;
    bool overflow = false;
    for (const json& d : v["shape"]) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0)
        fail("%s: shape entries must be non-negative integers", ctx.c_str());
      uint64_t dim = d.get<uint64_t>();
      if (dim != 0 && numel > std::numeric_limits<uint64_t>::max() / dim) overflow = true;
      numel *= dim;
      t.shape.push_back(static_cast<int64_t>(dim));
    }
    const uint64_t es = dtype_size(t.dtype);
    if (overflow || numel > std::numeric_limits<uint64_t>::max() / es ||
        numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      fail("%s: shape is too large (element count overflows)", ctx.c_str());
    for (const json& o : v["data_offsets"])
      if (!o.is_number_integer() || o.get<int64_t>() < 0)
        fail("%s: data_offsets must be non-negative integers", ctx.c_str());
    t.begin = v["data_offsets"][0].get<uint64_t>();
    t.end = v["data_offsets"][1].get<uint64_t>();
    if (t.end < t.begin)
      fail("%s: data_offsets end %llu is before begin %llu", ctx.c_str(), (unsigned long long)t.end,
           (unsigned long long)t.begin);
    if (t.end > data_size)
      fail("%s: data_offsets [%llu, %llu) run past the end of the data section (%llu bytes)", ctx.c_str(),
           (unsigned long long)t.begin, (unsigned long long)t.end, (unsigned long long)data_size);
    if (t.end - t.begin != numel * es)
      fail("%s: byte length %llu does not match shape x dtype size (%llu elements x %llu bytes = %llu)", ctx.c_str(),
           (unsigned long long)(t.end - t.begin), (unsigned long long)numel, (unsigned long long)es,
           (unsigned long long)(numel * es));
    h.tensors.emplace(name, std::move(t));
  }
  for (const auto& kv : h.tensors) order.push_back(&kv.second);
  std::sort(order.begin(), order.end(), [](const TensorInfo* a, const TensorInfo* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t expect = 0;
  for (const TensorInfo* t : order) {
    if (t->begin < expect)
      fail("%s: tensor \"%s\" at bytes [%llu, %llu) overlaps the previous tensor (which ends at %llu)", f,
           t->name.c_str(), (unsigned long long)t->begin, (unsigned long long)t->end, (unsigned long long)expect);
    if (t->begin > expect)
      fail("%s: gap in the data section before tensor \"%s\" (bytes [%llu, %llu) are not covered)", f, t->name.c_str(),
           (unsigned long long)expect, (unsigned long long)t->begin);
    expect = t->end;
  }
  if (expect != data_size)
    fail("%s: data section is %llu bytes but the tensors cover %llu (truncated or trailing bytes)", f,
         (unsigned long long)data_size, (unsigned long long)expect);
  return h;
}

File::File(const std::string& path) : map_(std::make_shared<MappedFile>(path)) {
  header_ = parse_header(map_->data(), map_->size(), path);
}

const TensorInfo& File::info(const std::string& name) const {
  auto it = header_.tensors.find(name);
  if (it == header_.tensors.end()) fail("%s: no tensor named \"%s\"", path().c_str(), name.c_str());
  return it->second;
}

const uint8_t* File::data(const std::string& name) const {
  return map_->data() + header_.data_offset + info(name).begin;
}

std::map<std::string, std::string> parse_index(const std::string& index_path) {
  json j = read_json_file(index_path);
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
    fail("%s: missing \"weight_map\" object", index_path.c_str());
  std::map<std::string, std::string> out;
  for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
    if (!it.value().is_string()) fail("%s: weight_map[\"%s\"] is not a string", index_path.c_str(), it.key().c_str());
    std::string shard = it.value().get<std::string>();
    fs::path p(shard);
    bool bad = shard.empty() || p.is_absolute() || shard.find('\\') != std::string::npos ||
               shard.find('\0') != std::string::npos;
    for (const auto& part : p)
      if (part == ".." || part == ".") bad = true;
    if (p.has_parent_path()) bad = true;
    if (bad)
      fail("%s: shard file name \"%s\" (for tensor \"%s\") must be a plain file name inside the model folder",
           index_path.c_str(), shard.c_str(), it.key().c_str());
    out[it.key()] = shard;
  }
  return out;
}

Reader::Reader(const std::string& path) : source_(path) {
  std::vector<std::string> paths;
  std::map<std::string, std::string> index;
  fs::path p(path);
  if (is_directory(path)) {
    fs::path single = p / "model.safetensors";
    fs::path idx = p / "model.safetensors.index.json";
    if (file_exists(idx.string())) {
      index = parse_index(idx.string());
      std::vector<std::string> shards;
      for (const auto& kv : index) shards.push_back(kv.second);
      std::sort(shards.begin(), shards.end());
      shards.erase(std::unique(shards.begin(), shards.end()), shards.end());
      for (const auto& s : shards) {
        fs::path sp = p / s;
        if (!file_exists(sp.string()))
          fail("%s: shard \"%s\" listed in %s is missing", sp.string().c_str(), s.c_str(), idx.string().c_str());
        paths.push_back(sp.string());
      }
    } else if (file_exists(single.string())) {
      paths.push_back(single.string());
    } else {
      fail("%s: no model.safetensors or model.safetensors.index.json in this folder", path.c_str());
    }
  } else if (file_exists(path)) {
    paths.push_back(path);
  } else {
    fail("%s: no such file or folder", path.c_str());
  }
  for (const auto& fp : paths) {
    files_.push_back(std::make_unique<File>(fp));
    size_t fi = files_.size() - 1;
    for (const auto& kv : files_.back()->header().tensors) {
      auto [it, inserted] = where_.emplace(kv.first, fi);
      if (!inserted)
        fail("%s: tensor \"%s\" also appears in %s", fp.c_str(), kv.first.c_str(), files_[it->second]->path().c_str());
    }
  }
  for (const auto& kv : index) {
    auto it = where_.find(kv.first);
    if (it == where_.end())
      fail("%s: tensor \"%s\" listed in the index is not in the shard", (p / kv.second).string().c_str(),
           kv.first.c_str());
    if (fs::path(files_[it->second]->path()).filename() != kv.second)
      fail("%s: tensor \"%s\" is in %s, not in %s as the index says", path.c_str(), kv.first.c_str(),
           files_[it->second]->path().c_str(), kv.second.c_str());
  }
}

std::vector<std::string> Reader::names() const {
  std::vector<std::string> out;
  for (const auto& kv : where_) out.push_back(kv.first);
  return out;
}
const File& Reader::file_of(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) fail("%s: no tensor named \"%s\"", source_.c_str(), name.c_str());
  return *files_[it->second];
}
const TensorInfo& Reader::info(const std::string& name) const {
  return file_of(name).info(name);
}
const uint8_t* Reader::data(const std::string& name) const {
  return file_of(name).data(name);
}

std::string make_header(const std::vector<OutTensor>& tensors, const std::map<std::string, std::string>& metadata) {
  // nlohmann's ordered_json keeps insertion order, so the header lists tensors in file order.
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json m = nlohmann::ordered_json::object();
    for (const auto& kv : metadata) m[kv.first] = kv.second;
    j["__metadata__"] = m;
  }
  uint64_t off = 0;
  for (const auto& t : tensors) {
    uint64_t numel = 1;
    for (int64_t s : t.shape) numel *= static_cast<uint64_t>(s);
    LEAP_CHECK(numel * dtype_size(t.dtype) == t.nbytes,
               "safetensors writer: tensor \"%s\" has %llu bytes, expected %llu", t.name.c_str(),
               (unsigned long long)t.nbytes, (unsigned long long)(numel * dtype_size(t.dtype)));
    LEAP_CHECK(!j.contains(t.name), "safetensors writer: duplicate tensor name \"%s\"", t.name.c_str());
    j[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {off, off + t.nbytes}}};
    off += t.nbytes;
  }
  std::string s = j.dump();
  while (s.size() % 8 != 0) s.push_back(' ');
  return s;
}

void write_file(const std::string& path, const std::vector<OutTensor>& tensors,
                const std::map<std::string, std::string>& metadata) {
  std::string header = make_header(tensors, metadata);
  write_file_atomic(path, [&](FileWriter& w) {
    uint8_t len[8];
    uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) len[i] = uint8_t(n >> (8 * i));
    w.write(len, 8);
    w.write(header);
    for (const auto& t : tensors) w.write(t.data, t.nbytes);
  });
}

}  // namespace leap::st
