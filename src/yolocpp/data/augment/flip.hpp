// RandomFlip (ultralytics 8.3.58 data/augment.py): vertical (p = flipud) then horizontal (p = fliplr), image and boxes
// together.
#pragma once
#include "yolocpp/data/augment/rng.hpp"
#include "yolocpp/data/augment/types.hpp"

namespace yolocpp::augment {

void flip_lr(Sample& s);  // x -> W - x
void flip_ud(Sample& s);  // y -> H - y
// One draw per direction, vertical first, each applied when random() < p.
void random_flip(Sample& s, double flipud, double fliplr, Rng& rng);

}  // namespace yolocpp::augment
