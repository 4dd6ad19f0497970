// json_input.cpp — see json_input.h.
#include "base/json_input.h"

#include "base/error.h"
#include "base/fs_util.h"

namespace leap {

void check_json_limits(std::string_view text, const std::string& source, const JsonLimits& lim) {
  if (text.size() > lim.max_bytes)
    fail("%s: JSON document of %zu bytes exceeds the limit of %zu bytes", source.c_str(), text.size(), lim.max_bytes);
  size_t depth = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '"') {  // skip the string, counting its length
      const size_t start = i++;
      while (i < text.size() && text[i] != '"') i += text[i] == '\\' ? 2 : 1;
      if (i - start - 1 > lim.max_string)
        fail("%s: JSON string of %zu bytes at byte %zu exceeds the limit of %zu bytes", source.c_str(), i - start - 1,
             start, lim.max_string);
    } else if (c == '[' || c == '{') {
      if (++depth > lim.max_depth)
        fail("%s: JSON nested deeper than %zu levels at byte %zu", source.c_str(), lim.max_depth, i);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
}

namespace {
template <class J>
J read_json_file_as(const std::string& path, const JsonLimits& lim) {
  const std::string text = read_file(path);
  try {
    return parse_json_checked<J>(text, path, lim);
  } catch (const nlohmann::json::exception& e) {
    fail("%s: not valid JSON: %s", path.c_str(), e.what());
  }
}
}  // namespace

nlohmann::json read_json_file(const std::string& path, const JsonLimits& lim) {
  return read_json_file_as<nlohmann::json>(path, lim);
}
nlohmann::ordered_json read_ordered_json_file(const std::string& path, const JsonLimits& lim) {
  return read_json_file_as<nlohmann::ordered_json>(path, lim);
}

}  // namespace leap
