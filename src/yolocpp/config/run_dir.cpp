#include "yolocpp/config/run_dir.hpp"

#include "yolocpp/util/error.hpp"
#include "yolocpp/util/fs.hpp"

namespace yolocpp::engine {

RunDir make_run_dir(const fs::path& project, const std::string& name, bool exist_ok, const std::string& default_name) {
  const fs::path proj = project.empty() ? fs::path("runs") / "detect" : project;
  const std::string base = name.empty() ? default_name : name;
  if (base.empty()) throw ConfigError("run directory: no name given (set name=...)");
  std::error_code ec;
  fs::create_directories(proj, ec);
  if (ec) throw IoError("cannot create project folder '" + proj.string() + "': " + ec.message());
  if (exist_ok && fs::is_directory(proj / base, ec)) return {proj / base, base, true};
  // Upstream tries name, then name2 .. name9999 (no separator). create_directory both tests and claims.
  for (int n = 1; n < 10000; ++n) {
    const std::string cand = n == 1 ? base : base + std::to_string(n);
    if (fs::create_directory(proj / cand, ec)) return {proj / cand, cand, false};
    if (ec) throw IoError("cannot create run folder '" + (proj / cand).string() + "': " + ec.message());
  }
  throw IoError("run directory: " + (proj / base).string() + "2 .. 9999 all exist; pass another name= or project=");
}

void write_run_args(const fs::path& save_dir, const config::Settings& args) {
  using Scope = config::Settings::Scope;
  util::atomic_write(save_dir / "args.yaml", args.dump_yaml(Scope::Ultralytics) + "save_dir: " + save_dir.string() + "\n");
  util::atomic_write(save_dir / "yolocpp_args.yaml",
                     "# yolocpp-only settings of this run (Ultralytics' settings are in args.yaml)\n" +
                         args.dump_yaml(Scope::YolocppOnly));
}

}  // namespace yolocpp::engine
