// Text the validator prints: the metrics table (Ultralytics' column widths) and the speed line.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "yolocpp/metrics/ap.hpp"

namespace yolocpp::metrics {

// "%22s" + "%11s" * 6: Class Images Instances Box(P R mAP50 mAP50-95)
std::string table_header();
// "%22s%11i%11i" + "%11.3g" * 4
std::string table_row(const std::string& name, int64_t images, int64_t instances, double p, double r, double map50,
                      double map);
// The "all" row: images seen, all GT instances, mean P, R, mAP50, mAP50-95.
std::string table_all_row(const DetMetrics& m);
// One row per class with GT (ap_class_index order); names fall back to the class index.
std::vector<std::string> table_class_rows(const DetMetrics& m, const std::map<int, std::string>& names);
// "Speed: 0.1ms preprocess, 2.3ms inference, 0.0ms loss, 0.4ms postprocess per image"
std::string speed_line(double preprocess_ms, double inference_ms, double loss_ms, double postprocess_ms);

}  // namespace yolocpp::metrics
