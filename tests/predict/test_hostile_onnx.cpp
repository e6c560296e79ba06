// Hostile ONNX metadata: class ids that would size a names list of 2^31 entries, and broken
// escapes, are one ModelError each instead of bad_alloc or `stoi`.
#include <gtest/gtest.h>

#include "yolocpp/predict/backend_ocv.hpp"
#include "yolocpp/util/error.hpp"
#include "yolocpp/util/limits.hpp"

using namespace yolocpp;

namespace {

std::string error_of(const std::string& literal) {
  try {
    engine::parse_names_literal(literal);
  } catch (const ModelError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(HostileOnnx, NamesKeyOutsideTheClassRangeIsRefused) {
  EXPECT_NE(error_of("{2147483647: 'x'}").find("class id outside 0..99999"), std::string::npos);
  EXPECT_NE(error_of("{99999999999999999999999: 'x'}").find("class id outside"), std::string::npos);
  EXPECT_NE(error_of("{-1: 'x'}").find("class id outside"), std::string::npos);
  // The largest allowed id still parses (a sparse literal; the backend fills the gaps with numbers).
  EXPECT_EQ(engine::parse_names_literal("{99999: 'last'}").at(util::kMaxClasses - 1), "last");
}

TEST(HostileOnnx, BadHexEscapeIsAModelError) {
  EXPECT_NE(error_of("{0: 'a\\xZZ'}").find("bad \\x escape"), std::string::npos);
  EXPECT_NE(error_of("{0: 'a\\x4").find("bad \\x escape"), std::string::npos);  // cut inside the escape
}
