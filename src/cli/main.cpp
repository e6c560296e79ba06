// `yolocpp MODE key=value ...`: a thin dispatch to the library (owned by the config/CLI work).
#include <cstdio>
#include <string>
#include <vector>

#include "cli/modes.hpp"
#include "yolocpp/util/error.hpp"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::printf("usage: yolocpp MODE key=value ...\n");
    return 2;
  }
  try {
    std::string mode = args[0];
    args.erase(args.begin());
    auto s = yolocpp::config::Settings::from_args(args);
    if (mode == "train") return yolocpp::cli::run_train(s);
    if (mode == "check") return yolocpp::cli::run_check(s);
    std::fprintf(stderr, "error: unknown mode '%s'\n", mode.c_str());
    return 2;
  } catch (const yolocpp::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
