// MixUp (ultralytics 8.3.58 data/augment.py): blend two same-size training images, keep the labels of both.
#pragma once
#include "yolocpp/data/augment/rng.hpp"
#include "yolocpp/data/augment/types.hpp"

namespace yolocpp::augment {

// img = trunc(a * r + b * (1 - r)) (double maths, truncating uint8 cast as upstream's astype);
// labels of a then b.
void mixup(Sample& a, const Sample& b, double r);
// r ~ Beta(32, 32).
double draw_mixup_ratio(Rng& rng);

}  // namespace yolocpp::augment
