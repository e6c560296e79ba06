// `yolocpp cfg [key=value ...]`: the effective settings (defaults < cfg=FILE < command line) as yaml, in
// cfg/default.yaml order, i.e. exactly what a run with the same arguments writes to args.yaml.
#include <cstdio>

#include "cli/modes.hpp"

namespace yolocpp::cli {

int run_cfg(const Settings& s) {
  std::fputs(s.dump_yaml().c_str(), stdout);
  return 0;
}

}  // namespace yolocpp::cli
