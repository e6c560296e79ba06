#include "yolocpp/train/optim.hpp"

#include <cmath>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "yolocpp/train/schedule.hpp"
#include "yolocpp/util/error.hpp"

namespace yolocpp::engine {

ParamGroups split_param_groups(torch::nn::Module& model) {
  ParamGroups g;
  std::set<const void*> seen;  // a parameter shared by two modules belongs to the first one walked
  for (const auto& m : model.named_modules("", /*include_self=*/true)) {
    const bool is_bn = dynamic_cast<torch::nn::BatchNorm2dImpl*>(m.value().get()) != nullptr ||
                       dynamic_cast<torch::nn::BatchNorm1dImpl*>(m.value().get()) != nullptr;
    for (const auto& p : m.value()->named_parameters(/*recurse=*/false)) {
      if (!seen.insert(p.value().unsafeGetTensorImpl()).second) continue;
      const std::string full = m.key().empty() ? p.key() : m.key() + "." + p.key();
      const int k = full.find("bias") != std::string::npos ? 0 : (is_bn ? 2 : 1);
      g.names[k].push_back(full);
      g.params[k].push_back(p.value());
    }
  }
  return g;
}

OptimizerChoice choose_optimizer(const std::string& requested, double lr0, double momentum, int nc,
                                 int64_t n_images, int batch, int nbs, int epochs) {
  OptimizerChoice c;
  std::string name = requested;
  if (name == "auto") {
    c.automatic = true;
    const int64_t per = std::max(batch, nbs);
    c.iterations = (n_images + per - 1) / per * epochs;
    if (c.iterations > 10000) {
      c.name = "SGD", c.lr = 0.01, c.momentum = 0.9;
    } else {
      c.name = "AdamW", c.momentum = 0.9;
      c.lr = round_half_even(0.002 * 5.0 / (4.0 + nc) * 1e6) / 1e6;
    }
    return c;
  }
  std::string low;
  for (char ch : name) low += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (low == "sgd") c.name = "SGD";
  else if (low == "adam") c.name = "Adam";
  else if (low == "adamw") c.name = "AdamW";
  else if (low == "rmsprop") c.name = "RMSProp";
  else
    throw ConfigError("optimizer=" + requested +
                      " is not available in this build; use optimizer=auto, SGD, Adam, AdamW or RMSProp");
  c.lr = lr0;
  c.momentum = momentum;
  return c;
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimizerChoice& c, const ParamGroups& g, double decay) {
  const std::array<double, 3> wd{0.0, decay, 0.0};
  auto groups = [&](auto make_options) {
    std::vector<torch::optim::OptimizerParamGroup> out;
    for (size_t k = 0; k < 3; ++k) out.emplace_back(g.params[k], make_options(wd[k]));
    return out;
  };
  if (c.name == "SGD") {
    auto opts = [&](double w) {
      return std::make_unique<torch::optim::SGDOptions>(
          torch::optim::SGDOptions(c.lr).momentum(c.momentum).nesterov(true).weight_decay(w));
    };
    return std::make_unique<torch::optim::SGD>(groups(opts), *opts(0.0));
  }
  if (c.name == "Adam") {
    auto opts = [&](double w) {
      return std::make_unique<torch::optim::AdamOptions>(
          torch::optim::AdamOptions(c.lr).betas({c.momentum, 0.999}).weight_decay(w));
    };
    return std::make_unique<torch::optim::Adam>(groups(opts), *opts(0.0));
  }
  if (c.name == "AdamW") {
    auto opts = [&](double w) {
      return std::make_unique<torch::optim::AdamWOptions>(
          torch::optim::AdamWOptions(c.lr).betas({c.momentum, 0.999}).weight_decay(w));
    };
    return std::make_unique<torch::optim::AdamW>(groups(opts), *opts(0.0));
  }
  if (c.name == "RMSProp") {
    auto opts = [&](double w) {
      return std::make_unique<torch::optim::RMSpropOptions>(
          torch::optim::RMSpropOptions(c.lr).momentum(c.momentum).weight_decay(w));
    };
    return std::make_unique<torch::optim::RMSprop>(groups(opts), *opts(0.0));
  }
  throw ConfigError("optimizer=" + c.name + " is not available; use SGD, Adam, AdamW or RMSProp");
}

std::string py_float(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  std::string s = fmt::format("{}", v);  // shortest round-trip, like repr()
  // repr() uses scientific notation below 1e-4 and from 1e16.
  const double a = std::fabs(v);
  if (a != 0 && (a < 1e-4 || a >= 1e16)) {
    std::string e = fmt::format("{:e}", v);
    // shortest mantissa: reformat with the precision fmt chose for the plain form
    for (int p = 0; p < 17; ++p) {
      std::string t = fmt::format("{:.{}e}", v, p);
      if (std::stod(t) == v) { e = t; break; }
    }
    // Python writes 1e-05, fmt writes 1e-05 too; keep as is.
    return e;
  }
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

std::string optimizer_line(const OptimizerChoice& c, const ParamGroups& g, double decay) {
  return fmt::format("optimizer: {}(lr={}, momentum={}) with parameter groups {} weight(decay=0.0), {} weight(decay={}), "
                     "{} bias(decay=0.0)",
                     c.name, py_float(c.lr), py_float(c.momentum), g.params[2].size(), g.params[1].size(),
                     py_float(decay), g.params[0].size());
}

std::string auto_optimizer_line(double lr0, double momentum) {
  return fmt::format("optimizer: 'optimizer=auto' found, ignoring 'lr0={}' and 'momentum={}' and determining best "
                     "'optimizer', 'lr0' and 'momentum' automatically... ",
                     py_float(lr0), py_float(momentum));
}

double group_lr(torch::optim::Optimizer& opt, size_t group) { return opt.param_groups().at(group).options().get_lr(); }

void set_group_lr(torch::optim::Optimizer& opt, size_t group, double lr) {
  opt.param_groups().at(group).options().set_lr(lr);
}

bool has_momentum(torch::optim::Optimizer& opt, size_t group) {
  auto& o = opt.param_groups().at(group).options();
  return dynamic_cast<torch::optim::SGDOptions*>(&o) || dynamic_cast<torch::optim::RMSpropOptions*>(&o);
}

void set_group_momentum(torch::optim::Optimizer& opt, size_t group, double momentum) {
  auto& o = opt.param_groups().at(group).options();
  if (auto* s = dynamic_cast<torch::optim::SGDOptions*>(&o)) s->momentum(momentum);
  else if (auto* r = dynamic_cast<torch::optim::RMSpropOptions*>(&o)) r->momentum(momentum);
}

namespace {

std::string state_key(const torch::Tensor& p) { return c10::guts::to_string(p.unsafeGetTensorImpl()); }

}  // namespace

std::optional<io::OptimizerState> export_torch_optimizer_state(torch::optim::Optimizer& opt) {
  io::OptimizerState st;
  int64_t index = 0;
  for (auto& g : opt.param_groups()) {
    io::OptimizerParamGroup pg;
    auto& o = g.options();
    if (auto* s = dynamic_cast<torch::optim::SGDOptions*>(&o)) {
      pg.values = {{"lr", s->lr()}, {"momentum", s->momentum()}, {"dampening", s->dampening()},
                   {"weight_decay", s->weight_decay()}};
      pg.flags = {{"nesterov", s->nesterov()}, {"maximize", false}, {"differentiable", false}};
    } else if (auto* a = dynamic_cast<torch::optim::AdamOptions*>(&o)) {
      pg.values = {{"lr", a->lr()}, {"betas.0", std::get<0>(a->betas())}, {"betas.1", std::get<1>(a->betas())},
                   {"eps", a->eps()}, {"weight_decay", a->weight_decay()}};
      pg.flags = {{"amsgrad", a->amsgrad()}, {"maximize", false}, {"capturable", false}, {"differentiable", false}};
    } else if (auto* w = dynamic_cast<torch::optim::AdamWOptions*>(&o)) {
      pg.values = {{"lr", w->lr()}, {"betas.0", std::get<0>(w->betas())}, {"betas.1", std::get<1>(w->betas())},
                   {"eps", w->eps()}, {"weight_decay", w->weight_decay()}};
      pg.flags = {{"amsgrad", w->amsgrad()}, {"maximize", false}, {"capturable", false}, {"differentiable", false}};
    } else {
      return std::nullopt;
    }
    for (const auto& p : g.params()) {
      pg.params.push_back(index);
      auto it = opt.state().find(state_key(p));
      if (it != opt.state().end()) {
        auto& slot = st.state[index];
        if (auto* s = dynamic_cast<torch::optim::SGDParamState*>(it->second.get())) {
          if (s->momentum_buffer().defined()) slot["momentum_buffer"] = s->momentum_buffer().to(torch::kCPU);
        } else if (auto* a = dynamic_cast<torch::optim::AdamParamState*>(it->second.get())) {
          slot["step"] = torch::tensor(static_cast<float>(a->step()));
          slot["exp_avg"] = a->exp_avg().to(torch::kCPU);
          slot["exp_avg_sq"] = a->exp_avg_sq().to(torch::kCPU);
        } else if (auto* w = dynamic_cast<torch::optim::AdamWParamState*>(it->second.get())) {
          slot["step"] = torch::tensor(static_cast<float>(w->step()));
          slot["exp_avg"] = w->exp_avg().to(torch::kCPU);
          slot["exp_avg_sq"] = w->exp_avg_sq().to(torch::kCPU);
        }
        if (slot.empty()) st.state.erase(index);
      }
      ++index;
    }
    st.param_groups.push_back(std::move(pg));
  }
  return st;
}

void import_torch_optimizer_state(torch::optim::Optimizer& opt, const io::OptimizerState& st, const std::string& label) {
  auto& groups = opt.param_groups();
  if (st.param_groups.size() != groups.size())
    throw ConfigError(fmt::format("{}: its optimizer has {} parameter groups, this run has {}; it cannot be resumed "
                                  "(start a new run with model={})", label, st.param_groups.size(), groups.size(), label));
  auto value = [](const io::OptimizerParamGroup& g, const char* k, double fallback) {
    auto it = g.values.find(k);
    return it == g.values.end() ? fallback : it->second;
  };
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    const auto& sg = st.param_groups[gi];
    auto& g = groups[gi];
    if (sg.params.size() != g.params().size())
      throw ConfigError(fmt::format("{}: optimizer group {} has {} parameters, this model {}; it cannot be resumed", label,
                                    gi, sg.params.size(), g.params().size()));
    auto& o = g.options();
    o.set_lr(value(sg, "lr", o.get_lr()));
    if (auto* s = dynamic_cast<torch::optim::SGDOptions*>(&o)) {
      s->momentum(value(sg, "momentum", s->momentum())).weight_decay(value(sg, "weight_decay", s->weight_decay()));
    } else if (auto* a = dynamic_cast<torch::optim::AdamOptions*>(&o)) {
      a->weight_decay(value(sg, "weight_decay", a->weight_decay()));
      a->betas({value(sg, "betas.0", std::get<0>(a->betas())), value(sg, "betas.1", std::get<1>(a->betas()))});
    } else if (auto* w = dynamic_cast<torch::optim::AdamWOptions*>(&o)) {
      w->weight_decay(value(sg, "weight_decay", w->weight_decay()));
      w->betas({value(sg, "betas.0", std::get<0>(w->betas())), value(sg, "betas.1", std::get<1>(w->betas()))});
    }
    for (size_t j = 0; j < sg.params.size(); ++j) {
      const torch::Tensor& p = g.params()[j];
      auto it = st.state.find(sg.params[j]);
      if (it == st.state.end()) continue;
      auto get = [&](const char* k) -> torch::Tensor {
        auto t = it->second.find(k);
        if (t == it->second.end()) return {};
        if (t->second.sizes() != p.sizes() && t->second.dim() > 0)
          throw ConfigError(fmt::format("{}: optimizer state '{}' of parameter {} has shape {} but the model needs {}", label,
                                        k, sg.params[j], fmt::join(t->second.sizes(), "x"), fmt::join(p.sizes(), "x")));
        return t->second.dim() > 0 ? t->second.to(p.device(), p.scalar_type()).clone() : t->second;
      };
      if (dynamic_cast<torch::optim::SGDOptions*>(&o)) {
        auto s = std::make_unique<torch::optim::SGDParamState>();
        if (auto m = get("momentum_buffer"); m.defined()) s->momentum_buffer(m);
        opt.state()[state_key(p)] = std::move(s);
      } else if (dynamic_cast<torch::optim::AdamOptions*>(&o) || dynamic_cast<torch::optim::AdamWOptions*>(&o)) {
        auto ea = get("exp_avg"), eq = get("exp_avg_sq"), step = get("step");
        if (!ea.defined() || !eq.defined()) continue;
        const int64_t n = step.defined() ? static_cast<int64_t>(step.item<double>()) : 0;
        if (dynamic_cast<torch::optim::AdamOptions*>(&o)) {
          auto s = std::make_unique<torch::optim::AdamParamState>();
          s->step(n).exp_avg(ea).exp_avg_sq(eq);
          opt.state()[state_key(p)] = std::move(s);
        } else {
          auto s = std::make_unique<torch::optim::AdamWParamState>();
          s->step(n).exp_avg(ea).exp_avg_sq(eq);
          opt.state()[state_key(p)] = std::move(s);
        }
      }
    }
  }
}

std::string save_optimizer_state(torch::optim::Optimizer& opt) {
  torch::serialize::OutputArchive ar;
  opt.save(ar);
  std::ostringstream os;
  ar.save_to(os);
  return os.str();
}

void load_optimizer_state(torch::optim::Optimizer& opt, const std::string& bytes) {
  torch::serialize::InputArchive ar;
  std::istringstream is(bytes);
  ar.load_from(is);
  opt.load(ar);
}

torch::Tensor clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm) {
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> grads;
  for (const auto& p : params)
    if (p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return torch::zeros({});
  std::vector<torch::Tensor> norms;
  norms.reserve(grads.size());
  for (const auto& g : grads) norms.push_back(g.norm(2.0));
  torch::Tensor total = norms.size() == 1 ? norms[0] : torch::stack(norms).norm(2.0);
  torch::Tensor coef = (max_norm / (total + 1e-6)).clamp_max(1.0);
  for (auto& g : grads) g.mul_(coef);
  return total;
}

at::ScalarType parse_amp_dtype(const std::string& value) {
  std::string v;
  for (char ch : value) v += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (v == "float16" || v == "fp16" || v == "half") return at::kHalf;
  if (v == "bfloat16" || v == "bf16") return at::kBFloat16;
  throw ConfigError("amp_dtype=" + value + " is not an autocast dtype; use amp_dtype=float16 (fp16, half) or "
                    "amp_dtype=bfloat16 (bf16)");
}

AmpPlan plan_amp(bool amp, const std::string& amp_dtype, bool dtype_given, const torch::Device& device) {
  AmpPlan p;
  const at::ScalarType dt = parse_amp_dtype(amp_dtype);  // a bad value fails even when unused
  const char* name = dt == at::kHalf ? "float16" : "bfloat16";
  if (!amp) {
    p.line = "AMP: off (amp=False), training in float32";
  } else if (device.is_cuda()) {
    p.autocast = true;
    p.dtype = dt;
    p.scaled = dt == at::kHalf;
    p.line = p.scaled ? "AMP: CUDA float16 autocast with dynamic loss scaling (amp_dtype=float16)"
                      : "AMP: CUDA bfloat16 autocast, no loss scaling (amp_dtype=bfloat16)";
  } else if (dt == at::kBFloat16 && dtype_given) {
    // Upstream never autocasts on CPU; an explicit bf16 request opts in (bf16 needs no scaling).
    p.autocast = true;
    p.dtype = dt;
    p.line = "AMP: CPU bfloat16 autocast, no loss scaling (amp_dtype=bfloat16)";
  } else if (dtype_given) {
    p.line = fmt::format("AMP: off on {} (amp_dtype={}: CPU autocast is bfloat16 only; use amp_dtype=bfloat16)",
                         device.str(), name);
  } else {
    p.line = fmt::format("AMP: off on {} (amp=True autocasts on CUDA only; add amp_dtype=bfloat16 for CPU bf16 "
                         "autocast)",
                         device.str());
  }
  return p;
}

GradScaler::GradScaler(bool enabled, double init_scale, double growth_factor, double backoff_factor,
                       int64_t growth_interval)
    : enabled_(enabled), init_scale_(init_scale), growth_(growth_factor), backoff_(backoff_factor),
      interval_(growth_interval) {}

void GradScaler::ensure_state(const torch::Device& device) {
  if (scale_.defined() && scale_.device() == device) return;
  if (scale_.defined()) {  // moved (never happens in training; keeps the state if it does)
    scale_ = scale_.to(device), tracker_ = tracker_.to(device), found_inf_ = found_inf_.to(device);
    return;
  }
  auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  scale_ = torch::full({1}, init_scale_, f32);
  tracker_ = torch::zeros({1}, torch::TensorOptions().dtype(torch::kInt32).device(device));
  found_inf_ = torch::zeros({1}, f32);
}

torch::Tensor GradScaler::scale(const torch::Tensor& loss) {
  if (!enabled_) return loss;
  ensure_state(loss.device());
  return loss * scale_.squeeze(0).to(loss.scalar_type());  // 0-dim: the loss keeps its shape
}

void GradScaler::unscale_(const std::vector<torch::Tensor>& params) {
  if (!enabled_) return;  // upstream's disabled scaler steps unconditionally
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> grads;
  for (const auto& p : params)
    if (p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return;
  ensure_state(grads[0].device());
  // The reciprocal in double then float, as torch.cuda.amp.GradScaler computes inv_scale.
  torch::Tensor inv = scale_.to(torch::kFloat64).reciprocal().to(torch::kFloat32);
  if (scale_.is_cuda()) {
    at::_amp_foreach_non_finite_check_and_unscale_(grads, found_inf_, inv);
    return;
  }
  // CPU: LibTorch 1.13 registers these two ops for CUDA only. Same result with plain ops.
  torch::Tensor bad = torch::zeros({1}, torch::kBool);
  for (auto& g : grads) {
    g.mul_(inv);
    bad.logical_or_(torch::isfinite(g).all().logical_not());
  }
  found_inf_.copy_(bad.to(torch::kFloat32));
}

bool GradScaler::grads_finite() const {
  if (!enabled_ || !found_inf_.defined()) return true;
  return found_inf_.item<float>() == 0.0f;  // the step's one device->host read
}

void GradScaler::update() {
  if (!enabled_ || !scale_.defined()) return;
  torch::NoGradGuard ng;
  if (scale_.is_cuda()) {
    at::_amp_update_scale_(scale_, tracker_, found_inf_, growth_, backoff_, interval_);
  } else {
    const bool inf = found_inf_.item<float>() != 0.0f;
    const float s = scale_.item<float>();
    const int64_t t = tracker_.item<int32_t>();
    if (inf) {
      scale_.fill_(s * static_cast<float>(backoff_));
      tracker_.fill_(0);
    } else if (t + 1 >= interval_) {
      // As the CUDA kernel: growth only while the grown scale stays finite.
      const float grown = s * static_cast<float>(growth_);
      if (std::isfinite(grown)) scale_.fill_(grown);
      tracker_.fill_(0);
    } else {
      tracker_.fill_(t + 1);
    }
  }
  found_inf_.zero_();
}

double GradScaler::get_scale() const {
  if (!enabled_) return 1.0;
  return scale_.defined() ? static_cast<double>(scale_.item<float>()) : init_scale_;
}

int64_t GradScaler::growth_tracker() const { return tracker_.defined() ? tracker_.item<int32_t>() : 0; }

}  // namespace yolocpp::engine
