#include "yolocpp/loss/box_ops.hpp"

#include <cmath>

#include "yolocpp/util/error.hpp"

namespace yolocpp::loss {

std::pair<torch::Tensor, torch::Tensor> make_anchors(const std::vector<std::pair<int64_t, int64_t>>& shapes,
                                                     const std::vector<double>& strides, double offset,
                                                     torch::Device device) {
  if (shapes.size() != strides.size())
    throw ModelError("make_anchors: " + std::to_string(shapes.size()) + " feature levels but " +
                     std::to_string(strides.size()) + " strides; the Detect head and its strides must agree");
  auto opt = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  std::vector<torch::Tensor> points, strides_t;
  for (size_t i = 0; i < shapes.size(); ++i) {
    const auto [h, w] = shapes[i];
    auto sx = torch::arange(w, opt) + offset;
    auto sy = torch::arange(h, opt) + offset;
    auto grids = torch::meshgrid({sy, sx}, "ij");
    points.push_back(torch::stack({grids[1], grids[0]}, -1).view({-1, 2}));
    strides_t.push_back(torch::full({h * w, 1}, strides[i], opt));
  }
  return {torch::cat(points), torch::cat(strides_t)};
}

std::pair<torch::Tensor, torch::Tensor> make_anchors(const std::vector<torch::Tensor>& feats,
                                                     const std::vector<double>& strides, double offset) {
  std::vector<std::pair<int64_t, int64_t>> shapes;
  for (const auto& f : feats) shapes.emplace_back(f.size(2), f.size(3));
  return make_anchors(shapes, strides, offset, feats.empty() ? torch::Device(torch::kCPU) : feats[0].device());
}

torch::Tensor dist2bbox(const torch::Tensor& distance, const torch::Tensor& anchor_points, bool xywh) {
  auto parts = distance.chunk(2, -1);
  auto x1y1 = anchor_points - parts[0];
  auto x2y2 = anchor_points + parts[1];
  if (xywh) return torch::cat({(x1y1 + x2y2) / 2, x2y2 - x1y1}, -1);
  return torch::cat({x1y1, x2y2}, -1);
}

torch::Tensor bbox2dist(const torch::Tensor& anchor_points, const torch::Tensor& bbox, double reg_max) {
  auto parts = bbox.chunk(2, -1);
  return torch::cat({anchor_points - parts[0], parts[1] - anchor_points}, -1).clamp_(0, reg_max - 0.01);
}

torch::Tensor xywh2xyxy(const torch::Tensor& x) {
  auto xy = x.narrow(-1, 0, 2);
  auto half_wh = x.narrow(-1, 2, 2) / 2;
  return torch::cat({xy - half_wh, xy + half_wh}, -1);
}

torch::Tensor bbox_iou(const torch::Tensor& box1, const torch::Tensor& box2, bool xywh, IouKind kind, double eps) {
  torch::Tensor b1x1, b1y1, b1x2, b1y2, b2x1, b2y1, b2x2, b2y2, w1, h1, w2, h2;
  if (xywh) {
    auto a = box1.chunk(4, -1), b = box2.chunk(4, -1);
    auto w1h = a[2] / 2, h1h = a[3] / 2, w2h = b[2] / 2, h2h = b[3] / 2;
    b1x1 = a[0] - w1h, b1x2 = a[0] + w1h, b1y1 = a[1] - h1h, b1y2 = a[1] + h1h;
    b2x1 = b[0] - w2h, b2x2 = b[0] + w2h, b2y1 = b[1] - h2h, b2y2 = b[1] + h2h;
    w1 = a[2], h1 = a[3], w2 = b[2], h2 = b[3];  // given sizes are used as-is (no eps) for xywh input
  } else {
    auto a = box1.chunk(4, -1), b = box2.chunk(4, -1);
    b1x1 = a[0], b1y1 = a[1], b1x2 = a[2], b1y2 = a[3];
    b2x1 = b[0], b2y1 = b[1], b2x2 = b[2], b2y2 = b[3];
    w1 = b1x2 - b1x1, h1 = b1y2 - b1y1 + eps;
    w2 = b2x2 - b2x1, h2 = b2y2 - b2y1 + eps;
  }
  auto inter = (b1x2.minimum(b2x2) - b1x1.maximum(b2x1)).clamp_(0) *
               (b1y2.minimum(b2y2) - b1y1.maximum(b2y1)).clamp_(0);
  auto uni = w1 * h1 + w2 * h2 - inter + eps;
  auto iou = inter / uni;
  if (kind == IouKind::IoU) return iou;

  auto cw = b1x2.maximum(b2x2) - b1x1.minimum(b2x1);  // enclosing box
  auto ch = b1y2.maximum(b2y2) - b1y1.minimum(b2y1);
  if (kind == IouKind::GIoU) {
    auto c_area = cw * ch + eps;
    return iou - (c_area - uni) / c_area;
  }
  auto c2 = cw.pow(2) + ch.pow(2) + eps;
  auto rho2 = ((b2x1 + b2x2 - b1x1 - b1x2).pow(2) + (b2y1 + b2y2 - b1y1 - b1y2).pow(2)) / 4;
  if (kind == IouKind::DIoU) return iou - rho2 / c2;
  const double k = 4.0 / (M_PI * M_PI);
  auto v = k * ((w2 / h2).atan() - (w1 / h1).atan()).pow(2);
  torch::Tensor alpha;
  {
    torch::NoGradGuard no_grad;  // alpha is a constant weight in backward (utils/metrics.py bbox_iou)
    alpha = v / (v - iou + (1 + eps));
  }
  return iou - (rho2 / c2 + v * alpha);
}

}  // namespace yolocpp::loss
