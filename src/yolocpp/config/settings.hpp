// Typed settings with Ultralytics' names and defaults (cfg/default.yaml, compiled in).
// Values are kept as canonical YAML scalar text (true/false, null, 10 for "10.0", [640, 480]) and converted on
// access, so `yolocpp cfg` and args.yaml print what Ultralytics would; every set() is validated against the
// key's type and range.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace YAML {
class Node;
}

namespace yolocpp::config {

class Settings {
 public:
  // Every key of cfg/default.yaml at its default.
  static Settings defaults();
  // Parses the key=value tokens that follow the mode on the command line. `cfg=FILE` (if present) is
  // applied first, then the other tokens in order. Throws ConfigError (unknown key with a did-you-mean,
  // wrong type or range naming the key, the value and what is allowed).
  static Settings from_args(const std::vector<std::string>& tokens);

  void set(const std::string& key, const std::string& value);  // validated
  void load_yaml(const std::string& path);                      // overrides from a yaml file (validated)
  // The same from yaml text already in memory (a checkpoint's train_args); `where` names it in errors.
  void load_yaml_text(const std::string& text, const std::string& where);

  bool has(const std::string& key) const;        // a known key
  bool is_none(const std::string& key) const;    // None / null / empty
  bool was_set(const std::string& key) const;    // given by the user (cfg= file or command line)
  std::string str(const std::string& key) const; // "" when None
  int64_t integer(const std::string& key) const;
  double number(const std::string& key) const;
  bool boolean(const std::string& key) const;    // True/False/true/false/1/0
  std::vector<int64_t> int_list(const std::string& key) const;  // "640", "[640, 480]", "0,1"

  std::vector<std::string> keys() const;         // in cfg/default.yaml order
  // "key: value" lines in that order. Ultralytics: only the keys Ultralytics has (args.yaml, which its own
  // config check accepts); YolocppOnly: the rest (yolocpp_args.yaml next to it).
  enum class Scope { All, Ultralytics, YolocppOnly };
  std::string dump_yaml(Scope scope = Scope::All) const;
  // A setting Ultralytics does not have (listed under the yolocpp-only banner of cfg/default.yaml).
  static bool is_yolocpp_only(const std::string& key);

  // The known setting closest to a mistyped one ("lr" -> "lr0"), or "" when none is close.
  static std::string suggest(const std::string& unknown_key);

 private:
  void apply_yaml(const YAML::Node& root, const std::string& where);

  std::vector<std::string> order_;
  std::map<std::string, std::string> values_;
  std::map<std::string, bool> set_by_user_;
};

// Edit (Levenshtein) distance between two words, for did-you-mean hints.
size_t edit_distance(const std::string& a, const std::string& b);

}  // namespace yolocpp::config
