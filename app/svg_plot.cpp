// svg_plot.cpp — see svg_plot.h.
#include "svg_plot.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "base/error.h"

namespace leap {
namespace {
const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
                         "#e377c2", "#17becf", "#7f7f7f", "#bcbd22", "#000000", "#ff1493"};
constexpr size_t kNumColors = sizeof kColors / sizeof kColors[0];

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<')
      o += "&lt;";
    else if (c == '>')
      o += "&gt;";
    else if (c == '&')
      o += "&amp;";
    else
      o += c;
  }
  return o;
}

double nice_step(double range, int ticks) {
  double raw = range / ticks, p = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (raw <= m * p) return m * p;
  return 10 * p;
}
}  // namespace

std::string svg_line_chart(const std::string& title, const std::string& xlabel, const std::string& ylabel,
                           const std::vector<PlotSeries>& series) {
  const double W = 760, H = 440, L = 70, R = 210, T = 40, B = 55;
  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
  for (const auto& s : series)
    for (size_t i = 0; i < s.x.size(); ++i) {
      x0 = std::min(x0, s.x[i]), x1 = std::max(x1, s.x[i]);
      y0 = std::min(y0, s.y[i]), y1 = std::max(y1, s.y[i]);
    }
  if (!std::isfinite(x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  if (x1 == x0) x1 = x0 + 1;
  if (y1 == y0) y0 -= 0.5, y1 += 0.5;
  double pad = (y1 - y0) * 0.08;
  y0 -= pad, y1 += pad;
  auto px = [&](double x) { return L + (x - x0) / (x1 - x0) * (W - L - R); };
  auto py = [&](double y) { return H - B - (y - y0) / (y1 - y0) * (H - T - B); };
  std::string s = strformat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
      W, H, W, H);
  s += strformat("<text x=\"%.0f\" y=\"24\" font-size=\"15\" text-anchor=\"middle\">%s</text>\n", (L + W - R) / 2,
                 esc(title).c_str());
  s += strformat("<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"#333\"/>\n", L, T,
                 W - L - R, H - T - B);
  double xs = nice_step(x1 - x0, 8), ys = nice_step(y1 - y0, 6);
  bool integer_x = true;  // e.g. block indices: no fractional ticks
  for (const auto& se : series)
    for (double v : se.x) integer_x &= v == std::floor(v);
  if (integer_x) xs = std::max(1.0, std::round(xs));
  for (double v = std::ceil(x0 / xs) * xs; v <= x1 + 1e-9; v += xs)
    s += strformat(
        "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#ddd\"/><text x=\"%.1f\" y=\"%.0f\" "
        "text-anchor=\"middle\">%g</text>\n",
        px(v), T, px(v), H - B, px(v), H - B + 16, v);
  for (double v = std::ceil(y0 / ys) * ys; v <= y1 + 1e-9; v += ys)
    s += strformat(
        "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#ddd\"/><text x=\"%.0f\" y=\"%.1f\" "
        "text-anchor=\"end\">%g</text>\n",
        L, py(v), W - R, py(v), L - 6, py(v) + 4, v);
  s += strformat("<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">%s</text>\n", (L + W - R) / 2, H - 12,
                 esc(xlabel).c_str());
  s += strformat("<text transform=\"translate(18 %.0f) rotate(-90)\" text-anchor=\"middle\">%s</text>\n",
                 (T + H - B) / 2, esc(ylabel).c_str());
  for (size_t k = 0; k < series.size(); ++k) {
    const auto& se = series[k];
    const char* c = kColors[k % kNumColors];
    std::string pts;
    for (size_t i = 0; i < se.x.size(); ++i) pts += strformat("%.1f,%.1f ", px(se.x[i]), py(se.y[i]));
    s += strformat("<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"%s\"/>\n", c,
                   se.dashed ? " stroke-dasharray=\"6 4\"" : "", pts.c_str());
    if (!se.dashed && se.x.size() <= 64)
      for (size_t i = 0; i < se.x.size(); ++i)
        s += strformat("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", px(se.x[i]), py(se.y[i]), c);
    double ly = T + 14 + 18 * double(k);
    s += strformat(
        "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"%s\" stroke-width=\"2\"%s/><text x=\"%.0f\" "
        "y=\"%.0f\">%s</text>\n",
        W - R + 12, ly, W - R + 36, ly, c, se.dashed ? " stroke-dasharray=\"6 4\"" : "", W - R + 42, ly + 4,
        esc(se.name).c_str());
  }
  s += "</svg>\n";
  return s;
}

}  // namespace leap
