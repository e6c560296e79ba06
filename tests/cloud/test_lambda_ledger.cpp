// Cost ledger arithmetic (per-minute billing), cost.json round trip, the table, and the estimate + budget.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <thread>
#include <nlohmann/json.hpp>

#include "common/test_util.hpp"
#include "yolocpp/cloud/estimate.hpp"
#include "yolocpp/cloud/ledger.hpp"
#include "yolocpp/util/error.hpp"

using namespace yolocpp;
using namespace yolocpp::cloud;
using yolocpp::test::TempDir;

TEST(LambdaLedger, BilledCostRoundsUpToWholeMinutes) {
  EXPECT_DOUBLE_EQ(billed_cost_usd(199, 0), 0.0);
  EXPECT_DOUBLE_EQ(billed_cost_usd(199, 1), 1.99 / 60);      // 1 s bills a whole minute
  EXPECT_DOUBLE_EQ(billed_cost_usd(199, 60), 1.99 / 60);     // exactly one minute
  EXPECT_DOUBLE_EQ(billed_cost_usd(199, 60.5), 2 * 1.99 / 60);
  EXPECT_DOUBLE_EQ(billed_cost_usd(199, 3600), 1.99);
  // The field ledger of spec §2.4: 24.6 min of gpu_1x_a100_sxm4 at $1.99/h -> $0.82 (25 billed minutes).
  EXPECT_NEAR(billed_cost_usd(199, 24.6 * 60), 0.829, 0.001);
  EXPECT_EQ(format_duration(3723), "1h 02m 03s");
  EXPECT_EQ(format_duration(125), "2m 05s");
  EXPECT_EQ(format_duration(7.4), "7s");
}

TEST(LambdaLedger, PhasesCostsTotalsAndTable) {
  Ledger l("job-1");
  l.set_instance("0123456789abcdef0123456789abcdef", "gpu_1x_a100_sxm4", "us-west-2", 199);
  l.add("estimate", 1.5);
  l.add("launch", 210);
  l.add("bootstrap", 600);
  l.add("upload", 45);
  auto t0 = Ledger::Clock::now();
  l.begin("train", t0);
  l.end("train", t0 + std::chrono::seconds(1800));
  l.add("train", 30);  // a second span (re-attach) adds up
  l.add("download", 12);
  l.add("terminate", 3);
  auto ph = l.phases();
  ASSERT_EQ(ph.size(), 7u);
  EXPECT_EQ(ph[0].name, "estimate");
  EXPECT_FALSE(ph[0].billed);
  EXPECT_DOUBLE_EQ(ph[0].cost_usd, 0);
  EXPECT_EQ(ph[4].name, "train");
  EXPECT_DOUBLE_EQ(ph[4].seconds, 1830);
  EXPECT_DOUBLE_EQ(ph[4].cost_usd, 1.99 * 1830 / 3600);
  EXPECT_DOUBLE_EQ(l.billed_seconds(), 210 + 600 + 45 + 1830 + 12 + 3);  // 2700 s: estimate excluded
  EXPECT_EQ(l.billed_minutes(), 45);
  EXPECT_DOUBLE_EQ(l.total_cost_usd(), 1.99 * 45 / 60);
  EXPECT_NEAR(l.phases_cost_usd(), l.total_cost_usd(), 1e-12);  // 2700 s is whole minutes: no rounding
  l.add("terminate", 1);  // 2701 s -> 46 minutes
  EXPECT_EQ(l.billed_minutes(), 46);
  EXPECT_NEAR(l.total_cost_usd() - l.phases_cost_usd(), 1.99 * (46 * 60 - 2701) / 3600, 1e-12);

  std::string t = l.table();
  EXPECT_NE(t.find("phase        |     duration |      cost"), std::string::npos) << t;
  EXPECT_NE(t.find("train        |      30m 30s |     $1.01"), std::string::npos) << t;
  EXPECT_NE(t.find("estimate     |           2s |         -"), std::string::npos) << t;
  EXPECT_NE(t.find("rounding     | 46 min billed"), std::string::npos) << t;
  EXPECT_NE(t.find("total        |      45m 03s |     $1.53"), std::string::npos) << t;

  EXPECT_THROW(l.begin("training"), CloudError);  // unknown phase
  l.begin("upload");
  EXPECT_THROW(l.begin("upload"), CloudError);     // nested
  l.end("upload");
  EXPECT_THROW(l.end("upload"), CloudError);       // not open
}

TEST(LambdaLedger, SpanBillsAFailedPhase) {
  Ledger l;
  l.set_instance("id", "gpu_1x_a10", "us-east-1", 129);
  try {
    auto s = l.span("upload");
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    throw std::runtime_error("connection lost");
  } catch (const std::runtime_error&) {
  }
  auto ph = l.phases();
  ASSERT_EQ(ph.size(), 1u);
  EXPECT_GE(ph[0].seconds, 0.03);
  EXPECT_LT(ph[0].seconds, 5);
  EXPECT_EQ(l.billed_minutes(), 1);
}

TEST(LambdaLedger, CostJsonIsWrittenAtomicallyAndRoundTrips) {
  TempDir tmp;
  Ledger l("job-2");
  l.set_instance("abc", "gpu_8x_a100", "us-west-1", 1592);
  auto t0 = Ledger::Clock::time_point(std::chrono::seconds(1'800'000'000));
  l.mark_launch_requested(t0);
  l.mark_first_active(t0 + std::chrono::seconds(200));
  l.mark_first_active(t0 + std::chrono::seconds(999));  // only the first one counts
  l.mark_terminated(t0 + std::chrono::seconds(200 + 3600));
  l.add("launch", 200);
  l.add("train", 3600);
  auto path = tmp.path() / "runs" / "cost.json";
  std::filesystem::create_directories(path.parent_path());
  l.write(path);
  for (const auto& e : std::filesystem::directory_iterator(path.parent_path()))
    EXPECT_EQ(e.path().filename(), "cost.json");  // no temporary left beside it
  auto j = nlohmann::json::parse(std::ifstream(path));
  EXPECT_EQ(j["job_id"], "job-2");
  EXPECT_EQ(j["instance"]["price_cents_per_hour"], 1592);
  EXPECT_EQ(j["billed_minutes"], 64);  // 3800 s -> 63.33 -> 64
  EXPECT_NEAR(j["total_cost_usd"].get<double>(), 15.92 * 64 / 60, 1e-9);
  EXPECT_NEAR(j["upper_bound_cost_usd"].get<double>(), 15.92 * 64 / 60, 1e-9);  // 3800 s
  EXPECT_NEAR(j["lower_bound_cost_usd"].get<double>(), 15.92, 1e-9);            // exactly 60 min
  EXPECT_EQ(j["phases"].size(), 2u);
  EXPECT_EQ(j["final_status"], "terminated");

  Ledger back = Ledger::load(path);
  EXPECT_EQ(back.to_json(), l.to_json());
  { std::ofstream(tmp.path() / "bad.json") << "{not json"; }
  EXPECT_THROW(Ledger::load(tmp.path() / "bad.json"), CloudError);
}

TEST(LambdaLedger, RunningCostOfALiveInstance) {
  Ledger l;
  l.set_instance("id", "gpu_1x_h100_sxm5", "us-east-1", 429);
  auto t0 = Ledger::Clock::time_point(std::chrono::seconds(1'800'000'000));
  EXPECT_DOUBLE_EQ(l.running_cost_usd(t0), 0);
  l.mark_launch_requested(t0);
  EXPECT_DOUBLE_EQ(l.running_cost_usd(t0 + std::chrono::seconds(61)), 4.29 * 2 / 60);
  EXPECT_DOUBLE_EQ(l.upper_bound_cost_usd(), -1);  // not terminated yet
}

TEST(LambdaEstimate, ThroughputTable) {
  EXPECT_EQ(model_scale("yolo11n.pt"), 'n');
  EXPECT_EQ(model_scale("/models/yolov8s.yaml"), 's');
  EXPECT_EQ(model_scale("yolo11x-custom.pt"), 'x');
  EXPECT_EQ(model_scale("resnet50.pt"), 0);
  EXPECT_DOUBLE_EQ(throughput_images_per_s("gpu_1x_a100_sxm4", "yolo11n.pt", 640), 300);
  EXPECT_DOUBLE_EQ(throughput_images_per_s("gpu_1x_a100_sxm4", "yolo11x.pt", 640), 55);
  EXPECT_DOUBLE_EQ(throughput_images_per_s("gpu_1x_a10", "yolo11n.pt", 640), 300 * 0.45);  // not read as a100
  EXPECT_DOUBLE_EQ(throughput_images_per_s("gpu_1x_h100_sxm5", "yolo11m.pt", 640), 120 * 1.8);
  // Per GPU; gpu_8x_a100 is SXM4 (spec §2.5), gpu_1x_a100 is PCIe.
  EXPECT_DOUBLE_EQ(throughput_images_per_s("gpu_8x_a100", "yolo11s.pt", 640), 220 * 1.0);
  EXPECT_DOUBLE_EQ(throughput_images_per_s("gpu_1x_a100", "yolo11s.pt", 640), 220 * 0.95);
  EXPECT_DOUBLE_EQ(throughput_images_per_s("gpu_1x_a100_sxm4", "yolo11n.pt", 320), 1200);   // (640/320)^2
  EXPECT_THROW(throughput_images_per_s("gpu_1x_a100_sxm4", "resnet50.pt", 640), CloudError);
}

TEST(LambdaEstimate, PhasesAndCostFromPrice) {
  EstimateInput in;
  in.price_cents_per_hour = 199;
  in.epochs = 150;
  in.train_images = 7200;
  in.val_images = 0;
  in.dataset_bytes = 600.0 * 1024 * 1024;  // 600 MiB at 10 MiB/s = 60 s + 10 s
  in.bootstrap = "upload";
  Estimate e = estimate(in);
  ASSERT_EQ(e.phases.size(), 7u);
  EXPECT_DOUBLE_EQ(e.images_per_s, 300);
  EXPECT_DOUBLE_EQ(e.phases[4].seconds, 150 * 7200 / 300.0 + 20);  // the "150 epochs in ~60 min" row
  EXPECT_DOUBLE_EQ(e.phases[3].seconds, 70);
  EXPECT_DOUBLE_EQ(e.phases[1].seconds, 210);  // boot to SSH, 1 GPU
  EXPECT_DOUBLE_EQ(e.phases[0].cost_usd, 0);   // estimate: no instance yet
  double billed = 0;
  for (size_t i = 1; i < e.phases.size(); ++i) billed += e.phases[i].seconds;
  EXPECT_EQ(e.billed_minutes, (int64_t)std::ceil(billed / 60));
  EXPECT_DOUBLE_EQ(e.total_cost_usd, 1.99 * e.billed_minutes / 60);
  EXPECT_GT(e.total_cost_usd, 1.99);  // over an hour in all
  EXPECT_LT(e.total_cost_usd, 2.5);
  EXPECT_NE(e.table().find("gpu_1x_a100_sxm4 at $1.99/h"), std::string::npos) << e.table();

  // Same job on 8x A100 told to use one GPU (device=0): same train time, eight times the price.
  in.gpu_type = "gpu_8x_a100";
  in.gpus = 8;
  in.price_cents_per_hour = 1592;
  Estimate e8 = estimate(in);
  EXPECT_GT(e8.total_cost_usd, 7 * e.total_cost_usd);
}

TEST(LambdaEstimate, BudgetRefusesOverAndAcceptsUnder) {
  EstimateInput in;
  in.price_cents_per_hour = 199;
  in.epochs = 150;
  in.train_images = 7200;
  Estimate e = estimate(in);
  EXPECT_NO_THROW(check_budget(e, 0));  // 0 / None: no limit
  EXPECT_NO_THROW(check_budget(e, e.total_cost_usd + 0.01));
  try {
    check_budget(e, 1.0);
    FAIL() << "over budget accepted";
  } catch (const CloudError& ex) {
    std::string m = ex.what();
    EXPECT_NE(m.find("over budget=1.00"), std::string::npos) << m;
    EXPECT_NE(m.find("gpu_1x_a100_sxm4"), std::string::npos) << m;
    EXPECT_NE(m.find("nothing was launched"), std::string::npos) << m;
  }
}
