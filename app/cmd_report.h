// cmd_report.h — `leap report`: comparison tables and figures from `leap eval` result files.
#pragma once
#include "options.h"

namespace leap {
void run_report(ReportArgs& o);
}  // namespace leap
