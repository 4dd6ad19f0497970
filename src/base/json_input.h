// json_input.h — limits on every JSON document leap reads from outside (config.json,
// tokenizer.json, safetensors headers and indexes, task and calibration lines, recipes, reports):
// a hostile file gets an error naming it, never a stack overflow in the recursive parser or an
// unbounded allocation. Checked by a linear pre-scan before nlohmann::json parses the text.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace leap {

struct JsonLimits {
  size_t max_depth = 64;                 // nested arrays/objects (HF files use fewer than 10)
  size_t max_string = size_t(16) << 20;  // bytes in one string (chat templates are ~100 KiB)
  size_t max_bytes = size_t(2) << 30;    // whole document
};

// Throws leap::Error "<source>: JSON ..." when `text` breaks a limit; says nothing about validity.
void check_json_limits(std::string_view text, const std::string& source, const JsonLimits& lim = {});

// check_json_limits, then J::parse (whose json::exception the caller turns into its own message).
template <class J = nlohmann::json>
J parse_json_checked(std::string_view text, const std::string& source, const JsonLimits& lim = {}) {
  check_json_limits(text, source, lim);
  return J::parse(text.begin(), text.end());
}

// Reads and parses the JSON file `path`: every failure is a leap::Error naming the file
// ("<path>: not valid JSON: ...", or the read error / limit broken).
nlohmann::json read_json_file(const std::string& path, const JsonLimits& lim = {});
nlohmann::ordered_json read_ordered_json_file(const std::string& path, const JsonLimits& lim = {});

}  // namespace leap
