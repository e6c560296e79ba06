// Mosaic of 4 images (ultralytics 8.3.58 data/augment.py Mosaic._mosaic4): a 2s x 2s canvas of 114 grey, tiles placed
// around a random centre.
#pragma once
#include <array>

#include "yolocpp/data/augment/rng.hpp"
#include "yolocpp/data/augment/types.hpp"

namespace yolocpp::augment {

// Places tiles[0..3] (top-left, top-right, bottom-left, bottom-right) around the centre (xc, yc) of a
// 2*imgsz square canvas. Boxes are shifted by each tile's offset, concatenated in tile order, clipped to the
// canvas and zero-area boxes dropped. The result carries mosaic_border = floor(-imgsz / 2).
Sample mosaic4(const std::array<const Sample*, 4>& tiles, int imgsz, int xc, int yc);
// Draws the centre as upstream does (yc first, then xc, each int(U(s/2, 3s/2))) and calls the above.
Sample mosaic4(const std::array<const Sample*, 4>& tiles, int imgsz, Rng& rng);

// Python's -s // 2 (floor division).
inline int mosaic_border_of(int imgsz) { return -((imgsz + 1) / 2); }

}  // namespace yolocpp::augment
