// svg_plot.h — a small line-chart writer (SVG 1.1, no dependencies) for `leap report --plot`:
// axes with ticks, one polyline per series, dashed series for reference lines, a legend.
#pragma once
#include <string>
#include <vector>

namespace leap {

struct PlotSeries {
  std::string name;
  std::vector<double> x, y;
  bool dashed = false;
};

std::string svg_line_chart(const std::string& title, const std::string& xlabel, const std::string& ylabel,
                           const std::vector<PlotSeries>& series);

}  // namespace leap
