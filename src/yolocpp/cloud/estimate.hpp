// Up-front time and cost of a cloud job, per phase, from the instance price and a throughput table; and the
// budget check that refuses a job before anything is launched.
//
// Throughput table (training images/s, one GPU, imgsz 640, batch 16, mosaic pipeline, AMP-free LibTorch;
// educated figures, not measurements — the ledger records the real numbers of every run):
//   A100 40 GB SXM4:  yolo11n 300, s 220, m 120, l 90, x 55
//   i.e. 150 epochs of ~7,200 images in ~60 min for yolo11n on one A100.
// Other GPUs scale the A100 row: H100 SXM5 x1.8, H100 PCIe x1.5, GH200 x1.9, B200 x2.6, A100 PCIe x0.95,
// A100 80 GB x1.0, A6000 x0.6, V100 x0.55, A10 x0.45, RTX 6000 x0.35, CPU-only x0.01.
// gpu_8x_a100 is the SXM4 40 GB node (spec lambda-cloud.md §2.5), so it gets the SXM4 factor, not PCIe's.
// Many GPUs (issue 7): cloud train runs DDP on every GPU of a multi-GPU type (device=0,...,N-1), so training
// throughput is the one-GPU rate x used GPUs x DDP efficiency (ddp_efficiency below: 1.0 / 0.9 for 2-4 /
// 0.85 for 5-8+); validation runs on rank 0 alone and does not scale. The cost is still the whole instance.
// Image size scales as (640/imgsz)^2, capped at x4; validation runs at twice the training rate.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace yolocpp::cloud {

struct EstimateInput {
  std::string gpu_type = "gpu_1x_a100_sxm4";
  int64_t price_cents_per_hour = 0;  // from GET /instance-types (never hard-coded)
  int gpus = 1;                      // of the type (specs.gpus): the launch time grows with it
  int used_gpus = 1;                 // GPUs the remote trainer uses (GpuPlan::used); DDP when > 1
  std::string model = "yolo11n.pt";  // scale letter n/s/m/l/x read from the name
  int imgsz = 640;
  int epochs = 100;
  int64_t train_images = 0;
  int64_t val_images = 0;
  double dataset_bytes = 0;          // the pack archive to upload
  double upload_mib_s = 10;          // the user's uplink (spec §4.2: bounded by the uplink, not Lambda)
  double download_mib_s = 20;
  std::string bootstrap = "source";  // source | upload | none
  bool bootstrap_cached = false;     // a build for this source hash is already on the instance
};

struct PhaseEstimate {
  std::string name;  // the ledger's phase names
  double seconds = 0;
  double cost_usd = 0;
};

struct Estimate {
  std::vector<PhaseEstimate> phases;
  double images_per_s = 0;      // training throughput used (all GPUs together)
  int used_gpus = 1;
  double total_seconds = 0;
  int64_t billed_minutes = 0;
  double total_cost_usd = 0;    // price * billed minutes
  std::string gpu_type;
  int64_t price_cents_per_hour = 0;
  std::string table() const;    // "phase | duration | cost" + total
};

// Training images/s for the type, model scale and image size (the table above). Throws CloudError for a
// model name without a recognisable scale letter.
double throughput_images_per_s(const std::string& gpu_type, const std::string& model, int imgsz);
// Fraction of linear scaling DDP reaches on `gpus` GPUs of one node (1.0 for one GPU).
double ddp_efficiency(int gpus);
char model_scale(const std::string& model);  // 'n','s','m','l','x'; 0 when unknown

Estimate estimate(const EstimateInput& in);

// Throws CloudError when `budget_usd` > 0 and the estimate exceeds it: the message gives the estimate, the
// budget and the ways out (fewer epochs, a cheaper gpu=, a higher budget=).
void check_budget(const Estimate& e, double budget_usd);

}  // namespace yolocpp::cloud
