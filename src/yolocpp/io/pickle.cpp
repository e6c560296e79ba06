#include "yolocpp/io/pickle.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "yolocpp/util/error.hpp"

namespace yolocpp::io {

using Kind = PValue::Kind;

PValuePtr make_none() { return std::make_shared<PValue>(); }
PValuePtr make_int(int64_t v) { auto p = std::make_shared<PValue>(); p->kind = Kind::Int; p->i = v; return p; }
PValuePtr make_float(double v) { auto p = std::make_shared<PValue>(); p->kind = Kind::Float; p->f = v; return p; }
PValuePtr make_str(std::string s) { auto p = std::make_shared<PValue>(); p->kind = Kind::Str; p->s = std::move(s); return p; }

PValue::~PValue() {
  if (items.empty() && entries.empty() && !args && !state) return;
  // Children whose last owner is being destroyed hand their own children to this worklist first, so the
  // destruction of a deep tree never recurses.
  std::vector<PValuePtr> work;
  auto take = [&work](PValue& v) {
    for (auto& c : v.items) work.push_back(std::move(c));
    for (auto& e : v.entries) {
      work.push_back(std::move(e.first));
      work.push_back(std::move(e.second));
    }
    v.items.clear();
    v.entries.clear();
    if (v.args) work.push_back(std::move(v.args));
    if (v.state) work.push_back(std::move(v.state));
  };
  take(*this);
  while (!work.empty()) {
    PValuePtr c = std::move(work.back());
    work.pop_back();
    if (c && c.use_count() == 1) take(*c);
  }
}

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The i-th child of a value (items, then dict keys and values, then args and state); nullptr past the end.
size_t child_count(const PValue& v) { return v.items.size() + 2 * v.entries.size() + 2; }
const PValue* child(const PValue& v, size_t i) {
  if (i < v.items.size()) return v.items[i].get();
  i -= v.items.size();
  if (i < 2 * v.entries.size()) return (i % 2 ? v.entries[i / 2].second : v.entries[i / 2].first).get();
  i -= 2 * v.entries.size();
  return i == 0 ? v.args.get() : i == 1 ? v.state.get() : nullptr;
}
bool has_children(const PValue& v) { return !v.items.empty() || !v.entries.empty() || v.args || v.state; }

PValuePtr make(Kind k) { auto p = std::make_shared<PValue>(); p->kind = k; return p; }
PValuePtr make_bool(bool v) { auto p = make(Kind::Bool); p->b = v; return p; }

bool same_key(const PValue& a, const PValue& b) {
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Kind::Str: case Kind::Bytes: return a.s == b.s;
    case Kind::Int: return a.i == b.i;
    case Kind::Bool: return a.b == b.b;
    case Kind::None: return true;
    default: return false;  // identity-keyed objects: treat as distinct
  }
}

// The identity of a hashable key (what same_key compares), false for identity-keyed values.
bool key_sig(const PValue& k, std::string& out) {
  switch (k.kind) {
    case Kind::Str: out = "s" + k.s; return true;
    case Kind::Bytes: out = "b" + k.s; return true;
    case Kind::Int: out = "i" + std::to_string(k.i); return true;
    case Kind::Bool: out = k.b ? "t" : "f"; return true;
    case Kind::None: out = "n"; return true;
    default: return false;
  }
}

// Dict assignment with Python's semantics (an existing key is replaced in place). Small dicts scan; large
// ones get a hash index, so a hostile dict of a million keys costs a million steps, not 10^12.
class DictIndex {
 public:
  void set(const PValuePtr& d, PValuePtr k, PValuePtr v) {
    std::string sig;
    if (!key_sig(*k, sig)) {
      d->entries.emplace_back(std::move(k), std::move(v));
      return;
    }
    auto it = index_.find(d.get());
    if (it == index_.end() || it->second.owner.expired()) {  // also a dict freed and reallocated at this address
      if (d->entries.size() < 32) {
        for (auto& e : d->entries)
          if (same_key(*e.first, *k)) { e.second = std::move(v); return; }
        d->entries.emplace_back(std::move(k), std::move(v));
        return;
      }
      Index& fresh = index_[d.get()];
      fresh.owner = d;
      fresh.pos.clear();
      std::string s;
      for (size_t i = 0; i < d->entries.size(); ++i)
        if (key_sig(*d->entries[i].first, s)) fresh.pos.emplace(s, i);
      it = index_.find(d.get());
    }
    auto [pos, inserted] = it->second.pos.emplace(std::move(sig), d->entries.size());
    if (!inserted) {
      d->entries[pos->second].second = std::move(v);
      return;
    }
    d->entries.emplace_back(std::move(k), std::move(v));
  }

 private:
  struct Index {
    std::weak_ptr<PValue> owner;
    std::unordered_map<std::string, size_t> pos;
  };
  std::unordered_map<const PValue*, Index> index_;
};

// Decodes UTF-8 into code points; protocol 2 stores `bytes` as a latin-1 str, so each code point is a byte.
std::string latin1_from_utf8(const std::string& s, const std::string& label) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    unsigned char c = s[i];
    uint32_t cp;
    if (c < 0x80) { cp = c; i += 1; }
    else if ((c & 0xe0) == 0xc0 && i + 1 < s.size()) { cp = ((c & 0x1f) << 6) | (s[i + 1] & 0x3f); i += 2; }
    else throw ModelError(label + ": a pickled bytes object is not latin-1 text; the file is corrupt");
    if (cp > 0xff) throw ModelError(label + ": a pickled bytes object is not latin-1 text; the file is corrupt");
    out.push_back(static_cast<char>(cp));
  }
  return out;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) out.push_back(static_cast<char>(cp));
  else if (cp < 0x800) { out.push_back(static_cast<char>(0xc0 | (cp >> 6))); out.push_back(static_cast<char>(0x80 | (cp & 0x3f))); }
  else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out.push_back(static_cast<char>(0xf0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

const std::set<std::string>& exact_allow() {
  static const std::set<std::string> s = {
      "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter",
      "torch._utils._rebuild_parameter_with_state",
      "torch.HalfStorage", "torch.FloatStorage", "torch.DoubleStorage", "torch.BFloat16Storage",
      "torch.LongStorage", "torch.IntStorage", "torch.ShortStorage", "torch.CharStorage", "torch.ByteStorage",
      "torch.BoolStorage", "torch.Size", "torch.device",
      "torch.float16", "torch.float32", "torch.float64", "torch.bfloat16", "torch.int64", "torch.int32",
      "torch.uint8", "torch.bool",
      "collections.OrderedDict", "builtins.set", "__builtin__.set", "builtins.frozenset", "__builtin__.frozenset",
      "_codecs.encode",
      "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar", "numpy.dtype",
      "ultralytics.utils.IterableSimpleNamespace", "types.SimpleNamespace",
      "pathlib.PosixPath", "pathlib.WindowsPath",
      // Loss classes attached to mid-training checkpoints (lower-case names, so not covered by the prefixes).
      "ultralytics.utils.loss.v8DetectionLoss", "ultralytics.utils.loss.v8SegmentationLoss",
      "ultralytics.utils.loss.v8PoseLoss", "ultralytics.utils.loss.v8OBBLoss", "ultralytics.utils.loss.v8ClassificationLoss",
  };
  return s;
}

// Module classes are only ever recorded as inert objects, so whole packages of them can be allowed.
constexpr const char* kAllowedPrefixes[] = {
    "ultralytics.nn.modules.", "ultralytics.nn.tasks.", "torch.nn.modules.", "ultralytics.utils.loss.",
    "ultralytics.utils.tal.",
};

const char* opname(unsigned char op) {
  switch (op) {
    case 0x80: return "PROTO"; case 0x95: return "FRAME"; case '.': return "STOP"; case '(': return "MARK";
    case 'N': return "NONE"; case 'J': return "BININT"; case 'K': return "BININT1"; case 'M': return "BININT2";
    case 'G': return "BINFLOAT"; case 'X': return "BINUNICODE"; case 0x8c: return "SHORT_BINUNICODE";
    case 'c': return "GLOBAL"; case 'R': return "REDUCE"; case 'b': return "BUILD"; case 0x81: return "NEWOBJ";
    case 'Q': return "BINPERSID"; case 'q': return "BINPUT"; case 'r': return "LONG_BINPUT"; case 'h': return "BINGET";
    case 'j': return "LONG_BINGET"; case 'u': return "SETITEMS"; case 'e': return "APPENDS"; case 't': return "TUPLE";
    default: return "opcode";
  }
}

class Unpickler {
 public:
  Unpickler(std::string_view d, const std::string& label, const PersistentLoad& pl) : d_(d), label_(label), pl_(pl) {}
  Unpickler(const Unpickler&) = delete;
  Unpickler& operator=(const Unpickler&) = delete;
  // On any failure, values mutated after creation may form reference cycles (a list appended to itself):
  // emptying them breaks every cycle, so a refused file leaks nothing.
  ~Unpickler() {
    if (ok_) return;
    stack_.clear();
    memo_.clear();
    for (auto& v : mutated_) {
      v->items.clear();
      v->entries.clear();
      v->state.reset();
    }
  }

  PValuePtr run() {
    while (true) {
      if (p_ >= d_.size()) fail("the pickle stream ends without STOP; the file is truncated");
      op_pos_ = p_;
      op_ = static_cast<unsigned char>(d_[p_++]);
      if (step()) break;
    }
    if (stack_.empty()) fail("STOP with an empty stack");
    check_shape(*stack_.back());
    ok_ = true;
    return stack_.back();
  }

 private:
  // Cycles and over-deep nesting are refused here, once, so every later walk may recurse and need no
  // visited set for termination. Iterative DFS; `height` memoises shared sub-values (a DAG is walked in
  // time linear in its distinct values, however many paths lead to them).
  // Besides the result, every value mutated after creation is a root too: any cycle runs through one of
  // them, so a cycle left only in the memo (unreachable from the result, yet never freed) is refused as well.
  void check_shape(const PValue& result) {
    std::unordered_map<const PValue*, size_t> height;
    std::unordered_set<const PValue*> open;
    std::vector<const PValue*> roots{&result};
    for (const auto& m : mutated_) roots.push_back(m.get());
    for (const PValue* root : roots)
      if (has_children(*root) && !height.count(root)) walk(root, height, open);
  }
  void walk(const PValue* root, std::unordered_map<const PValue*, size_t>& height,
            std::unordered_set<const PValue*>& open) {
    struct Frame { const PValue* v; size_t next; size_t height; };
    open.insert(root);
    std::vector<Frame> st{{root, 0, 1}};
    while (!st.empty()) {
      Frame& f = st.back();
      if (f.next == child_count(*f.v)) {
        const size_t h = f.height;
        height[f.v] = h;
        open.erase(f.v);
        st.pop_back();
        if (!st.empty()) st.back().height = std::max(st.back().height, h + 1);
        if (h + st.size() > kPickleMaxDepth) too_deep();
        continue;
      }
      const PValue* c = child(*f.v, f.next++);
      if (!c || !has_children(*c)) continue;
      if (auto it = height.find(c); it != height.end()) {
        f.height = std::max(f.height, it->second + 1);
        if (f.height + st.size() > kPickleMaxDepth) too_deep();
        continue;
      }
      if (!open.insert(c).second)
        fail(fmt::format("a {} contains itself (a reference cycle), which no checkpoint needs", c->type_name()));
      st.push_back({c, 0, 1});
      if (st.size() > kPickleMaxDepth) too_deep();
    }
  }
  [[noreturn]] void too_deep() const {
    fail(fmt::format("values nest deeper than {} levels, far beyond any checkpoint", kPickleMaxDepth));
  }
  void mutated(const PValuePtr& v) {
    if (mutated_.empty() || mutated_.back() != v) mutated_.push_back(v);
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw ModelError(fmt::format("{}: malformed pickle at byte {} ({} 0x{:02x}): {}; re-download or re-save the file",
                                 label_, op_pos_, opname(op_), op_, what));
  }
  void need(uint64_t n) {
    if (n > d_.size() - p_) fail("the data ends early; the file is truncated");
  }
  uint64_t le(int n) {
    need(n);
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(d_[p_ + i]);
    p_ += n;
    return v;
  }
  std::string bytes(uint64_t n) {
    need(n);
    std::string s(d_.substr(p_, n));
    p_ += n;
    return s;
  }
  std::string line() {
    size_t e = d_.find('\n', p_);
    if (e == std::string_view::npos) fail("a text argument has no newline; the file is truncated");
    std::string s(d_.substr(p_, e - p_));
    p_ = e + 1;
    return s;
  }
  PValuePtr pop() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) fail("stack underflow");
    auto v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  PValuePtr& top() {
    if (stack_.empty()) fail("stack underflow");
    return stack_.back();
  }
  std::vector<PValuePtr> pop_mark() {
    if (marks_.empty()) fail("no MARK on the stack");
    size_t m = marks_.back();
    marks_.pop_back();
    if (m > stack_.size()) fail("MARK past the stack");
    std::vector<PValuePtr> items(std::make_move_iterator(stack_.begin() + m), std::make_move_iterator(stack_.end()));
    stack_.resize(m);
    return items;
  }
  void push(PValuePtr v) {
    if (++pushed_ > kPickleMaxValues)
      fail(fmt::format("more than {} values, far beyond any checkpoint", kPickleMaxValues));
    stack_.push_back(std::move(v));
  }
  PValuePtr seq(Kind k, std::vector<PValuePtr> items) {
    auto v = make(k);
    v->items = std::move(items);
    return v;
  }
  void memo_put(uint64_t idx) { memo_[idx] = top(); }
  void memo_get(uint64_t idx) {
    auto it = memo_.find(idx);
    if (it == memo_.end()) fail(fmt::format("memo entry {} was never stored", idx));
    push(it->second);
  }
  int64_t parse_int(std::string s) {
    if (!s.empty() && s.back() == 'L') s.pop_back();
    try {
      size_t n = 0;
      long long v = std::stoll(s, &n, 10);
      if (n != s.size()) throw std::invalid_argument(s);
      return v;
    } catch (const std::exception&) {
      fail("integer '" + s + "' is not a 64-bit number");
    }
  }
  int64_t long_bytes(uint64_t n) {
    if (n > 8) fail(fmt::format("integer of {} bytes does not fit 64 bits", n));
    std::string b = bytes(n);
    if (n == 0) return 0;
    uint64_t v = 0;
    for (int i = static_cast<int>(n) - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b[i]);
    if (n < 8 && (static_cast<unsigned char>(b[n - 1]) & 0x80)) v |= ~uint64_t(0) << (8 * n);  // sign-extend
    return static_cast<int64_t>(v);
  }
  std::string quoted(std::string s) {  // protocol-0 STRING: a Python repr in quotes
    if (s.size() < 2 || (s.front() != '\'' && s.front() != '"') || s.back() != s.front()) fail("bad quoted string");
    s = s.substr(1, s.size() - 2);
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] != '\\' || i + 1 >= s.size()) { out.push_back(s[i]); continue; }
      char c = s[++i];
      if (c == 'n') out.push_back('\n');
      else if (c == 't') out.push_back('\t');
      else if (c == 'r') out.push_back('\r');
      else if (c == 'x') {
        int hi = i + 2 < s.size() ? hex_digit(s[i + 1]) : -1, lo = hi >= 0 ? hex_digit(s[i + 2]) : -1;
        if (lo < 0) fail("bad \\x escape in a quoted string");
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
      } else out.push_back(c);
    }
    return out;
  }
  std::string raw_unicode_escape(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '\\' && i + 5 < s.size() && s[i + 1] == 'u') {
        uint32_t cp = 0;
        for (size_t k = i + 2; k < i + 6; ++k) {
          int h = hex_digit(s[k]);
          if (h < 0) fail("bad \\u escape in a unicode string");
          cp = cp * 16 + static_cast<uint32_t>(h);
        }
        append_utf8(out, cp);
        i += 5;
      } else {
        append_utf8(out, static_cast<unsigned char>(s[i]));
      }
    }
    return out;
  }

  PValuePtr global(const std::string& module, const std::string& name) {
    if (!pickle_global_allowed(module, name))
      throw ModelError(fmt::format("unsupported pickle global '{}.{}' in {}: this file is not a YOLO checkpoint or "
                                   "needs a newer yolocpp",
                                   module, name, label_));
    auto v = make(Kind::Global);
    v->s = module + "." + name;
    return v;
  }

  PValuePtr call(const PValuePtr& fn, const PValuePtr& args) {
    if (!fn->is(Kind::Global)) fail("REDUCE/NEWOBJ on a value that is not a class (" + fn->type_name() + ")");
    if (!args->is(Kind::Tuple)) fail("REDUCE/NEWOBJ arguments are not a tuple");
    const std::string& n = fn->s;
    const auto& a = args->items;
    if (n == "torch._utils._rebuild_tensor_v2" || n == "torch._utils._rebuild_tensor") return rebuild_tensor(a);
    if (n == "torch._utils._rebuild_parameter" || n == "torch._utils._rebuild_parameter_with_state") {
      if (a.empty() || !a[0]->is(Kind::Tensor)) fail("_rebuild_parameter without a tensor");
      return a[0];
    }
    if (n == "collections.OrderedDict") {
      auto d = make(Kind::Dict);
      if (!a.empty() && (a[0]->is(Kind::List) || a[0]->is(Kind::Tuple)))
        for (auto& pr : a[0]->items)
          if (pr->is(Kind::Tuple) && pr->items.size() == 2) dicts_.set(d, pr->items[0], pr->items[1]);
      return d;
    }
    if (n == "builtins.set" || n == "__builtin__.set" || n == "builtins.frozenset" || n == "__builtin__.frozenset") {
      auto s = make(Kind::Set);
      if (!a.empty()) s->items = a[0]->items;
      return s;
    }
    if (n == "_codecs.encode") {
      if (a.empty() || !a[0]->is(Kind::Str)) fail("_codecs.encode without a string");
      auto b = make(Kind::Bytes);
      std::string enc = a.size() > 1 && a[1]->is(Kind::Str) ? a[1]->s : "utf-8";
      b->s = (enc == "latin1" || enc == "latin-1" || enc == "iso-8859-1") ? latin1_from_utf8(a[0]->s, label_) : a[0]->s;
      return b;
    }
    if (n == "torch.Size") {
      auto t = make(Kind::Tuple);
      if (!a.empty()) t->items = a[0]->items;
      return t;
    }
    if (n == "numpy.core.multiarray.scalar" || n == "numpy._core.multiarray.scalar") return numpy_scalar(a);
    auto o = make(Kind::Object);
    o->s = n;
    o->args = args;
    return o;
  }

  PValuePtr rebuild_tensor(const std::vector<PValuePtr>& a) {
    if (a.size() < 4 || !a[0]->is(Kind::Storage) || !a[1]->is(Kind::Int) || !a[2]->is(Kind::Tuple) ||
        !a[3]->is(Kind::Tuple))
      fail("_rebuild_tensor_v2 arguments are not (storage, offset, size, stride, ...)");
    std::vector<int64_t> size, stride;
    for (auto& v : a[2]->items) { if (!v->is(Kind::Int)) fail("tensor size is not an int"); size.push_back(v->i); }
    for (auto& v : a[3]->items) { if (!v->is(Kind::Int)) fail("tensor stride is not an int"); stride.push_back(v->i); }
    if (size.size() != stride.size()) fail("tensor size and stride differ in length");
    const torch::Tensor& st = a[0]->tensor;
    int64_t offset = a[1]->i, last = offset, numel = 1;
    bool empty = false, overflow = offset < 0;
    for (size_t k = 0; k < size.size(); ++k) {
      if (size[k] < 0 || stride[k] < 0) fail("negative tensor size or stride");
      if (size[k] == 0) empty = true;
      int64_t span;
      overflow = overflow || __builtin_mul_overflow(size[k] == 0 ? 0 : size[k] - 1, stride[k], &span) ||
                 __builtin_add_overflow(last, span, &last) || __builtin_mul_overflow(numel, size[k], &numel);
    }
    if (overflow || (!empty && last >= st.numel()))
      fail(fmt::format("tensor view [offset {}, sizes {}] lies outside its storage of {} elements", offset,
                       fmt::join(size, "x"), st.numel()));
    // A view may repeat elements (stride 0), but one larger than its storage would be materialised by the
    // first contiguous() into memory the file never paid for.
    if (numel > st.numel())
      fail(fmt::format("tensor view of {} elements over a storage of {} (stride-0 expansion); re-save the checkpoint",
                       numel, st.numel()));
    auto t = make(Kind::Tensor);
    t->tensor = empty ? torch::empty(size, st.options()) : st.as_strided(size, stride, offset);
    return t;
  }

  PValuePtr numpy_scalar(const std::vector<PValuePtr>& a) {
    if (a.size() < 2 || !a[0]->is(Kind::Object) || !a[1]->is(Kind::Bytes)) fail("numpy scalar without (dtype, bytes)");
    const PValue& dt = *a[0];
    if (!dt.args || dt.args->items.empty() || !dt.args->items[0]->is(Kind::Str)) fail("numpy dtype without a type code");
    std::string code = dt.args->items[0]->s;
    bool big = dt.state && dt.state->is(Kind::Tuple) && dt.state->items.size() > 1 && dt.state->items[1]->is(Kind::Str) &&
               dt.state->items[1]->s == ">";
    std::string b = a[1]->s;
    if (big) std::reverse(b.begin(), b.end());
    auto want = [&](size_t n) { if (b.size() != n) fail("numpy scalar of type " + code + " has " + std::to_string(b.size()) + " bytes"); };
    auto uint = [&]() { uint64_t v = 0; for (size_t i = b.size(); i-- > 0;) v = (v << 8) | static_cast<unsigned char>(b[i]); return v; };
    if (code == "f8") { want(8); double v; std::memcpy(&v, b.data(), 8); return make_float(v); }
    if (code == "f4") { want(4); float v; std::memcpy(&v, b.data(), 4); return make_float(v); }
    if (code == "f2") { want(2); return make_float(static_cast<double>(c10::Half(static_cast<uint16_t>(uint()), c10::Half::from_bits()))); }
    if (code == "b1") { want(1); return make_bool(b[0] != 0); }
    if (code.size() == 2 && (code[0] == 'i' || code[0] == 'u') && code[1] >= '1' && code[1] <= '8') {
      size_t n = code[1] - '0';
      want(n);
      uint64_t v = uint();
      if (code[0] == 'i' && n < 8 && (v >> (8 * n - 1)) & 1) v |= ~uint64_t(0) << (8 * n);
      return make_int(static_cast<int64_t>(v));
    }
    fail("unsupported numpy scalar type '" + code + "'");
  }

  void build() {
    auto state = pop();
    auto& obj = top();
    if (obj->is(Kind::Object)) {
      mutated(obj);
      if (obj->state) mutated(obj->state);
      if (obj->state == state) return;  // BUILD with its own state: nothing to merge (and no self-iteration)
      if (obj->state && obj->state->is(Kind::Dict) && state->is(Kind::Dict))
        for (auto& e : state->entries) dicts_.set(obj->state, e.first, e.second);
      else obj->state = state;
    }
    // BUILD on tensors/dicts (torch 2.x tensor metadata, dict subclasses) carries nothing we use.
  }

  bool step() {
    switch (op_) {
      case 0x80: { uint64_t v = le(1); if (v > 5) fail(fmt::format("pickle protocol {} is newer than 5", v)); break; }
      case 0x95: le(8); break;  // FRAME: a length hint only
      case '.': return true;
      case '(': marks_.push_back(stack_.size()); break;
      case '0': pop(); break;
      case '1': pop_mark(); break;
      case '2': push(top()); break;
      case 'N': push(make_none()); break;
      case 0x88: push(make_bool(true)); break;
      case 0x89: push(make_bool(false)); break;
      case 'I': {
        std::string s = line();
        if (s == "00") push(make_bool(false));
        else if (s == "01") push(make_bool(true));
        else push(make_int(parse_int(s)));
        break;
      }
      case 'J': push(make_int(static_cast<int32_t>(le(4)))); break;
      case 'K': push(make_int(static_cast<int64_t>(le(1)))); break;
      case 'M': push(make_int(static_cast<int64_t>(le(2)))); break;
      case 'L': push(make_int(parse_int(line()))); break;
      case 0x8a: push(make_int(long_bytes(le(1)))); break;
      case 0x8b: { int32_t n = static_cast<int32_t>(le(4)); if (n < 0) fail("negative LONG4 length"); push(make_int(long_bytes(n))); break; }
      case 'F': {
        std::string s = line();
        try { push(make_float(std::stod(s))); } catch (const std::exception&) { fail("float '" + s + "' unreadable"); }
        break;
      }
      case 'G': {
        need(8);
        uint64_t v = 0;
        for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(d_[p_ + i]);  // big-endian
        p_ += 8;
        double f;
        std::memcpy(&f, &v, 8);
        push(make_float(f));
        break;
      }
      case 'S': push(make_str(quoted(line()))); break;
      case 'T': { int32_t n = static_cast<int32_t>(le(4)); if (n < 0) fail("negative length"); push(make_str(bytes(n))); break; }
      case 'U': push(make_str(bytes(le(1)))); break;
      case 'V': push(make_str(raw_unicode_escape(line()))); break;
      case 'X': push(make_str(bytes(le(4)))); break;
      case 0x8c: push(make_str(bytes(le(1)))); break;
      case 0x8d: push(make_str(bytes(le(8)))); break;
      case 'B': case 'C': case 0x8e: case 0x96: {
        uint64_t n = op_ == 'B' ? le(4) : op_ == 'C' ? le(1) : le(8);
        auto v = make(Kind::Bytes);
        v->s = bytes(n);
        push(v);
        break;
      }
      case ']': push(make(Kind::List)); break;
      case ')': push(make(Kind::Tuple)); break;
      case '}': push(make(Kind::Dict)); break;
      case 0x8f: push(make(Kind::Set)); break;
      case 'l': push(seq(Kind::List, pop_mark())); break;
      case 't': push(seq(Kind::Tuple, pop_mark())); break;
      case 0x91: push(seq(Kind::Set, pop_mark())); break;
      case 0x85: { auto a = pop(); push(seq(Kind::Tuple, {a})); break; }
      case 0x86: { auto b = pop(), a = pop(); push(seq(Kind::Tuple, {a, b})); break; }
      case 0x87: { auto c = pop(), b = pop(), a = pop(); push(seq(Kind::Tuple, {a, b, c})); break; }
      case 'a': {
        auto v = pop();
        auto& l = top();
        if (!l->is(Kind::List)) fail("APPEND to a " + l->type_name());
        mutated(l);
        l->items.push_back(std::move(v));
        break;
      }
      case 'e': case 0x90: {
        auto items = pop_mark();
        auto& l = top();
        if (!l->is(op_ == 'e' ? Kind::List : Kind::Set)) fail("APPENDS/ADDITEMS to a " + l->type_name());
        mutated(l);
        for (auto& v : items) l->items.push_back(std::move(v));
        break;
      }
      case 'd': {
        auto items = pop_mark();
        if (items.size() % 2) fail("DICT with an odd number of items");
        auto dct = make(Kind::Dict);
        for (size_t k = 0; k < items.size(); k += 2) dicts_.set(dct, items[k], items[k + 1]);
        push(dct);
        break;
      }
      case 's': {
        auto v = pop(), k = pop();
        auto& dct = top();
        if (!dct->is(Kind::Dict) && !dct->is(Kind::Object)) fail("SETITEM on a " + dct->type_name());
        mutated(dct);
        dicts_.set(dct, k, v);
        break;
      }
      case 'u': {
        auto items = pop_mark();
        if (items.size() % 2) fail("SETITEMS with an odd number of items");
        auto& dct = top();
        if (!dct->is(Kind::Dict) && !dct->is(Kind::Object)) fail("SETITEMS on a " + dct->type_name());
        mutated(dct);
        for (size_t k = 0; k < items.size(); k += 2) dicts_.set(dct, items[k], items[k + 1]);
        break;
      }
      case 'c': { std::string m = line(); std::string n = line(); push(global(m, n)); break; }
      case 0x93: {
        auto n = pop(), m = pop();
        if (!m->is(Kind::Str) || !n->is(Kind::Str)) fail("STACK_GLOBAL needs two strings");
        push(global(m->s, n->s));
        break;
      }
      case 'R': case 0x81: { auto args = pop(), fn = pop(); push(call(fn, args)); break; }
      case 0x92: { pop(); auto args = pop(), fn = pop(); push(call(fn, args)); break; }  // NEWOBJ_EX: kwargs unused
      case 'b': build(); break;
      case 'P': case 'Q': {
        PValuePtr pid = op_ == 'P' ? make_str(line()) : pop();
        if (!pl_) fail("persistent id found but this stream has no persistent storage");
        push(pl_(pid));
        break;
      }
      case 'p': memo_put(static_cast<uint64_t>(parse_int(line()))); break;
      case 'q': memo_put(le(1)); break;
      case 'r': memo_put(le(4)); break;
      case 0x94: memo_put(memo_.size()); break;
      case 'g': memo_get(static_cast<uint64_t>(parse_int(line()))); break;
      case 'h': memo_get(le(1)); break;
      case 'j': memo_get(le(4)); break;
      default:
        fail("unsupported opcode (INST/OBJ/EXT and unknown opcodes are refused); the file is not a YOLO checkpoint");
    }
    return false;
  }

  std::string_view d_;
  const std::string& label_;
  const PersistentLoad& pl_;
  size_t p_ = 0, op_pos_ = 0;
  unsigned char op_ = 0;
  std::vector<PValuePtr> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, PValuePtr> memo_;
  std::vector<PValuePtr> mutated_;  // values changed after creation: the only ones a cycle can run through
  DictIndex dicts_;
  size_t pushed_ = 0;
  bool ok_ = false;
};

}  // namespace

const PValuePtr* PValue::get(std::string_view key) const {
  if (kind != Kind::Dict && kind != Kind::Object) return nullptr;
  for (const auto& e : entries)
    if (e.first->kind == Kind::Str && e.first->s == key) return &e.second;
  return nullptr;
}

PValuePtr PValue::attr(std::string_view key) const {
  const PValue* d = kind == Kind::Object ? state.get() : this;
  if (!d) return nullptr;
  const PValuePtr* v = d->get(key);
  return v ? *v : nullptr;
}

std::string PValue::type_name() const {
  switch (kind) {
    case Kind::None: return "None";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Float: return "float";
    case Kind::Str: return "str";
    case Kind::Bytes: return "bytes";
    case Kind::List: return "list";
    case Kind::Tuple: return "tuple";
    case Kind::Set: return "set";
    case Kind::Dict: return "dict";
    case Kind::Global: return "class " + s;
    case Kind::Object: return s;
    case Kind::Tensor: return "tensor";
    case Kind::Storage: return "storage";
  }
  return "?";
}

bool pickle_global_allowed(const std::string& module, const std::string& name) {
  if (name.empty() || name.find_first_of(" \t\r\n") != std::string::npos) return false;
  const std::string full = module + "." + name;
  if (exact_allow().count(full)) return true;
  for (const char* p : kAllowedPrefixes)
    if (full.rfind(p, 0) == 0 && name.find('.') == std::string::npos && name[0] >= 'A' && name[0] <= 'Z') return true;
  return false;
}

PValuePtr unpickle(std::string_view data, const std::string& label, const PersistentLoad& persistent_load) {
  return Unpickler(data, label, persistent_load).run();
}

}  // namespace yolocpp::io
