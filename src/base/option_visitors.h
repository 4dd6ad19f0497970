// option_visitors.h — what every options struct shares. An options struct lists its fields once,
// in visit(V&): v(name, field, help, required). The visitors here turn that one list into the
// start-up config table, the "config" JSON stored in every output, recipe and preset defaults
// (apply_recipe / apply_defaults / load_recipe); the application's CLI11 visitor (app/main.cpp)
// turns it into flags and --help. Torch-free.
#pragma once
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "base/error.h"
#include "base/json_input.h"
#include "base/table.h"

namespace leap {

// ---- visitors shared by every options struct ----
namespace detail {
inline std::string to_display(const std::string& s) {
  return s.empty() ? "-" : s;
}
inline std::string to_display(bool b) {
  return b ? "true" : "false";
}
template <class T>
std::string to_display(const T& x) {
  return nlohmann::json(x).dump();
}
struct TableVisitor {
  std::vector<std::pair<std::string, std::string>> rows;
  template <class T>
  void operator()(const char* name, const T& field, const char*, bool) {
    rows.emplace_back(name, to_display(field));
  }
};
struct JsonVisitor {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  template <class T>
  void operator()(const char* name, const T& field, const char*, bool) {
    j[name] = field;
  }
};

struct DefaultsVisitor {  // assigns preset values to fields the user did not set
  const nlohmann::json& j;
  const std::set<std::string>& given;
  std::string source;
  template <class T>
  void operator()(const char* name, T& field, const char*, bool) {
    if (!j.contains(name) || given.count(name)) return;
    // an integer field must hold a JSON integer: converting 1e115 to int64 is undefined behaviour
    // (found by the recipe fuzzer)
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>)
      if (!j[name].is_number_integer())
        throw Error(source + ": \"" + name + "\" has the wrong type: expected an integer");
    try {
      field = j[name].get<T>();
    } catch (const nlohmann::json::exception& e) {
      throw Error(source + ": \"" + name + "\" has the wrong type: " + e.what());
    }
  }
};

struct NamesVisitor {
  std::set<std::string> names;
  template <class T>
  void operator()(const char* name, T&, const char*, bool) {
    names.insert(name);
  }
};
}  // namespace detail

// Applies a recipe file: every key must be an option name (or start with '_', a comment); values
// fill the fields not given as flags, which then count as given (a model preset cannot override).
template <class Opts>
void apply_recipe(Opts& o, const nlohmann::json& recipe, const std::string& source) {
  if (!recipe.is_object()) throw Error(source + ": a recipe must be a JSON object");
  detail::NamesVisitor names;
  o.visit(names);
  for (auto it = recipe.begin(); it != recipe.end(); ++it)
    if (!it.key().empty() && it.key()[0] != '_' && !names.names.count(it.key()))
      throw Error(source + ": unknown key \"" + it.key() + "\"");
  detail::DefaultsVisitor v{recipe, o.given, source};
  o.visit(v);
  for (auto it = recipe.begin(); it != recipe.end(); ++it)
    if (names.names.count(it.key())) o.given.insert(it.key());
}

// Applies the entries of `defaults` (e.g. a model preset) to the fields not given as flags.
template <class Opts>
void apply_defaults(Opts& o, const nlohmann::json& defaults, const std::string& source) {
  detail::DefaultsVisitor v{defaults, o.given, source};
  o.visit(v);
}

// Reads the recipe file `path` (e.g. configs/recipes/leap.json) and applies it as apply_recipe.
template <class Opts>
void load_recipe(Opts& o, const std::string& path) {
  apply_recipe(o, read_json_file(path), path);
}

// The effective configuration as a boxed two-column table (llm.c style) and as JSON.
template <class Opts>
std::string config_table(const std::string& title, Opts& o) {
  detail::TableVisitor v;
  o.visit(v);
  return format_table(title, v.rows);
}
template <class Opts>
nlohmann::ordered_json config_json(Opts& o) {
  detail::JsonVisitor v;
  o.visit(v);
  return v.j;
}

}  // namespace leap
