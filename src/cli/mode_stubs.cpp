// Weak fallbacks for modes whose issue has not landed yet; a strong run_X in cli/mode_X.cpp replaces each.
#include <cstdio>

#include "cli/modes.hpp"

namespace yolocpp::cli {

namespace {
int not_yet(const char* mode) {
  std::fprintf(stderr, "error: 'yolocpp %s' is not yet available in this version of yolocpp\n", mode);
  return 2;
}
}  // namespace

#define YOLOCPP_WEAK __attribute__((weak))
YOLOCPP_WEAK int run_train(const Settings&) { return not_yet("train"); }
YOLOCPP_WEAK int run_val(const Settings&) { return not_yet("val"); }
YOLOCPP_WEAK int run_predict(const Settings&) { return not_yet("predict"); }
YOLOCPP_WEAK int run_export(const Settings&) { return not_yet("export"); }
YOLOCPP_WEAK int run_check(const Settings&) { return not_yet("check"); }
YOLOCPP_WEAK int run_pack(const Settings&) { return not_yet("pack"); }
YOLOCPP_WEAK int run_synth(const Settings&) { return not_yet("synth"); }
YOLOCPP_WEAK int run_info(const Settings&) { return not_yet("info"); }
YOLOCPP_WEAK int run_cloud(const std::string&, const Settings&) { return not_yet("cloud"); }

}  // namespace yolocpp::cli
