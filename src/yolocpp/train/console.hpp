// Training console output and results.csv (ultralytics 8.3.58 engine/trainer.py save_metrics, progress_string). A live
// bar on a terminal; one line per epoch when stdout is a file or a pipe, so logs stay readable.
#pragma once
#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace yolocpp::engine {

namespace fs = std::filesystem;

// printf("%.6g") as results.csv writes every value.
std::string fmt_g6(double v);

// The 8.3 results.csv columns, in order.
const std::vector<std::string>& results_columns();
std::string results_header();                            // comma-joined columns
std::string results_row(const std::vector<double>& v);   // %.6g values, comma-joined

// Appends a row to save_dir/results.csv, writing the header first when the file does not exist yet.
void append_results_row(const fs::path& csv, const std::vector<double>& values);
// The rows of an existing results.csv (header skipped); empty when absent.
std::vector<std::vector<double>> read_results(const fs::path& csv);
// Keeps the header and the rows whose epoch is <= last_epoch (1-based), atomically (resume after a kill).
void truncate_results(const fs::path& csv, int64_t last_epoch);

// "      Epoch    GPU_mem   box_loss   cls_loss   dfl_loss  Instances       Size" (each %11s).
std::string epoch_header();
// The description part of a progress line: epoch/epochs, GPU memory, running-mean losses, instances, size.
std::string progress_desc(int epoch, int epochs, double gpu_mem_gb, const std::array<double, 3>& tloss,
                          int64_t instances, int64_t size);

// "3/22 4.1it/s 00:05<00:12" style tail; rate in iterations per second.
std::string progress_tail(int64_t done, int64_t total, double elapsed_s);

// Live progress for one epoch: on a terminal the line is redrawn per batch; otherwise only finish() prints.
class EpochProgress {
 public:
  explicit EpochProgress(int64_t total);
  void update(int64_t done, const std::string& desc);
  void finish(const std::string& desc);

 private:
  int64_t total_;
  double start_;
  bool tty_;
  int64_t done_ = 0;
};

double now_seconds();

}  // namespace yolocpp::engine
