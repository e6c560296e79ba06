#include "yolocpp/predict/backend_ocv.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>

#include <fmt/format.h>
#include <opencv2/dnn.hpp>

#include "yolocpp/util/error.hpp"
#include "yolocpp/util/fs.hpp"
#include "yolocpp/util/limits.hpp"
#include "yolocpp/util/log.hpp"

namespace yolocpp::engine {

namespace {

// Protocol-buffer wire format, only as much as reading a few ModelProto fields needs. Pulling in the
// generated ONNX classes here would drag protobuf into every program that links the Detector.
struct Reader {
  const uint8_t* p;
  const uint8_t* end;
  const std::string* path;

  [[noreturn]] void bad() const {
    throw ModelError("'" + *path + "' is not a valid ONNX model (truncated or not a protobuf); re-export it with "
                     "`yolocpp export model=best.pt format=onnx`");
  }
  bool done() const { return p >= end; }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p >= end) bad();
      const uint8_t b = *p++;
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    bad();
  }
  // Next field: number and wire type; for length-delimited fields `sub` spans the payload.
  bool next(uint32_t& field, uint32_t& wire, Reader& sub) {
    if (done()) return false;
    const uint64_t key = varint();
    field = static_cast<uint32_t>(key >> 3);
    wire = static_cast<uint32_t>(key & 7);
    switch (wire) {
      case 0: sub = {p, p, path}; sub_value = varint(); break;
      case 1: if (end - p < 8) bad(); p += 8; break;
      case 5: if (end - p < 4) bad(); p += 4; break;
      case 2: {
        const uint64_t n = varint();
        if (n > static_cast<uint64_t>(end - p)) bad();
        sub = {p, p + n, path};
        p += n;
        break;
      }
      default: bad();
    }
    return true;
  }
  std::string str() const { return std::string(reinterpret_cast<const char*>(p), end - p); }
  uint64_t sub_value = 0;  // the value of the last varint field
};

std::vector<int64_t> read_value_info_shape(Reader vi, std::string* name) {
  std::vector<int64_t> shape;
  uint32_t f, w;
  Reader sub{};
  while (vi.next(f, w, sub)) {
    if (f == 1 && w == 2) *name = sub.str();
    if (f != 2 || w != 2) continue;  // TypeProto
    Reader tp = sub, tsub{};
    while (tp.next(f, w, tsub)) {
      if (f != 1 || w != 2) continue;  // tensor_type
      Reader tt = tsub, ssub{};
      while (tt.next(f, w, ssub)) {
        if (f != 2 || w != 2) continue;  // shape
        Reader sh = ssub, dsub{};
        while (sh.next(f, w, dsub)) {
          if (f != 1 || w != 2) continue;  // dim
          int64_t v = -1;
          Reader d = dsub, vsub{};
          while (d.next(f, w, vsub))
            if (f == 1 && w == 0) v = static_cast<int64_t>(d.sub_value);
          shape.push_back(v);
        }
      }
    }
  }
  return shape;
}

// Python-literal scanner for the metadata values Ultralytics writes with str(): ints, quoted strings.
struct Lit {
  const std::string& s;
  size_t i = 0;
  void ws() { while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i; }
  [[noreturn]] void fail(const std::string& what) const {
    throw ModelError(fmt::format("ONNX metadata 'names' is not a Python dict literal ({} at character {}): {}", what, i,
                                 s.substr(0, 120)));
  }
  bool eat(char c) { ws(); if (i < s.size() && s[i] == c) { ++i; return true; } return false; }
  long integer() {
    ws();
    size_t j = i;
    if (j < s.size() && (s[j] == '-' || s[j] == '+')) ++j;
    while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
    if (j == i) fail("expected an integer key");
    long v = 0;
    for (size_t k = i; k < j; ++k) {
      if (s[k] == '-' || s[k] == '+') continue;
      v = v * 10 + (s[k] - '0');
      if (v >= util::kMaxClasses) break;
    }
    if (s[i] == '-') v = -v;
    // Bounded here: the names list is sized from the largest key.
    if (v < 0 || v >= util::kMaxClasses) fail(fmt::format("class id outside 0..{}", util::kMaxClasses - 1));
    i = j;
    return v;
  }
  std::string quoted() {
    ws();
    if (i >= s.size() || (s[i] != '\'' && s[i] != '"')) fail("expected a quoted name");
    const char q = s[i++];
    std::string out;
    while (i < s.size() && s[i] != q) {
      char c = s[i++];
      if (c == '\\' && i < s.size()) {
        const char e = s[i++];
        switch (e) {
          case 'n': c = '\n'; break;
          case 't': c = '\t'; break;
          case 'r': c = '\r'; break;
          case 'x': {
            auto hex = [](char h) { return std::isxdigit(static_cast<unsigned char>(h)) ? (h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10) : -1; };
            if (i + 2 > s.size() || hex(s[i]) < 0 || hex(s[i + 1]) < 0) fail("bad \\x escape");
            c = static_cast<char>(hex(s[i]) * 16 + hex(s[i + 1]));
            i += 2;
            break;
          }
          default: c = e;  // \\ \' \" stand for themselves
        }
      }
      out += c;
    }
    if (i >= s.size()) fail("unterminated string");
    ++i;
    return out;
  }
};

}  // namespace

const std::string* OnnxInfo::meta(const std::string& key) const {
  for (const auto& kv : metadata)
    if (kv.first == key) return &kv.second;
  return nullptr;
}

OnnxInfo read_onnx_info(const std::string& path) {
  if (!std::filesystem::is_regular_file(path))
    throw ModelError("model file '" + path + "' does not exist; export one with `yolocpp export model=best.pt format=onnx`");
  const std::string bytes = util::read_file(path);
  OnnxInfo info;
  Reader r{reinterpret_cast<const uint8_t*>(bytes.data()), reinterpret_cast<const uint8_t*>(bytes.data()) + bytes.size(),
           &path};
  uint32_t f, w;
  Reader sub{};
  bool has_graph = false;
  std::vector<std::pair<std::string, std::vector<int64_t>>> inputs;
  while (r.next(f, w, sub)) {
    if (f == 14 && w == 2) {  // metadata_props
      std::string k, v;
      Reader e = sub, es{};
      while (e.next(f, w, es)) {
        if (f == 1 && w == 2) k = es.str();
        if (f == 2 && w == 2) v = es.str();
      }
      info.metadata.emplace_back(k, v);
    } else if (f == 7 && w == 2) {  // graph
      has_graph = true;
      Reader g = sub, gs{};
      while (g.next(f, w, gs)) {
        if (f == 11 && w == 2) {
          std::string name;
          auto shape = read_value_info_shape(gs, &name);
          inputs.emplace_back(name, shape);
        } else if (f == 12 && w == 2 && info.output_name.empty()) {
          info.output_shape = read_value_info_shape(gs, &info.output_name);
        }
      }
    }
  }
  if (!has_graph || inputs.empty())
    throw ModelError("'" + path + "' holds no ONNX graph with an input; is it an ONNX model exported from a .pt?");
  // IR < 4 graphs list initializers as inputs too; the image input is `images` (or the first one).
  info.input_name = inputs[0].first;
  info.input_shape = inputs[0].second;
  for (const auto& in : inputs)
    if (in.first == "images") { info.input_name = in.first; info.input_shape = in.second; }
  return info;
}

std::map<int, std::string> parse_names_literal(const std::string& text) {
  Lit l{text};
  std::map<int, std::string> out;
  if (!l.eat('{')) l.fail("expected '{'");
  if (l.eat('}')) return out;
  do {
    const long k = l.integer();
    if (!l.eat(':')) l.fail("expected ':'");
    out[static_cast<int>(k)] = l.quoted();
  } while (l.eat(','));
  if (!l.eat('}')) l.fail("expected '}'");
  return out;
}

struct OpenCvBackend::Net {
  cv::dnn::Net net;
};

OpenCvBackend::OpenCvBackend(const std::string& path, const std::string& device) : info_(read_onnx_info(path)) {
  if (!device.empty() && device != "cpu")
    log::warn("the OpenCV DNN backend runs on the CPU in this build; device={} is ignored", device);
  net_ = std::make_unique<Net>();
  try {
    net_->net = cv::dnn::readNetFromONNX(path);
  } catch (const cv::Exception& e) {
    throw ModelError(fmt::format("OpenCV DNN cannot load '{}': {}. Export it with `yolocpp export format=onnx` (graphs "
                                 "OpenCV 4.6 can run) or use the .pt with backend=LibTorch",
                                 path, e.what()));
  }
  if (net_->net.empty()) throw ModelError("OpenCV DNN loaded an empty network from '" + path + "'");
  // OpenCV 4.6's layer fusion rewrites the C2PSA attention (4-D MatMul/Softmax/Transpose) wrongly: with it on,
  // boxes move by ~60-100 px; with it off every node matches LibTorch at float noise (tests/export, tests/predict).
  net_->net.enableFusion(false);
  net_->net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
  net_->net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);

  if (const auto* s = info_.meta("stride")) {
    char* end = nullptr;
    const long v = std::strtol(s->c_str(), &end, 10);
    if (end != s->c_str() && *end == '\0' && v >= 1 && v <= 1024) stride_ = static_cast<int>(v);
    else log::warn("{}: ignoring metadata stride '{}'", path, s->substr(0, 40));
  }
  const auto& in = info_.input_shape;
  if (in.size() != 4) throw ModelError(fmt::format("'{}': the input must be [B,3,H,W], the graph has {} dims", path, in.size()));
  if (in[2] > 0 && in[3] > 0) fixed_ = Shape2{in[2], in[3]};
  max_batch_ = in[0] > 0 ? static_cast<int>(in[0]) : 0;

  int nc = -1;
  if (info_.output_shape.size() == 3 && info_.output_shape[1] > 4)
    nc = static_cast<int>(std::min<int64_t>(info_.output_shape[1] - 4, util::kMaxClasses + 1));
  if (nc > util::kMaxClasses)
    throw ModelError(fmt::format("'{}': the output declares more than {} classes; the file is damaged", path,
                                 util::kMaxClasses));
  if (const auto* n = info_.meta("names")) {
    std::map<int, std::string> m;
    try {
      m = parse_names_literal(*n);
    } catch (const ModelError& e) {
      throw ModelError("'" + path + "': " + e.what());
    }
    const int count = m.empty() ? 0 : m.rbegin()->first + 1;
    for (int c = 0; c < count; ++c) names_.push_back(m.count(c) ? m[c] : std::to_string(c));
  }
  if (names_.empty() && nc > 0)
    for (int c = 0; c < nc; ++c) names_.push_back(std::to_string(c));
  if (nc > 0 && static_cast<int>(names_.size()) != nc)
    throw ModelError(fmt::format("'{}': metadata names has {} classes but the output has {}", path, names_.size(), nc));
}

OpenCvBackend::~OpenCvBackend() = default;

torch::Tensor OpenCvBackend::forward(const torch::Tensor& x_in) {
  torch::Tensor x = x_in.to(torch::kCPU, torch::kFloat32).contiguous();
  const int64_t b = x.size(0);
  if (max_batch_ > 0 && b < max_batch_) {  // a fixed-batch graph: pad with empty images, drop their rows after
    x = torch::cat({x, torch::zeros({max_batch_ - b, x.size(1), x.size(2), x.size(3)})}).contiguous();
  }
  const int sizes[4] = {static_cast<int>(x.size(0)), static_cast<int>(x.size(1)), static_cast<int>(x.size(2)),
                        static_cast<int>(x.size(3))};
  cv::Mat blob(4, sizes, CV_32F, x.data_ptr<float>());
  cv::Mat out;
  try {
    net_->net.setInput(blob, info_.input_name);
    // By name: forward() without one returns the last layer OpenCV created, not necessarily the graph output.
    out = info_.output_name.empty() ? net_->net.forward() : net_->net.forward(info_.output_name);
  } catch (const cv::Exception& e) {
    throw ModelError(std::string("OpenCV DNN forward failed: ") + e.what());
  }
  std::vector<int64_t> shape(out.size.p, out.size.p + out.dims);
  if (shape.size() != 3) throw ModelError(fmt::format("OpenCV DNN: expected a [B, 4+nc, A] output, got {} dims", shape.size()));
  cv::Mat cont = out.isContinuous() ? out : out.clone();
  auto y = torch::from_blob(cont.ptr<float>(), shape, torch::kFloat32).clone();
  if (y.size(0) > b) y = y.narrow(0, 0, b).contiguous();
  return y;
}

}  // namespace yolocpp::engine
