// table.cpp — see table.h.
#include "base/table.h"

#include <algorithm>

namespace leap {

std::string format_table(const std::string& title, const std::vector<std::pair<std::string, std::string>>& rows) {
  size_t w1 = 0, w2 = title.size();
  for (const auto& r : rows) {
    w1 = std::max(w1, r.first.size());
    w2 = std::max(w2, r.second.size());
  }
  w2 = std::min<size_t>(w2, 100);
  auto line = [&](char c) {
    std::string l = "+";
    l.append(w1 + 2, c).append("+").append(w2 + 2, c).append("+\n");
    return l;
  };
  std::string out = line('-');
  std::string t = title.substr(0, w1 + w2 + 3);
  out += "| " + t + std::string(w1 + w2 + 3 - t.size(), ' ') + " |\n";
  out += line('-');
  for (const auto& r : rows) {
    std::string v = r.second.size() > w2 ? r.second.substr(0, w2 - 3) + "..." : r.second;
    out +=
        "| " + r.first + std::string(w1 - r.first.size(), ' ') + " | " + v + std::string(w2 - v.size(), ' ') + " |\n";
  }
  out += line('-');
  return out;
}

}  // namespace leap
