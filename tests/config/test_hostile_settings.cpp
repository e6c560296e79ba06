// Settings that used to wrap or poison a run (hostile input): every integer has an upper bound, every float must be
// finite, and each refusal names the setting and its range.
#include <gtest/gtest.h>

#include "yolocpp/config/settings.hpp"
#include "yolocpp/util/error.hpp"

using yolocpp::ConfigError;
using yolocpp::config::Settings;

namespace {

std::string refusal(const std::string& token) {
  try {
    Settings::from_args({token});
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "<accepted>";
}

}  // namespace

TEST(HostileSettings, NonFiniteFloatsAreRefused) {
  EXPECT_NE(refusal("lr0=inf").find("setting 'lr0' must be a finite number"), std::string::npos) << refusal("lr0=inf");
  EXPECT_NE(refusal("lr0=.inf").find("'lr0'"), std::string::npos);
  EXPECT_NE(refusal("time=inf").find("'time'"), std::string::npos);
  EXPECT_NE(refusal("box=-inf").find("'box'"), std::string::npos);
  EXPECT_NE(refusal("lr0=nan").find("'lr0'"), std::string::npos);
  EXPECT_DOUBLE_EQ(Settings::from_args({"lr0=1e30"}).number("lr0"), 1e30);  // large but finite is the user's call
}

TEST(HostileSettings, IntegersThatWouldWrapAreRefused) {
  EXPECT_NE(refusal("imgsz=4294967328").find("'imgsz' must be integers in [1, 16384]"), std::string::npos)
      << refusal("imgsz=4294967328");
  EXPECT_NE(refusal("imgsz=[640,4294967328]").find("'imgsz'"), std::string::npos);
  EXPECT_NE(refusal("epochs=9000000000000000").find("'epochs' must be an integer in [0, 1000000]"), std::string::npos)
      << refusal("epochs=9000000000000000");
  EXPECT_NE(refusal("batch=4294967298").find("'batch'"), std::string::npos) << refusal("batch=4294967298");
  EXPECT_NE(refusal("workers=100000").find("[0, 1024]"), std::string::npos);
  EXPECT_NE(refusal("ssh_port=65536").find("[1, 65535]"), std::string::npos);
  EXPECT_NE(refusal("max_det=4294967296").find("'max_det'"), std::string::npos);
  EXPECT_NE(refusal("save_period=4294967296").find("2147483647]"), std::string::npos)
      << refusal("save_period=4294967296");
  EXPECT_NE(refusal("classes=[0,4294967296]").find("'classes'"), std::string::npos);
  // In-range values still pass unchanged.
  Settings s = Settings::from_args({"imgsz=16384", "epochs=1000000", "batch=65536", "workers=1024", "seed=4294967295"});
  EXPECT_EQ(s.integer("epochs"), 1000000);
  EXPECT_EQ(s.integer("batch"), 65536);
  EXPECT_EQ(s.integer("seed"), 4294967295);
}
