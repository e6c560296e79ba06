// `yolocpp check data=...`: scans every split the way training will and prints what it found, so dataset
// problems show up before a long run (and the same counts a training run would report).
#include <algorithm>
#include <cstdio>
#include <set>
#include <string>

#include <fmt/format.h>

#include "cli/modes.hpp"
#include "yolocpp/data/dataset.hpp"
#include "yolocpp/data/scan.hpp"
#include "yolocpp/data/synth.hpp"
#include "yolocpp/util/error.hpp"

namespace yolocpp::cli {

namespace {

bool given(const Settings& s, const char* key) { return s.has(key) && !s.is_none(key); }

std::string size_range(const data::ScanResult& r) {
  if (r.items.empty()) return "-";
  auto area = [](const data::ImageLabels& x) { return static_cast<long>(x.width) * x.height; };
  auto [lo, hi] = std::minmax_element(r.items.begin(), r.items.end(),
                                      [&](const auto& a, const auto& b) { return area(a) < area(b); });
  std::set<std::pair<int, int>> distinct;
  for (const auto& x : r.items) distinct.insert({x.width, x.height});
  return fmt::format("min {}x{}, max {}x{} ({} distinct)", lo->width, lo->height, hi->width, hi->height,
                     distinct.size());
}

// Returns false when the split cannot be used (no valid image left), or with strict when any file is corrupt.
bool report_split(const data::DatasetInfo& ds, const data::Split& sp, bool single_cls, bool strict) {
  data::ScanResult r = data::scan_split(ds, sp.name);
  if (single_cls)
    for (auto& it : r.items)
      for (auto& b : it.boxes) b.cls = 0;
  std::string src;
  for (const auto& s : sp.sources) src += (src.empty() ? "" : ", ") + s.string();
  std::printf("\n%s: %s%s\n", sp.name.c_str(), src.c_str(), r.from_cache ? "  (label cache)" : "");
  std::printf("  %-22s %zu\n", "images", r.counts.images);
  std::printf("  %-22s %zu\n", "usable images", r.items.size());
  std::printf("  %-22s %zu (%zu without a label file, %zu with an empty one)\n", "backgrounds", r.backgrounds(),
              r.counts.missing, r.counts.empty);
  std::printf("  %-22s %zu\n", "instances", r.instances());
  std::printf("  %-22s %zu\n", "corrupt (skipped)", r.counts.corrupt);
  std::printf("  %-22s %zu\n", "duplicate rows removed", r.counts.duplicates);
  std::printf("  %-22s %s\n", "image size", size_range(r).c_str());

  int nc = single_cls ? 1 : ds.nc;
  auto pc = r.per_class(nc);
  size_t w = 5;
  for (int c = 0; c < nc; ++c) w = std::max(w, (single_cls ? std::string("item") : ds.names[c]).size());
  std::printf("  %-*s | %9s\n", static_cast<int>(w), "class", "instances");
  for (int c = 0; c < nc; ++c)
    std::printf("  %-*s | %9zu\n", static_cast<int>(w), single_cls ? "item" : ds.names[c].c_str(), pc[c]);
  size_t absent = static_cast<size_t>(std::count(pc.begin(), pc.end(), size_t{0}));
  if (absent) std::printf("  (%zu of %d classes have no instance in %s)\n", absent, nc, sp.name.c_str());

  if (!r.corrupt.empty()) {
    std::printf("  corrupt files:\n");
    for (const auto& c : r.corrupt) std::printf("    %s\n", c.message.c_str());
  }
  for (const auto& it : r.items)
    if (!it.message.empty()) std::printf("  warning: %s\n", it.message.c_str());
  if (r.items.empty()) {
    std::fprintf(stderr, "error: %s: no usable image in split '%s' (all %zu are corrupt); fix the files listed above\n",
                 ds.yaml.string().c_str(), sp.name.c_str(), r.counts.images);
    return false;
  }
  if (strict && !r.corrupt.empty()) {
    std::fprintf(stderr, "error: %s: %zu corrupt file(s) in split '%s' (strict=True); fix or remove the files listed "
                 "above\n", ds.yaml.string().c_str(), r.corrupt.size(), sp.name.c_str());
    return false;
  }
  return true;
}

}  // namespace

int run_check(const Settings& s) {
  std::string arg = given(s, "data") ? s.str("data") : data::ensure_demo_dataset().string();
  data::DatasetInfo ds = data::load_dataset(arg);
  bool single_cls = s.has("single_cls") && s.boolean("single_cls");
  bool strict = s.has("strict") && s.boolean("strict");
  std::printf("dataset: %s\n", ds.yaml.string().c_str());
  std::printf("root:    %s\n", ds.root.string().c_str());
  std::printf("classes: %d%s\n", ds.nc, single_cls ? " (single_cls=True: counted as one class)" : "");
  bool ok = true;
  for (const auto& sp : ds.splits) ok = report_split(ds, sp, single_cls, strict) && ok;
  std::printf("\n%s\n", ok ? "check: OK" : "check: FAILED");
  return ok ? 0 : 1;
}

}  // namespace yolocpp::cli
