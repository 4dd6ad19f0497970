// table.h — a boxed two-column text table (llm.c's config table): a title row, then name | value
// rows; values longer than 100 characters are cut with "...". Torch-free.
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace leap {

std::string format_table(const std::string& title, const std::vector<std::pair<std::string, std::string>>& rows);

}  // namespace leap
