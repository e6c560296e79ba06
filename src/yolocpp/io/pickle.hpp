// A restricted unpickler: turns a pickle byte stream (protocols 0-5) into a plain value tree. It never
// executes anything. GLOBAL/STACK_GLOBAL names are checked against an allow-list of the classes and
// functions a YOLO checkpoint uses; REDUCE/NEWOBJ of an allowed class records an inert Object (class name,
// args, BUILD state), and the few functions whose result matters (tensor rebuilds, OrderedDict, set,
// bytes via _codecs.encode, numpy scalars, torch.Size) are interpreted here by name.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace yolocpp::io {

struct PValue;
using PValuePtr = std::shared_ptr<PValue>;

struct PValue {
  enum class Kind { None, Bool, Int, Float, Str, Bytes, List, Tuple, Set, Dict, Global, Object, Tensor, Storage };
  Kind kind = Kind::None;
  bool b = false;
  int64_t i = 0;
  double f = 0.0;
  std::string s;                                          // Str, Bytes, Global ("module.name"), Object class
  std::vector<PValuePtr> items;                           // List, Tuple, Set
  std::vector<std::pair<PValuePtr, PValuePtr>> entries;   // Dict (insertion order kept)
  PValuePtr args, state;                                  // Object: constructor args, BUILD state
  torch::Tensor tensor;                                   // Tensor, Storage (1-D, storage dtype)

  PValue() = default;
  PValue(const PValue&) = default;
  PValue& operator=(const PValue&) = default;
  // Iterative: a hostile stream can nest a million tuples, which a recursive destructor would overflow.
  ~PValue();

  bool is(Kind k) const { return kind == k; }
  bool is_none() const { return kind == Kind::None; }
  // Dict lookup by string key; nullptr when absent or not a dict.
  const PValuePtr* get(std::string_view key) const;
  // Object or dict attribute: an Object's BUILD state dict entry, or a Dict entry.
  PValuePtr attr(std::string_view key) const;
  std::string type_name() const;  // for error messages: "int", "dict", "ultralytics.nn.tasks.DetectionModel"...
};

PValuePtr make_none();
PValuePtr make_int(int64_t v);
PValuePtr make_float(double v);
PValuePtr make_str(std::string s);

// persistent_load(pid) -> the value BINPERSID/PERSID pushes (a Storage for torch files).
using PersistentLoad = std::function<PValuePtr(const PValuePtr& pid)>;

// Limits that keep a hostile stream from driving later walks (to_yaml, module collection) off a cliff.
// A real YOLO checkpoint nests ~20 deep and holds ~10^5 values; the limits are far above that.
constexpr size_t kPickleMaxDepth = 256;        // longest chain of containers from the root
constexpr size_t kPickleMaxValues = 4000000;   // values pushed while unpickling (bounds stack and memo too)

// `label` names the file in error messages. Throws ModelError for unsupported globals, truncated or
// malformed streams, unknown opcodes, a value that contains itself, nesting deeper than kPickleMaxDepth
// and more than kPickleMaxValues values.
PValuePtr unpickle(std::string_view data, const std::string& label, const PersistentLoad& persistent_load = {});

// True when `module.name` is on the allow-list.
bool pickle_global_allowed(const std::string& module, const std::string& name);

}  // namespace yolocpp::io
