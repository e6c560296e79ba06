// Writing torch.save files without Python: a pickle protocol-2 opcode emitter and the archive around it.
//
// PickleWriter appends opcodes to a byte string; the caller drives it like a stack machine (push values,
// then TUPLE/SETITEMS/REDUCE/BUILD), which is how the Python pickler itself lays objects out. Nothing here
// needs an unpickler. TorchArchive adds torch's conventions: a tensor is
// `torch._utils._rebuild_tensor_v2(<persistent storage>, offset, size, stride, requires_grad, OrderedDict())`
// with the storage as a persistent id ('storage', torch.<T>Storage, key, 'cpu', numel) whose bytes go to
// `<root>/data/<key>`; the archive holds `<root>/data.pkl`, `<root>/byteorder`, the records and
// `<root>/version` ("3"), as torch.save writes them.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace yolocpp::io {

class PickleWriter {
 public:
  PickleWriter();  // starts with PROTO 2

  void none();
  void boolean(bool v);
  void integer(int64_t v);
  void real(double v);
  void str(std::string_view s);
  // GLOBAL 'module\nname\n', memoised: a second use of the same global is a BINGET.
  void global(const std::string& module, const std::string& name);

  void mark();
  void empty_tuple();
  void tuple(size_t n);  // the last n values (n <= 3) or, with n > 3, everything since the last mark()
  void tuple_from_mark();
  void empty_list();
  void appends();  // list items since the last mark() onto the list below the mark
  void empty_dict();
  void setitems();  // key/value pairs since the last mark() into the dict below the mark
  void reduce();    // callable, args tuple -> callable(*args)
  void newobj();    // cls, args tuple -> cls.__new__(cls, *args)
  void build();     // object, state -> object with state applied
  void binpersid();

  // Stores the top of the stack under a fresh memo index (returned); get() pushes it again, so one Python
  // object can be referenced from several places (pickle keeps object identity this way).
  uint32_t put();
  void get(uint32_t index);

  // collections.OrderedDict() on the stack; follow with mark() ... setitems() to fill it.
  void ordered_dict();
  // An empty `set()` as `__builtin__.set([])` (protocol 2 has no set opcodes).
  void empty_set();

  std::string finish();  // appends STOP and returns the stream

 private:
  void op(unsigned char c) { out_.push_back(static_cast<char>(c)); }
  void le(uint64_t v, int n);
  std::string out_;
  uint32_t next_memo_ = 0;
  std::map<std::string, uint32_t> globals_;
};

// Builds one torch.save archive: the pickle stream plus the storages its tensors reference.
class TorchArchive {
 public:
  PickleWriter& pickle() { return w_; }
  // Pushes a tensor rebuilt from its own storage (a contiguous CPU copy). parameter=true wraps it in
  // torch._utils._rebuild_parameter, as nn.Parameter values in a module's _parameters are pickled.
  void tensor(const torch::Tensor& t, bool requires_grad = false, bool parameter = false);
  // The complete zip (torch.save layout, records under `root`/).
  std::string finish(const std::string& root = "archive");

 private:
  PickleWriter w_;
  std::vector<torch::Tensor> storages_;
};

}  // namespace yolocpp::io
