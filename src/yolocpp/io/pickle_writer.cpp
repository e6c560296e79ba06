#include "yolocpp/io/pickle_writer.hpp"

#include <cstring>

#include "yolocpp/io/zip.hpp"
#include "yolocpp/util/error.hpp"

namespace yolocpp::io {

PickleWriter::PickleWriter() {
  op(0x80);  // PROTO
  op(2);
}

void PickleWriter::le(uint64_t v, int n) {
  for (int i = 0; i < n; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void PickleWriter::none() { op('N'); }
void PickleWriter::boolean(bool v) { op(v ? 0x88 : 0x89); }  // NEWTRUE / NEWFALSE

void PickleWriter::integer(int64_t v) {
  if (v >= 0 && v < 256) {
    op('K');
    le(static_cast<uint64_t>(v), 1);
  } else if (v >= 0 && v < 65536) {
    op('M');
    le(static_cast<uint64_t>(v), 2);
  } else if (v >= INT32_MIN && v <= INT32_MAX) {
    op('J');
    le(static_cast<uint32_t>(static_cast<int32_t>(v)), 4);
  } else {
    op(0x8a);  // LONG1: little-endian two's complement, 8 bytes is always enough
    op(8);
    le(static_cast<uint64_t>(v), 8);
  }
}

void PickleWriter::real(double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, 8);
  op('G');  // BINFLOAT is big-endian
  for (int i = 7; i >= 0; --i) out_.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
}

void PickleWriter::str(std::string_view s) {
  op('X');  // BINUNICODE: 4-byte length, UTF-8 bytes
  le(s.size(), 4);
  out_.append(s);
}

void PickleWriter::global(const std::string& module, const std::string& name) {
  const std::string key = module + "\n" + name + "\n";
  if (auto it = globals_.find(key); it != globals_.end()) {
    get(it->second);
    return;
  }
  op('c');
  out_ += key;
  globals_[key] = put();
}

void PickleWriter::mark() { op('('); }
void PickleWriter::empty_tuple() { op(')'); }
void PickleWriter::tuple(size_t n) {
  if (n == 0) empty_tuple();
  else if (n == 1) op(0x85);
  else if (n == 2) op(0x86);
  else if (n == 3) op(0x87);
  else tuple_from_mark();
}
void PickleWriter::tuple_from_mark() { op('t'); }
void PickleWriter::empty_list() { op(']'); }
void PickleWriter::appends() { op('e'); }
void PickleWriter::empty_dict() { op('}'); }
void PickleWriter::setitems() { op('u'); }
void PickleWriter::reduce() { op('R'); }
void PickleWriter::newobj() { op(0x81); }
void PickleWriter::build() { op('b'); }
void PickleWriter::binpersid() { op('Q'); }

uint32_t PickleWriter::put() {
  const uint32_t i = next_memo_++;
  if (i < 256) {
    op('q');
    le(i, 1);
  } else {
    op('r');
    le(i, 4);
  }
  return i;
}

void PickleWriter::get(uint32_t i) {
  if (i < 256) {
    op('h');
    le(i, 1);
  } else {
    op('j');
    le(i, 4);
  }
}

void PickleWriter::ordered_dict() {
  global("collections", "OrderedDict");
  empty_tuple();
  reduce();
}

void PickleWriter::empty_set() {
  global("__builtin__", "set");
  empty_list();
  tuple(1);
  reduce();
}

std::string PickleWriter::finish() {
  op('.');
  return std::move(out_);
}

namespace {

const char* storage_class(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat: return "FloatStorage";
    case torch::kHalf: return "HalfStorage";
    case torch::kDouble: return "DoubleStorage";
    case torch::kBFloat16: return "BFloat16Storage";
    case torch::kLong: return "LongStorage";
    case torch::kInt: return "IntStorage";
    case torch::kShort: return "ShortStorage";
    case torch::kChar: return "CharStorage";
    case torch::kByte: return "ByteStorage";
    case torch::kBool: return "BoolStorage";
    default: throw ModelError(std::string("checkpoint writer: tensors of type ") + c10::toString(t) + " cannot be saved");
  }
}

}  // namespace

void TorchArchive::tensor(const torch::Tensor& t0, bool requires_grad, bool parameter) {
  torch::Tensor t = t0.detach().to(torch::kCPU).contiguous().clone();
  const std::string key = std::to_string(storages_.size());
  storages_.push_back(t);
  PickleWriter& w = w_;
  if (parameter) w.global("torch._utils", "_rebuild_parameter");
  w.global("torch._utils", "_rebuild_tensor_v2");
  w.mark();
  {
    w.mark();  // persistent id ('storage', class, key, location, numel)
    w.str("storage");
    w.global("torch", storage_class(t.scalar_type()));
    w.str(key);
    w.str("cpu");
    w.integer(t.numel());
    w.tuple_from_mark();
    w.binpersid();
  }
  w.integer(0);  // storage offset
  w.mark();
  for (int64_t s : t.sizes()) w.integer(s);
  w.tuple_from_mark();
  w.mark();
  for (int64_t s : t.strides()) w.integer(s);
  w.tuple_from_mark();
  w.boolean(parameter ? false : requires_grad);
  w.ordered_dict();  // backward hooks
  w.tuple_from_mark();
  w.reduce();
  if (parameter) {
    w.boolean(requires_grad);
    w.ordered_dict();
    w.tuple(3);
    w.reduce();
  }
}

std::string TorchArchive::finish(const std::string& root) {
  ZipWriter zw;
  zw.add(root + "/data.pkl", w_.finish());
  zw.add(root + "/byteorder", "little");
  for (size_t i = 0; i < storages_.size(); ++i) {
    const auto& t = storages_[i];
    zw.add(root + "/data/" + std::to_string(i),
           std::string_view(static_cast<const char*>(t.data_ptr()), static_cast<size_t>(t.numel()) * t.element_size()));
  }
  zw.add(root + "/version", "3\n");
  storages_.clear();
  return zw.finish();
}

}  // namespace yolocpp::io
