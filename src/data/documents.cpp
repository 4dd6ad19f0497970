// documents.cpp — see documents.h.
#include "data/documents.h"

#include <algorithm>
#include <arrow/api.h>
#include <arrow/io/compressed.h>
#include <arrow/io/file.h>
#include <arrow/util/compression.h>
#include <filesystem>
#include <fnmatch.h>
#include <glob.h>
#include <map>
#include <parquet/arrow/reader.h>
#include <parquet/exception.h>
#include <sys/stat.h>

#include "base/error.h"
#include "base/fs_util.h"
#include "base/json_input.h"
#include "io/hf_hub.h"

namespace leap {
namespace fs = std::filesystem;

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The format of a data file by its name; "" for a file that is not one.
std::string format_of(const std::string& path) {
  for (const char* f : {"jsonl.gz", "jsonl.zst", "json.gz", "json.zst"})
    if (ends_with(path, std::string(".") + f)) return std::string("jsonl") + (ends_with(path, ".gz") ? ".gz" : ".zst");
  if (ends_with(path, ".jsonl") || ends_with(path, ".json")) return "jsonl";
  if (ends_with(path, ".parquet")) return "parquet";
  if (ends_with(path, ".txt")) return "text";
  return "";
}

Shard make_shard(const std::string& path, const std::string& flag) {
  Shard s;
  s.path = path;
  s.format = format_of(path);
  if (s.format.empty())
    fail("%s %s: not a data file leap reads (.txt, .jsonl, .json, .jsonl.gz, .jsonl.zst, .parquet)", flag.c_str(),
         path.c_str());
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) fail("%s %s: cannot stat the file", flag.c_str(), path.c_str());
  s.bytes = uint64_t(st.st_size);
  s.mtime_ns = int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  std::error_code ec;
  if (fs::is_symlink(path, ec)) {
    fs::path target = fs::read_symlink(path, ec);
    if (!ec && target.parent_path().filename() == "blobs") s.blob = target.filename().string();
  }
  return s;
}

// Data files below `dir` (hidden entries skipped), in path order.
std::vector<std::string> data_files_below(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::follow_directory_symlink, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    const fs::path& p = it->path();
    std::string name = p.filename().string();
    if (!name.empty() && name[0] == '.') {
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file(ec) && !format_of(p.string()).empty()) out.push_back(p.string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// ---- HF datasets: which files make a split -----------------------------------------------------

// The dataset card's `configs:` data_files patterns for `split` (the "default" config, else the
// first): {} when the card names none.
std::vector<std::string> card_patterns(const fs::path& snapshot, const std::string& split) {
  fs::path card = snapshot / "README.md";
  if (!file_exists(card.string())) return {};
  std::string text = read_file(card.string());
  if (text.rfind("---", 0) != 0) return {};
  size_t end = text.find("\n---", 3);
  std::string yaml = text.substr(0, end == std::string::npos ? text.size() : end);
  auto trim = [](std::string s) {
    s.erase(0, s.find_first_not_of(" \t-"));
    s.erase(s.find_last_not_of(" \t\r\"'") + 1);
    if (!s.empty() && (s[0] == '"' || s[0] == '\'')) s.erase(0, 1);
    return s;
  };
  std::vector<std::string> patterns;
  bool in_configs = false, wanted_config = false, seen_config = false, in_split = false, in_path_list = false;
  size_t pos = 0;
  while (pos < yaml.size()) {
    size_t nl = yaml.find('\n', pos);
    std::string line = yaml.substr(pos, (nl == std::string::npos ? yaml.size() : nl) - pos);
    pos = nl == std::string::npos ? yaml.size() : nl + 1;
    if (line.empty() || line[0] == '#') continue;
    if (line[0] != ' ' && line[0] != '-') {  // a top-level key
      in_configs = line.rfind("configs:", 0) == 0;
      continue;
    }
    if (!in_configs) continue;
    std::string t = trim(line);
    if (t.rfind("config_name:", 0) == 0) {
      std::string name = trim(t.substr(12));
      wanted_config = !seen_config || name == "default";
      if (name == "default" && seen_config) patterns.clear();
      seen_config = true;
      in_split = in_path_list = false;
    } else if (t.rfind("split:", 0) == 0) {
      in_split = wanted_config && trim(t.substr(6)) == split;
      in_path_list = false;
    } else if (t.rfind("path:", 0) == 0) {
      std::string v = trim(t.substr(5));
      in_path_list = in_split && v.empty();
      if (in_split && !v.empty()) patterns.push_back(v);
    } else if (in_path_list && line.find("- ") != std::string::npos) {
      patterns.push_back(t);
    }
  }
  return patterns;
}

// HF datasets' split names in file and folder names (data_files.py): the split's keywords,
// followed by a separator ([-._ 0-9/]) and standing at the start of a path component or after one.
bool names_split(const std::string& rel, const std::vector<std::string>& keywords) {
  auto sep = [](char c) { return c == '-' || c == '.' || c == '_' || c == ' ' || c == '/' || (c >= '0' && c <= '9'); };
  for (const std::string& k : keywords)
    for (size_t p = rel.find(k); p != std::string::npos; p = rel.find(k, p + 1)) {
      bool before = p == 0 || sep(rel[p - 1]);
      bool after = p + k.size() < rel.size() && sep(rel[p + k.size()]);
      if (before && after) return true;
    }
  return false;
}

std::vector<std::string> split_keywords(const std::string& split) {
  if (split == "train") return {"train", "training"};
  if (split == "validation") return {"validation", "valid", "dev", "val"};
  if (split == "test") return {"test", "testing", "eval", "evaluation"};
  return {split};
}

std::vector<std::string> split_files(const fs::path& snapshot, const std::string& split) {
  std::vector<std::string> all = data_files_below(snapshot), out;
  auto rel = [&](const std::string& p) { return fs::path(p).lexically_relative(snapshot).string(); };
  std::vector<std::string> patterns = card_patterns(snapshot, split);
  if (!patterns.empty()) {
    for (const std::string& p : all)
      for (const std::string& pat : patterns)
        if (fnmatch(pat.c_str(), rel(p).c_str(), 0) == 0) {
          out.push_back(p);
          break;
        }
    return out;
  }
  bool any_split = false;
  for (const std::string& p : all) {
    for (const char* s : {"train", "validation", "test"})
      any_split = any_split || names_split(rel(p), split_keywords(s));
    if (names_split(rel(p), split_keywords(split))) out.push_back(p);
  }
  if (!any_split && split == "train") return all;  // no split names at all: everything is "train"
  return out;
}

bool has_glob_chars(const std::string& s) {
  return s.find_first_of("*?[") != std::string::npos;
}

}  // namespace

// ---- sources ---------------------------------------------------------------------------------------

uint64_t TextSource::bytes() const {
  uint64_t n = 0;
  for (const Shard& s : shards) n += s.bytes;
  return n;
}

nlohmann::json TextSource::identity() const {
  nlohmann::json j = {{"kind", kind}, {"location", location}, {"split", split}, {"text_field", text_field}};
  nlohmann::json sh = nlohmann::json::array();
  for (const Shard& s : shards)
    sh.push_back({{"path", s.path}, {"bytes", s.bytes}, {"mtime_ns", s.mtime_ns}, {"blob", s.blob}});
  j["shards"] = sh;
  return j;
}

std::string TextSource::summary() const {
  std::vector<std::string> formats;
  for (const Shard& s : shards)
    if (std::find(formats.begin(), formats.end(), s.format) == formats.end()) formats.push_back(s.format);
  std::string f;
  for (const auto& x : formats) f += (f.empty() ? "" : "/") + x;
  std::string out = spec + " (" + kind;
  if (kind == "hf_dataset") out += ", split " + split;
  out += strformat(", %zu %s shard%s, %.1f MB)", shards.size(), f.c_str(), shards.size() == 1 ? "" : "s",
                   double(bytes()) / 1e6);
  return out;
}

std::string TextSource::describe() const {
  return kind == "hf_dataset" ? summary() + " in " + location : summary();
}

TextSource resolve_text_source(const std::string& spec, const std::string& split, const std::string& text_field,
                               const std::string& flag) {
  LEAP_CHECK(!spec.empty(), "%s is empty", flag.c_str());
  LEAP_CHECK(!text_field.empty(), "--text_field is empty");
  TextSource src;
  src.spec = spec;
  src.text_field = text_field;
  std::vector<std::string> files;
  std::vector<std::string> looked;
  std::error_code ec;
  if (fs::is_regular_file(spec, ec)) {
    src.kind = "file";
    files.push_back(spec);
  } else if (fs::is_directory(spec, ec)) {
    src.kind = "folder";
    files = data_files_below(spec);
    if (files.empty())
      fail("%s %s: the folder holds no data files (.txt, .jsonl, .json, .jsonl.gz, .jsonl.zst, .parquet)", flag.c_str(),
           spec.c_str());
  } else if (has_glob_chars(spec)) {
    src.kind = "glob";
    glob_t g{};
    int rc = ::glob(spec.c_str(), 0, nullptr, &g);
    for (size_t i = 0; rc == 0 && i < g.gl_pathc; ++i) files.emplace_back(g.gl_pathv[i]);
    globfree(&g);
    if (files.empty()) fail("%s %s: the pattern matches no file", flag.c_str(), spec.c_str());
    std::sort(files.begin(), files.end());
  } else {
    looked.push_back(spec + " (as a file or folder)");
    bool repo_id = spec.find('/') != std::string::npos && spec.find('/') == spec.rfind('/') && spec[0] != '/' &&
                   spec[0] != '.' && format_of(spec).empty();
    if (repo_id) {
      std::map<std::string, std::vector<std::string>> split_of;  // snapshot → its split's files
      std::string snap = find_hub_snapshot(
          "dataset", spec, [&](const std::string& s) { return !(split_of[s] = split_files(s, split)).empty(); },
          looked);
      if (!snap.empty()) {
        src.kind = "hf_dataset";
        src.split = split;
        src.location = snap;
        files = split_of[snap];
      }
    }
    if (files.empty()) {
      std::string msg = strformat("%s %s: not found (leap never downloads). Looked in:", flag.c_str(), spec.c_str());
      for (const auto& l : looked) msg += "\n  - " + l;
      if (repo_id)
        msg += "\n(a dataset snapshot counts when it has data files for split \"" + split +
               "\")\nTo fetch it into the HF cache: huggingface-cli download --repo-type dataset " + spec;
      throw Error(msg);
    }
  }
  if (src.location.empty()) src.location = spec;
  for (const std::string& f : files) src.shards.push_back(make_shard(f, flag));
  return src;
}

// ---- reading -------------------------------------------------------------------------------------

namespace {

template <class T>
T arrow_value(arrow::Result<T> r, const std::string& path, const char* what) {
  if (!r.ok()) fail("%s: %s: %s", path.c_str(), what, r.status().ToString().c_str());
  return std::move(r).ValueUnsafe();
}

// A file's bytes, decompressed when its name says so (the codec lives as long as the stream).
struct Stream {
  std::unique_ptr<arrow::util::Codec> codec;
  std::shared_ptr<arrow::io::InputStream> in;
};

Stream open_stream(const Shard& s) {
  Stream st;
  std::shared_ptr<arrow::io::InputStream> raw = arrow_value(
      arrow::io::ReadableFile::Open(s.path), s.path, "cannot open the file (it was listed but can no longer be read)");
  if (s.format == "jsonl" || s.format == "text") {
    st.in = raw;
    return st;
  }
  auto type = s.format == "jsonl.gz" ? arrow::Compression::GZIP : arrow::Compression::ZSTD;
  st.codec = arrow_value(arrow::util::Codec::Create(type), s.path, "no decompressor");
  st.in = arrow_value(arrow::io::CompressedInputStream::Make(st.codec.get(), raw), s.path, "cannot decompress");
  return st;
}

// Lines of a (decompressed) jsonl stream; the document is the string field `field` of each object.
bool read_jsonl(const Shard& s, const std::string& field, const std::function<bool(std::string_view)>& on_doc,
                const std::function<void(uint64_t)>& on_bytes) {
  Stream in = open_stream(s);
  std::string carry;
  size_t line_no = 0;
  bool eof = false;
  auto handle_line = [&](std::string_view line) -> bool {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) return true;
    nlohmann::json j;
    try {
      j = parse_json_checked(std::string(line), s.path + ":" + std::to_string(line_no));
    } catch (const nlohmann::json::exception& e) {
      fail("%s:%zu: not valid JSON: %s", s.path.c_str(), line_no, e.what());
    }
    if (!j.is_object() || !j.contains(field) || !j[field].is_string())
      fail("%s:%zu: expected an object with a string field \"%s\" (--text_field)", s.path.c_str(), line_no,
           field.c_str());
    return on_doc(j[field].get_ref<const std::string&>());
  };
  while (!eof) {
    auto buf = arrow_value(in.in->Read(int64_t(4) << 20), s.path, "read failed (truncated or corrupt?)");
    eof = buf->size() == 0;
    if (on_bytes && s.format == "jsonl") on_bytes(uint64_t(buf->size()));
    carry.append(reinterpret_cast<const char*>(buf->data()), size_t(buf->size()));
    size_t start = 0;
    for (size_t nl; (nl = carry.find('\n', start)) != std::string::npos; start = nl + 1)
      if (!handle_line(std::string_view(carry).substr(start, nl - start))) return false;
    carry.erase(0, start);
  }
  if (!carry.empty() && !handle_line(carry)) return false;
  if (on_bytes && s.format != "jsonl") on_bytes(s.bytes);
  return true;
}

// The string column `field` of a Parquet file, row group by row group.
bool read_parquet(const Shard& s, const std::string& field, const std::function<bool(std::string_view)>& on_doc,
                  const std::function<void(uint64_t)>& on_bytes) {
  auto file = arrow_value(arrow::io::ReadableFile::Open(s.path), s.path,
                          "cannot open the file (it was listed but can no longer be read)");
  std::unique_ptr<parquet::arrow::FileReader> reader;
  try {
    reader = arrow_value(parquet::arrow::OpenFile(file, arrow::default_memory_pool()), s.path, "not a Parquet file");
  } catch (const parquet::ParquetException& e) {
    fail("%s: not a Parquet file: %s", s.path.c_str(), e.what());
  }
  std::shared_ptr<arrow::Schema> schema;
  arrow::Status st = reader->GetSchema(&schema);
  if (!st.ok()) fail("%s: unreadable Parquet schema: %s", s.path.c_str(), st.ToString().c_str());
  int col = schema->GetFieldIndex(field);
  if (col < 0) {
    std::string names;
    for (const auto& f : schema->fields()) names += (names.empty() ? "" : ", ") + f->name();
    fail("%s: no column \"%s\" (--text_field); the file has: %s", s.path.c_str(), field.c_str(), names.c_str());
  }
  auto type = schema->field(col)->type()->id();
  if (type != arrow::Type::STRING && type != arrow::Type::LARGE_STRING && type != arrow::Type::STRING_VIEW)
    fail("%s: column \"%s\" holds %s, not strings", s.path.c_str(), field.c_str(),
         schema->field(col)->type()->ToString().c_str());
  int64_t row = 0;
  const int groups = reader->num_row_groups();
  for (int g = 0; g < groups; ++g) {
    std::shared_ptr<arrow::Table> table;
    try {
      table = arrow_value(reader->ReadRowGroup(g, {col}), s.path, "cannot read a row group (corrupt file?)");
    } catch (const parquet::ParquetException& e) {
      fail("%s: row group %d: %s", s.path.c_str(), g, e.what());
    }
    for (const auto& chunk : table->column(0)->chunks()) {
      auto emit = [&](const auto& arr) -> bool {
        for (int64_t i = 0; i < arr.length(); ++i, ++row) {
          if (arr.IsNull(i)) fail("%s: row %lld: \"%s\" is null", s.path.c_str(), (long long)row, field.c_str());
          if (!on_doc(arr.GetView(i))) return false;
        }
        return true;
      };
      bool go = type == arrow::Type::STRING         ? emit(static_cast<const arrow::StringArray&>(*chunk))
                : type == arrow::Type::LARGE_STRING ? emit(static_cast<const arrow::LargeStringArray&>(*chunk))
                                                    : emit(static_cast<const arrow::StringViewArray&>(*chunk));
      if (!go) return false;
    }
    if (on_bytes) on_bytes(uint64_t(s.bytes) / uint64_t(std::max(groups, 1)));
  }
  return true;
}

}  // namespace

bool for_each_document(const TextSource& src, const std::function<bool(std::string_view)>& on_doc,
                       const std::function<void(uint64_t)>& on_bytes) {
  for (const Shard& s : src.shards) {
    if (s.format == "text") {
      if (!file_exists(s.path)) fail("%s: the file was listed but can no longer be read", s.path.c_str());
      std::string text = read_file(s.path);
      if (on_bytes) on_bytes(s.bytes);
      if (!text.empty() && !on_doc(text)) return false;
    } else if (s.format == "parquet") {
      if (!read_parquet(s, src.text_field, on_doc, on_bytes)) return false;
    } else if (!read_jsonl(s, src.text_field, on_doc, on_bytes)) {
      return false;
    }
  }
  return true;
}

std::vector<std::string> read_documents(const TextSource& src, int64_t max_docs) {
  std::vector<std::string> docs;
  for_each_document(src, [&](std::string_view d) {
    docs.emplace_back(d);
    return max_docs <= 0 || int64_t(docs.size()) < max_docs;
  });
  if (docs.empty()) fail("%s: no documents", src.describe().c_str());
  return docs;
}

std::vector<std::string> read_documents(const std::string& path, std::string* format) {
  TextSource src = resolve_text_source(path, "train", "text", "data file");
  if (format) *format = src.shards.front().format;
  return read_documents(src);
}

}  // namespace leap
