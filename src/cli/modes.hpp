// One function per CLI mode: `yolocpp MODE key=value ...` parses the settings and calls run_MODE through the
// mode table in cli/main.cpp (name, help text and run function side by side). Each mode lives in its own
// cli/mode_<name>.cpp; a new mode is that file, a declaration here and a row in the table.
#pragma once
#include <string>
#include <vector>

#include "yolocpp/config/settings.hpp"

namespace yolocpp::cli {

using config::Settings;

int run_train(const Settings& s);
int run_val(const Settings& s);
int run_predict(const Settings& s);
int run_export(const Settings& s);
int run_check(const Settings& s);
int run_pack(const Settings& s);
int run_synth(const Settings& s);
int run_info(const Settings& s);
// Prints the effective settings as yaml.
int run_cfg(const Settings& s);
// One warning per accepted-but-ignored setting the user changed (save_crop, nms, int8, ...): cli/ignored_settings.cpp.
void warn_ignored_settings(const Settings& s);
// cloud has sub-commands (train, attach, logs, ls, down, gc): they arrive in `sub`.
int run_cloud(const std::string& sub, const Settings& s);

}  // namespace yolocpp::cli
