#include "yolocpp/metrics/report.hpp"

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <numeric>

namespace yolocpp::metrics {

namespace {
std::string printf_str(const char* fmt_str, ...) __attribute__((format(printf, 1, 2)));
std::string printf_str(const char* fmt_str, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt_str);
  const int n = std::vsnprintf(buf, sizeof buf, fmt_str, ap);
  va_end(ap);
  return std::string(buf, size_t(std::max(0, std::min<int>(n, int(sizeof buf) - 1))));
}
}  // namespace

std::string table_header() {
  return printf_str("%22s%11s%11s%11s%11s%11s%11s", "Class", "Images", "Instances", "Box(P", "R", "mAP50", "mAP50-95)");
}

std::string table_row(const std::string& name, int64_t images, int64_t instances, double p, double r, double map50,
                      double map) {
  return printf_str("%22s%11lld%11lld%11.3g%11.3g%11.3g%11.3g", name.c_str(), static_cast<long long>(images),
                    static_cast<long long>(instances), p, r, map50, map);
}

std::string table_all_row(const DetMetrics& m) {
  const int64_t instances = std::accumulate(m.nt_per_class.begin(), m.nt_per_class.end(), int64_t(0));
  return table_row("all", m.seen, instances, m.mp, m.mr, m.map50, m.map);
}

std::vector<std::string> table_class_rows(const DetMetrics& m, const std::map<int, std::string>& names) {
  std::vector<std::string> rows;
  for (size_t i = 0; i < m.ap_class_index.size(); ++i) {
    const int c = m.ap_class_index[i];
    const auto it = names.find(c);
    const std::string name = it != names.end() ? it->second : std::to_string(c);
    auto at = [c](const std::vector<int64_t>& v) { return c >= 0 && size_t(c) < v.size() ? v[size_t(c)] : int64_t(0); };
    const auto r = m.class_result(i);
    rows.push_back(table_row(name, at(m.nt_per_image), at(m.nt_per_class), r[0], r[1], r[2], r[3]));
  }
  return rows;
}

std::string speed_line(double pre, double inf, double loss, double post) {
  return printf_str("Speed: %.1fms preprocess, %.1fms inference, %.1fms loss, %.1fms postprocess per image", pre, inf,
                    loss, post);
}

}  // namespace yolocpp::metrics
