#include "yolocpp/train/console.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "yolocpp/util/error.hpp"
#include "yolocpp/util/fs.hpp"

namespace yolocpp::engine {

std::string fmt_g6(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

const std::vector<std::string>& results_columns() {
  static const std::vector<std::string> cols{
      "epoch",        "time",         "train/box_loss", "train/cls_loss", "train/dfl_loss",
      "metrics/precision(B)", "metrics/recall(B)", "metrics/mAP50(B)", "metrics/mAP50-95(B)",
      "val/box_loss", "val/cls_loss", "val/dfl_loss", "lr/pg0", "lr/pg1", "lr/pg2"};
  return cols;
}

std::string results_header() {
  std::string s;
  for (const auto& c : results_columns()) s += (s.empty() ? "" : ",") + c;
  return s;
}

std::string results_row(const std::vector<double>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + fmt_g6(v[i]);
  return s;
}

void append_results_row(const fs::path& csv, const std::vector<double>& values) {
  if (values.size() != results_columns().size())
    throw Error(fmt::format("results.csv row has {} values, expected {}", values.size(), results_columns().size()));
  const bool fresh = !fs::exists(csv);
  std::ofstream out(csv, std::ios::app);
  if (!out) throw IoError("cannot append to " + csv.string() + ": check that the run folder is writable");
  if (fresh) out << results_header() << "\n";
  out << results_row(values) << "\n";
}

std::vector<std::vector<double>> read_results(const fs::path& csv) {
  std::vector<std::vector<double>> rows;
  std::ifstream in(csv);
  std::string line;
  bool header = true;
  while (std::getline(in, line)) {
    if (header) { header = false; continue; }
    if (line.empty()) continue;
    std::vector<double> r;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) r.push_back(std::stod(cell));
    rows.push_back(r);
  }
  return rows;
}

void truncate_results(const fs::path& csv, int64_t last_epoch) {
  if (!fs::exists(csv)) return;
  std::ifstream in(csv);
  std::string line, out;
  bool header = true;
  while (std::getline(in, line)) {
    if (header) { out += line + "\n"; header = false; continue; }
    if (line.empty()) continue;
    if (std::stod(line.substr(0, line.find(','))) <= static_cast<double>(last_epoch)) out += line + "\n";
  }
  util::atomic_write(csv, out);
}

std::string epoch_header() {
  return fmt::format("{:>11}{:>11}{:>11}{:>11}{:>11}{:>11}{:>11}", "Epoch", "GPU_mem", "box_loss", "cls_loss",
                     "dfl_loss", "Instances", "Size");
}

static std::string g4(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%11.4g", v);
  return buf;
}

std::string progress_desc(int epoch, int epochs, double gpu_mem_gb, const std::array<double, 3>& tloss,
                          int64_t instances, int64_t size) {
  char mem[32];
  std::snprintf(mem, sizeof mem, "%.3gG", gpu_mem_gb);
  return fmt::format("{:>11}{:>11}", fmt::format("{}/{}", epoch + 1, epochs), mem) + g4(tloss[0]) + g4(tloss[1]) +
         g4(tloss[2]) + g4(static_cast<double>(instances)) + g4(static_cast<double>(size));
}

static std::string hms(double s) {
  const int64_t t = static_cast<int64_t>(s + 0.5);
  if (t >= 3600) return fmt::format("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60);
  return fmt::format("{:02}:{:02}", t / 60, t % 60);
}

std::string progress_tail(int64_t done, int64_t total, double elapsed_s) {
  const double rate = elapsed_s > 0 ? done / elapsed_s : 0.0;
  const double eta = rate > 0 ? (total - done) / rate : 0.0;
  const std::string r = rate >= 1 || rate == 0 ? fmt::format("{:.1f}it/s", rate) : fmt::format("{:.1f}s/it", 1.0 / rate);
  const int pct = total > 0 ? static_cast<int>(100 * done / total) : 100;
  return fmt::format(" {:3}% {}/{} {} {}<{}", pct, done, total, r, hms(elapsed_s), hms(eta));
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

EpochProgress::EpochProgress(int64_t total) : total_(total), start_(now_seconds()), tty_(isatty(fileno(stdout))) {}

void EpochProgress::update(int64_t done, const std::string& desc) {
  done_ = done;
  if (!tty_) return;
  std::printf("\r%s%s\033[K", desc.c_str(), progress_tail(done, total_, now_seconds() - start_).c_str());
  std::fflush(stdout);
}

void EpochProgress::finish(const std::string& desc) {
  const std::string line = desc + progress_tail(total_, total_, now_seconds() - start_);
  if (tty_) std::printf("\r%s\033[K\n", line.c_str());
  else std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

}  // namespace yolocpp::engine
