#include "yolocpp/metrics/boxes.hpp"

#include <cfenv>
#include <cmath>

#include "yolocpp/util/error.hpp"

namespace yolocpp::metrics {


torch::Tensor xywh2xyxy(const torch::Tensor& x) {
  if (x.dim() < 1 || x.size(-1) != 4)
    throw Error("metrics::xywh2xyxy: expected [..., 4] boxes, got " + std::to_string(x.dim()) +
                "-d tensor with last dim " + (x.dim() ? std::to_string(x.size(-1)) : std::string("none")));
  auto y = torch::empty_like(x);
  auto xy = x.narrow(-1, 0, 2);
  auto wh = x.narrow(-1, 2, 2) / 2;
  y.narrow(-1, 0, 2).copy_(xy - wh);
  y.narrow(-1, 2, 2).copy_(xy + wh);
  return y;
}

torch::Tensor box_iou(const torch::Tensor& a, const torch::Tensor& b, double eps) {
  if (a.dim() != 2 || a.size(1) < 4 || b.dim() != 2 || b.size(1) < 4)
    throw Error("metrics::box_iou: expected [N,4] and [M,4] xyxy boxes");
  auto af = a.narrow(1, 0, 4).to(torch::kFloat32).unsqueeze(1);  // [N,1,4]
  auto bf = b.narrow(1, 0, 4).to(torch::kFloat32).unsqueeze(0);  // [1,M,4]
  auto a1 = af.narrow(2, 0, 2), a2 = af.narrow(2, 2, 2);
  auto b1 = bf.narrow(2, 0, 2), b2 = bf.narrow(2, 2, 2);
  auto inter = (torch::min(a2, b2) - torch::max(a1, b1)).clamp_(0).prod(2);
  // Same association as Ultralytics: ((area_a + area_b) - inter) + eps, all float32.
  return inter / ((a2 - a1).prod(2) + (b2 - b1).prod(2) - inter + eps);
}

torch::Tensor clip_boxes(torch::Tensor boxes, HW img0_hw) {
  const double h0 = static_cast<double>(img0_hw[0]), w0 = static_cast<double>(img0_hw[1]);
  boxes.select(-1, 0).clamp_(0, w0);
  boxes.select(-1, 1).clamp_(0, h0);
  boxes.select(-1, 2).clamp_(0, w0);
  boxes.select(-1, 3).clamp_(0, h0);
  return boxes;
}

torch::Tensor scale_boxes(HW img1_hw, const torch::Tensor& boxes, HW img0_hw, const std::optional<RatioPad>& ratio_pad) {
  if (boxes.dim() < 1 || boxes.size(-1) < 4) throw Error("metrics::scale_boxes: expected [..., >=4] xyxy boxes");
  if (img0_hw[0] <= 0 || img0_hw[1] <= 0 || img1_hw[0] <= 0 || img1_hw[1] <= 0)
    throw Error("metrics::scale_boxes: image shapes must be positive");
  double gain, pad_x, pad_y;
  if (ratio_pad) {
    gain = ratio_pad->gain_h;  // the height ratio is applied to both axes, as Ultralytics does
    pad_x = ratio_pad->pad_left;
    pad_y = ratio_pad->pad_top;
  } else {
    const double h1 = double(img1_hw[0]), w1 = double(img1_hw[1]), h0 = double(img0_hw[0]), w0 = double(img0_hw[1]);
    gain = std::min(h1 / h0, w1 / w0);
    pad_x = round_half_even((w1 - w0 * gain) / 2 - 0.1);
    pad_y = round_half_even((h1 - h0 * gain) / 2 - 0.1);
  }
  auto out = boxes.clone();
  out.select(-1, 0).sub_(pad_x);
  out.select(-1, 1).sub_(pad_y);
  out.select(-1, 2).sub_(pad_x);
  out.select(-1, 3).sub_(pad_y);
  out.narrow(-1, 0, 4).div_(gain);
  return clip_boxes(out, img0_hw);
}

}  // namespace yolocpp::metrics
