#include "yolocpp/engine/optim.hpp"

#include <cmath>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "yolocpp/engine/schedule.hpp"
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

GradScaler::GradScaler(bool enabled, double init_scale, double growth_factor, double backoff_factor,
                       int64_t growth_interval)
    : enabled_(enabled), scale_(init_scale), growth_(growth_factor), backoff_(backoff_factor),
      interval_(growth_interval) {}

torch::Tensor GradScaler::scale(const torch::Tensor& loss) const { return enabled_ ? loss * scale_ : loss; }

bool GradScaler::unscale(const std::vector<torch::Tensor>& params) const {
  if (!enabled_) return false;  // upstream's disabled scaler steps unconditionally
  bool found_inf = false;
  torch::NoGradGuard ng;
  for (const auto& p : params) {
    if (!p.grad().defined()) continue;
    auto g = p.mutable_grad();
    g.mul_(1.0 / scale_);
    if (!found_inf && !torch::isfinite(g).all().item<bool>()) found_inf = true;
  }
  return found_inf;
}

void GradScaler::update(bool found_inf) {
  if (!enabled_) return;
  if (found_inf) {
    scale_ *= backoff_;
    tracker_ = 0;
  } else if (++tracker_ >= interval_) {
    scale_ *= growth_;
    tracker_ = 0;
  }
}

}  // namespace yolocpp::engine
