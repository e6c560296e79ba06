// Weight download against a real local HTTP server (cpp-httplib): success with a redirect, caching,
// 404, an HTML page, and an unreachable port that must fail fast.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/test_util.hpp"
#include "yolocpp/io/ultralytics_pt.hpp"
#include "yolocpp/io/weights.hpp"
#include "yolocpp/util/error.hpp"
#include "yolocpp/util/net.hpp"
#include "yolocpp/util/fs.hpp"

using namespace yolocpp;
using namespace yolocpp::io;
using yolocpp::test::fixtures_dir;
using yolocpp::test::TempDir;

namespace {

class AssetServer {
 public:
  explicit AssetServer(std::string pt) : pt_(std::move(pt)) {
    svr_.Get("/assets/yolo11n.pt", [this](const httplib::Request&, httplib::Response& res) {
      ++hits;
      res.set_redirect("/cdn/yolo11n.pt");  // like GitHub release assets
    });
    svr_.Get("/cdn/yolo11n.pt", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(pt_, "application/octet-stream");
    });
    svr_.Get("/assets/yolo11s.pt", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("<!DOCTYPE html><html>" + std::string(100000, ' ') + "</html>", "text/html");
    });
    port = svr_.bind_to_any_port("127.0.0.1");
    th_ = std::thread([this] { svr_.listen_after_bind(); });
    while (!svr_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ~AssetServer() {
    svr_.stop();
    th_.join();
  }
  std::string base() const { return "http://127.0.0.1:" + std::to_string(port) + "/assets"; }
  int port = 0;
  std::atomic<int> hits{0};

 private:
  std::string pt_;
  httplib::Server svr_;
  std::thread th_;
};

// Points the cache and the asset URL at test values for the test's lifetime.
struct Env {
  Env(const std::string& cache, const std::string& url) {
    setenv("YOLOCPP_CACHE_DIR", cache.c_str(), 1);
    setenv("YOLOCPP_ASSETS_URL", url.c_str(), 1);
  }
  ~Env() {
    unsetenv("YOLOCPP_CACHE_DIR");
    unsetenv("YOLOCPP_ASSETS_URL");
  }
};

}  // namespace

TEST(Weights, KnownAssetNames) {
  EXPECT_TRUE(is_known_asset("yolo11n.pt"));
  EXPECT_TRUE(is_known_asset("yolov8x.pt"));
  EXPECT_FALSE(is_known_asset("yolo11q.pt"));
  EXPECT_FALSE(is_known_asset("yolo11n.yaml"));
}

TEST(Weights, DownloadsFollowsRedirectAndCaches) {
  YOLOCPP_REQUIRE_SHARED();
  std::string pt = util::read_file(fixtures_dir() / "yolo11n_random.pt");
  AssetServer srv(pt);
  TempDir tmp;
  Env env(tmp.path().string(), srv.base());
  auto path = resolve_weights("yolo11n.pt");
  EXPECT_EQ(std::filesystem::path(path), tmp.path() / "weights" / "yolo11n.pt");
  EXPECT_EQ(util::read_file(path), pt);
  EXPECT_EQ(srv.hits.load(), 1);
  EXPECT_EQ(resolve_weights("yolo11n.pt"), path);  // second time from the cache
  EXPECT_EQ(srv.hits.load(), 1);
  EXPECT_EQ(load_ultralytics_pt(path).state.size(), 499u);
  // A file that exists on disk is used as is, whatever its name.
  EXPECT_EQ(resolve_weights(path), path);
}

TEST(Weights, NotFoundAndHtmlAreRejectedAndLeaveNoFile) {
  AssetServer srv("unused");
  TempDir tmp;
  Env env(tmp.path().string(), srv.base());
  try {
    resolve_weights("yolo11m.pt");  // the server has no such asset -> 404
    FAIL();
  } catch (const ModelError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("HTTP 404"), std::string::npos) << m;
    EXPECT_NE(m.find((tmp.path() / "weights" / "yolo11m.pt").string()), std::string::npos) << m;
  }
  try {
    resolve_weights("yolo11s.pt");
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("HTML"), std::string::npos) << e.what();
  }
  size_t left = 0;
  if (std::filesystem::exists(tmp.path() / "weights"))
    for (auto& f : std::filesystem::directory_iterator(tmp.path() / "weights")) (void)f, ++left;
  EXPECT_EQ(left, 0u);  // no partial or temporary file in the cache
  EXPECT_THROW(resolve_weights("my_own_model.pt"), ModelError);
}

TEST(Weights, UnreachableServerFailsFast) {
  TempDir tmp;
  Env env(tmp.path().string(), "http://127.0.0.1:" + std::to_string(util::free_loopback_port()) + "/assets");
  auto t0 = std::chrono::steady_clock::now();
  try {
    resolve_weights("yolo11n.pt");
    FAIL();
  } catch (const ModelError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("offline"), std::string::npos) << m;
    EXPECT_NE(m.find("weights"), std::string::npos) << m;  // says where to put the file
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "[ metric ] unreachable download failed after " << secs << " s\n";
  EXPECT_LT(secs, 6.0);
}
