// Scene layout and rendering for the synthetic isometric dataset (see synth.hpp).
// All geometry is integer: coordinates come from the splitmix64 stream through integer ranges and are
// scaled with integer per-mille factors, so no libm function can make two machines disagree on a pixel.
#include <algorithm>
#include <array>
#include <vector>

#include <opencv2/imgproc.hpp>

#include "yolocpp/data/synth.hpp"
#include "yolocpp/util/error.hpp"

namespace yolocpp::data {

const std::array<const char*, kSynthClasses> kSynthNames = {"villager", "soldier", "house", "tree", "gold"};

namespace {

enum Cls { kVillager = 0, kSoldier = 1, kHouse = 2, kTree = 3, kGold = 4 };

// splitmix64: tiny, fast, and its output is fully specified (std:: distributions are not).
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed) {}
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  // Uniform integer in [lo, hi] (multiply-shift; the bias is far below anything visible).
  int uniform(int lo, int hi) {
    if (hi <= lo) return lo;
    uint64_t range = static_cast<uint64_t>(hi - lo) + 1;
    return lo + static_cast<int>(((next() >> 32) * range) >> 32);
  }
  bool percent(int p) { return uniform(0, 99) < p; }
};

uint64_t mix(uint64_t a, uint64_t b) { return Rng(a ^ (b * 0xD6E8FEB86659FD93ULL)).next(); }

using Color = cv::Scalar;
Color bgr(int b, int g, int r) { return Color(b, g, r); }
// Integer shading: f is a factor in 1/256 (256 = unchanged).
Color shade(const Color& c, int f) {
  auto ch = [&](double v) { return std::min(255, static_cast<int>(v) * f / 256); };
  return Color(ch(c[0]), ch(c[1]), ch(c[2]));
}
Color jitter(const Color& c, Rng& r, int amount) {
  auto ch = [&](double v) { return std::clamp(static_cast<int>(v) + r.uniform(-amount, amount), 0, 255); };
  return Color(ch(c[0]), ch(c[1]), ch(c[2]));
}

// Draws every primitive into the colour image and/or a sprite mask with the same integer geometry, so the
// mask is exactly the set of pixels the sprite paints (the basis of the exact labels).
struct Painter {
  cv::Mat* img = nullptr;
  cv::Mat* mask = nullptr;
  cv::Point origin{0, 0};

  void poly(std::vector<cv::Point> pts, const Color& c) {
    if (img) cv::fillPoly(*img, std::vector<std::vector<cv::Point>>{pts}, c, cv::LINE_8);
    if (mask) {
      for (auto& p : pts) p -= origin;
      cv::fillPoly(*mask, std::vector<std::vector<cv::Point>>{pts}, cv::Scalar(255), cv::LINE_8);
    }
  }
  void rect(int x0, int y0, int x1, int y1, const Color& c) { poly({{x0, y0}, {x1, y0}, {x1, y1}, {x0, y1}}, c); }
  void circle(cv::Point ctr, int r, const Color& c) {
    if (img) cv::circle(*img, ctr, r, c, cv::FILLED, cv::LINE_8);
    if (mask) cv::circle(*mask, ctr - origin, r, cv::Scalar(255), cv::FILLED, cv::LINE_8);
  }
  void ellipse(cv::Point ctr, cv::Size axes, const Color& c) {
    if (img) cv::ellipse(*img, ctr, axes, 0, 0, 360, c, cv::FILLED, cv::LINE_8);
    if (mask) cv::ellipse(*mask, ctr - origin, axes, 0, 0, 360, cv::Scalar(255), cv::FILLED, cv::LINE_8);
  }
  void line(cv::Point a, cv::Point b, int thickness, const Color& c) {
    if (img) cv::line(*img, a, b, c, thickness, cv::LINE_8);
    if (mask) cv::line(*mask, a - origin, b - origin, cv::Scalar(255), thickness, cv::LINE_8);
  }
};

// Player colours (BGR): units and roofs carry them, as in the games this imitates.
const Color kTeams[] = {bgr(205, 95, 40), bgr(45, 45, 205), bgr(160, 55, 150),
                        bgr(30, 135, 240), bgr(170, 160, 25), bgr(225, 225, 225)};
Color team_color(Rng& r) { return kTeams[r.uniform(0, 5)]; }

// ---------------- sprites ----------------
// Light comes from the upper left: left faces lit, right faces in shadow, drop shadows to the lower right.

struct FigureParts {
  int h, x, y, leg_h, body_top, head_r, head_cy, shoulder, hip;
};

FigureParts figure_parts(const SynthSprite& s) {
  FigureParts f{};
  f.h = s.size;
  f.x = s.x;
  f.y = s.y;
  f.leg_h = std::max(2, f.h * 5 / 16);
  f.head_r = std::max(2, f.h * 5 / 32);
  f.body_top = f.y - f.h + 2 * f.head_r;
  f.head_cy = f.body_top - f.head_r + 1;
  f.shoulder = std::max(2, f.h * 3 / 16);
  f.hip = std::max(2, f.h * 5 / 32);
  return f;
}

void draw_body(Painter& p, const FigureParts& f, const Color& cloth, const Color& legs, const Color& skin) {
  int hip_y = f.y - f.leg_h;
  p.rect(f.x - f.hip, hip_y, f.x - 1, f.y, legs);
  p.rect(f.x + 1, hip_y, f.x + f.hip, f.y, shade(legs, 170));
  p.poly({{f.x - f.hip, hip_y}, {f.x, hip_y}, {f.x, f.body_top}, {f.x - f.shoulder, f.body_top + 1}}, cloth);
  p.poly({{f.x, hip_y}, {f.x + f.hip, hip_y}, {f.x + f.shoulder, f.body_top + 1}, {f.x, f.body_top}},
         shade(cloth, 165));
  int arm = std::max(1, f.h / 12);
  p.line({f.x - f.shoulder, f.body_top + 1}, {f.x - f.shoulder - f.h / 16, hip_y + f.h / 16}, arm, cloth);
  p.line({f.x + f.shoulder, f.body_top + 1}, {f.x + f.shoulder + f.h / 16, hip_y + f.h / 16}, arm,
         shade(cloth, 165));
  p.circle({f.x, f.head_cy}, f.head_r, skin);
  // A darker right half of the face keeps the lighting consistent on larger sprites.
  if (f.head_r >= 4) p.ellipse({f.x + f.head_r / 2, f.head_cy}, {f.head_r / 2, f.head_r - 1}, shade(skin, 200));
}

void draw_villager(Painter& p, const SynthSprite& s) {
  Rng r(s.style);
  FigureParts f = figure_parts(s);
  static const Color kCloth[] = {bgr(140, 180, 205), bgr(55, 95, 145), bgr(70, 130, 110), bgr(120, 120, 150)};
  Color cloth = jitter(kCloth[r.uniform(0, 3)], r, 10);
  Color skin = r.percent(50) ? bgr(120, 165, 220) : bgr(70, 110, 160);
  Color team = team_color(r);
  draw_body(p, f, cloth, bgr(45, 55, 75), skin);
  // Team sash across the belt line: tells the player apart, as villagers otherwise look alike.
  p.line({f.x - f.hip, f.y - f.leg_h - 1}, {f.x + f.hip, f.y - f.leg_h - 1}, std::max(1, f.h / 14), team);
  int kind = r.uniform(0, 2);
  if (kind == 0) {  // straw hat
    p.poly({{f.x - f.head_r * 3 / 2, f.head_cy - f.head_r / 3},
            {f.x + f.head_r * 3 / 2, f.head_cy - f.head_r / 3},
            {f.x, f.head_cy - f.head_r * 2}},
           bgr(90, 180, 215));
  } else {  // hair
    p.ellipse({f.x, f.head_cy - f.head_r / 2}, {f.head_r, std::max(1, f.head_r / 2)}, bgr(30, 45, 70));
  }
  if (r.percent(60)) {  // a tool over the shoulder (axe / pick / basket pole)
    cv::Point hand{f.x + f.shoulder + f.h / 16, f.y - f.leg_h + f.h / 16};
    cv::Point top{hand.x + f.h / 4, hand.y - f.h * 5 / 12};
    p.line(hand, top, std::max(1, f.h / 16), bgr(40, 80, 120));
    p.rect(top.x - f.h / 10, top.y - 1, top.x + f.h / 16, top.y + std::max(1, f.h / 14), bgr(150, 150, 160));
  }
}

void draw_soldier(Painter& p, const SynthSprite& s) {
  Rng r(s.style);
  FigureParts f = figure_parts(s);
  Color team = jitter(team_color(r), r, 8);
  Color steel = bgr(175, 170, 165);
  // Spear first: the body covers its lower shaft, the tip stands above the head.
  int sx = f.x + f.shoulder + std::max(1, f.h / 14);
  cv::Point butt{sx, f.y - f.h / 10}, tip{sx + f.h / 12, f.y - f.h - f.h / 5};
  int shaft = std::max(1, f.h / 18);
  p.line(butt, tip, shaft, bgr(35, 70, 115));
  int tw = std::max(2, f.h / 12);
  p.poly({{tip.x - tw, tip.y + tw}, {tip.x + tw, tip.y + tw}, {tip.x, tip.y - 2 * tw}}, bgr(215, 215, 225));
  draw_body(p, f, team, shade(steel, 150), bgr(110, 150, 205));
  // Helmet: a steel cap with a brim, lit on the left.
  int hr = f.head_r;
  p.poly({{f.x - hr - 1, f.head_cy}, {f.x + hr + 1, f.head_cy}, {f.x + hr * 2 / 3, f.head_cy - hr - 1},
          {f.x - hr * 2 / 3, f.head_cy - hr - 1}},
         steel);
  if (hr >= 3) p.line({f.x, f.head_cy - hr}, {f.x + hr, f.head_cy}, 1, shade(steel, 160));
  // Shield on the lit side: steel rim, team face, a boss.
  int sw = std::max(2, f.h * 3 / 16), sh = std::max(3, f.h / 4);
  cv::Point sc{f.x - f.shoulder - sw / 2, f.y - f.leg_h - f.h / 16};
  p.ellipse(sc, {sw, sh}, shade(steel, 200));
  if (sw > 3) p.ellipse(sc, {sw - 2, sh - 2}, team);
  if (sw > 4) p.circle(sc, std::max(1, sw / 4), steel);
}

void draw_house(Painter& p, const SynthSprite& s) {
  Rng r(s.style);
  int w = s.size, x = s.x, y = s.y;
  int a1 = w * r.uniform(40, 60) / 100, a2 = w - a1;  // footprint extents to the left and right
  int hw = w * r.uniform(28, 40) / 100;                // wall height
  int hr = w * r.uniform(22, 34) / 100;                // roof rise
  static const Color kWalls[] = {bgr(160, 190, 210), bgr(75, 115, 160), bgr(150, 160, 165)};
  static const Color kRoofs[] = {bgr(45, 55, 175), bgr(60, 145, 190), bgr(125, 105, 95), bgr(40, 80, 130)};
  Color wall = jitter(kWalls[r.uniform(0, 2)], r, 8), roof = jitter(kRoofs[r.uniform(0, 3)], r, 8);
  cv::Point F{x, y}, L{x - a1, y - a1 / 2}, R{x + a2, y - a2 / 2};
  cv::Point up{0, -hw};
  cv::Point Ft = F + up, Lt = L + up, Rt = R + up, Bt{x + a2 - a1, y - (a1 + a2) / 2 - hw};
  // Gable roof, ridge parallel to the left wall: ridge ends above the middle of the right wall top edge
  // and of the back-left top edge.
  cv::Point M1{(Ft.x + Rt.x) / 2, (Ft.y + Rt.y) / 2 - hr}, M2{(Lt.x + Bt.x) / 2, (Lt.y + Bt.y) / 2 - hr};
  p.poly({F, L, Lt, Ft}, wall);                       // left wall, lit
  p.poly({F, R, Rt, Ft}, shade(wall, 160));           // right wall, shadow
  p.poly({Ft, Rt, M1}, shade(wall, 185));             // gable end
  p.poly({Rt, Bt, M2, M1}, shade(roof, 150));         // back roof plane
  p.poly({Ft, Lt, M2, M1}, roof);                     // front roof plane, lit
  p.line(M1, M2, std::max(1, w / 40), shade(roof, 120));  // ridge
  // Door on the lit wall, window on the dark one (all inside the wall faces, so the mask is unchanged).
  int dw = std::max(2, a1 / 5), dh = std::max(3, hw * 3 / 5);
  int dx = x - a1 / 2;
  int dy = y - a1 / 4;
  p.poly({{dx - dw / 2, dy + dw / 4}, {dx + dw / 2, dy - dw / 4}, {dx + dw / 2, dy - dw / 4 - dh},
          {dx - dw / 2, dy + dw / 4 - dh}},
         bgr(30, 45, 65));
  int wx = x + a2 / 2, wy = y - a2 / 4 - hw / 2;
  int ww = std::max(2, a2 / 6), wh = std::max(2, hw / 4);
  p.poly({{wx - ww / 2, wy - ww / 4 + wh / 2}, {wx + ww / 2, wy + ww / 4 + wh / 2}, {wx + ww / 2, wy + ww / 4 - wh / 2},
          {wx - ww / 2, wy - ww / 4 - wh / 2}},
         bgr(70, 55, 40));
}

void draw_tree(Painter& p, const SynthSprite& s) {
  Rng r(s.style);
  int h = s.size, x = s.x, y = s.y;
  int tw = std::max(1, h / 14);
  bool pine = r.percent(35);
  Color trunk = bgr(40, 70, 110);
  p.rect(x - tw, y - h * 2 / 5, x - 1, y, trunk);
  p.rect(x, y - h * 2 / 5, x + tw, y, shade(trunk, 160));
  if (pine) {
    Color dark = jitter(bgr(55, 95, 40), r, 8);
    for (int k = 0; k < 3; ++k) {  // three stacked tiers, each split into a lit and a shaded half
      int base = y - h / 5 - k * h * 13 / 60;
      int half = h * (30 - 7 * k) / 100;
      int apex = base - h * 2 / 5;
      p.poly({{x - half, base}, {x, base + half / 5}, {x, apex}}, shade(dark, 320));
      p.poly({{x, base + half / 5}, {x + half, base}, {x, apex}}, dark);
    }
    return;
  }
  bool autumn = r.percent(12);
  Color leaf = autumn ? jitter(bgr(40, 120, 190), r, 10) : jitter(bgr(45, 115, 50), r, 10);
  int cr = std::max(3, h * 3 / 10);
  cv::Point c{x, y - h + cr};
  // Lobes around the main crown; they stay inside a box of +-cr so the tree keeps its proportions.
  int lobes = r.uniform(2, 4);
  std::vector<std::pair<cv::Point, int>> blobs{{c, cr}};
  for (int k = 0; k < lobes; ++k) {
    int lr = cr * r.uniform(50, 75) / 100;
    blobs.push_back({{c.x + r.uniform(-cr / 2, cr / 2), c.y + r.uniform(0, cr / 2)}, lr});
  }
  for (auto& b : blobs) p.circle({b.first.x + cr / 8, b.first.y + cr / 8}, b.second, shade(leaf, 150));
  for (auto& b : blobs) p.circle(b.first, b.second * 7 / 8, leaf);
  p.circle({c.x - cr / 3, c.y - cr / 3}, std::max(1, cr / 3), shade(leaf, 330));
}

// Unit octagon directions in 1/1000, flattened vertically for the isometric view.
const int kOct[8][2] = {{1000, 0}, {707, 495}, {0, 700}, {-707, 495}, {-1000, 0}, {-707, -495}, {0, -700}, {707, -495}};

void draw_gold(Painter& p, const SynthSprite& s) {
  Rng r(s.style);
  int w = s.size, x = s.x, y = s.y;
  Color base = jitter(bgr(25, 175, 225), r, 10);
  int rocks = r.uniform(5, 9);
  for (int k = 0; k < rocks; ++k) {
    // Bottom rocks first and wide, later ones higher and nearer the middle: a mound.
    int level = k * 3 / rocks;  // 0, 1, 2
    int spread = w * (3 - level) / 7;
    int rr = std::max(2, w * r.uniform(12, 20) / 100);
    cv::Point c{x + r.uniform(-spread / 2, spread / 2), y - rr * 2 / 3 - level * w / 7};
    std::vector<cv::Point> pts;
    for (auto& d : kOct) {
      int rj = rr * r.uniform(75, 115) / 100;
      pts.push_back({c.x + d[0] * rj / 1000, c.y + d[1] * rj / 1000});
    }
    p.poly(pts, shade(base, 150));
    std::vector<cv::Point> lit;
    for (auto& q : pts) lit.push_back({c.x + (q.x - c.x) * 3 / 4 - rr / 6, c.y + (q.y - c.y) * 3 / 4 - rr / 6});
    p.poly(lit, base);
    p.circle({c.x - rr / 3, c.y - rr / 3}, std::max(1, rr / 4), bgr(150, 235, 255));
  }
}

void draw_sprite(Painter& p, const SynthSprite& s) {
  switch (s.cls) {
    case kVillager: draw_villager(p, s); break;
    case kSoldier: draw_soldier(p, s); break;
    case kHouse: draw_house(p, s); break;
    case kTree: draw_tree(p, s); break;
    default: draw_gold(p, s); break;
  }
}

// Drop shadow on the ground, to the lower right of the contact point.
void draw_shadow(cv::Mat& m, const SynthSprite& s) {
  int z = s.size;
  switch (s.cls) {
    case kHouse:
      cv::ellipse(m, {s.x + z / 4, s.y - z / 5}, {z * 3 / 5, z / 4}, 0, 0, 360, cv::Scalar(255), cv::FILLED, cv::LINE_8);
      break;
    case kTree:
      cv::ellipse(m, {s.x + z / 5, s.y}, {z / 3, z / 8}, 0, 0, 360, cv::Scalar(255), cv::FILLED, cv::LINE_8);
      break;
    case kGold:
      cv::ellipse(m, {s.x + z / 8, s.y}, {z * 3 / 5, z / 6}, 0, 0, 360, cv::Scalar(255), cv::FILLED, cv::LINE_8);
      break;
    default:
      cv::ellipse(m, {s.x + z / 8, s.y}, {std::max(2, z / 4), std::max(1, z / 10)}, 0, 0, 360, cv::Scalar(255),
                  cv::FILLED, cv::LINE_8);
  }
}

// ---------------- terrain ----------------

enum Tile { kGrass, kDirt, kSand, kWater };

struct Blob {
  int i, j, ri, rj;  // centre and radii in tile units
};

struct Terrain {
  int tw, th, x0, y0;
  uint64_t seed;
  std::vector<Blob> lakes, dirt;

  static bool inside(const Blob& b, int i, int j, int grow) {
    int64_t di = i - b.i, dj = j - b.j, ri = b.ri + grow, rj = b.rj + grow;
    return di * di * rj * rj + dj * dj * ri * ri <= ri * ri * rj * rj;
  }
  Tile type(int i, int j) const {
    for (auto& b : lakes)
      if (inside(b, i, j, 0)) return kWater;
    for (auto& b : lakes)
      if (inside(b, i, j, 1)) return kSand;
    for (auto& b : dirt)
      if (inside(b, i, j, 0)) return kDirt;
    return kGrass;
  }
  // Tile under a pixel: the diamond (i, j) has its centre at x0 + (i - j) * tw/2, y0 + (i + j) * th/2.
  Tile type_at(int x, int y) const {
    int64_t a2 = static_cast<int64_t>(x - x0) * th, b2 = static_cast<int64_t>(y - y0) * tw;  // both * tw*th/2
    int64_t den = static_cast<int64_t>(tw) * th;  // (a + b)/2 scaled: (a2 + b2) / den
    auto fdiv = [](int64_t n, int64_t d) { return n >= 0 ? n / d : -((-n + d - 1) / d); };
    int i = static_cast<int>(fdiv(a2 + b2 + den / 2, den));
    int j = static_cast<int>(fdiv(b2 - a2 + den / 2, den));
    return type(i, j);
  }
};

Terrain make_terrain(Rng& r, int imgsz, int zoom) {
  Terrain t{};
  t.tw = std::max(16, 64 * zoom / 1000 / 4 * 4);  // a multiple of 4: half-width and half-height are exact
  t.th = t.tw / 2;
  t.x0 = imgsz / 2 + r.uniform(0, t.tw - 1);
  t.y0 = -r.uniform(0, t.th - 1);
  t.seed = r.next();
  // Visible tile indices: i + j spans rows, i - j spans columns.
  int rows = 2 * imgsz / t.th + 2, cols = imgsz / t.tw + 2;
  auto random_blob = [&](int rmin, int rmax) {
    int s = r.uniform(0, rows), d = r.uniform(-cols, cols);  // s = i + j, d = i - j
    return Blob{(s + d) / 2, (s - d) / 2, r.uniform(rmin, rmax), r.uniform(rmin, rmax)};
  };
  int lakes = r.uniform(0, 100) < 55 ? r.uniform(1, 2) : 0;
  for (int k = 0; k < lakes; ++k) t.lakes.push_back(random_blob(2, 5));
  int dirt = r.uniform(0, 3);
  for (int k = 0; k < dirt; ++k) t.dirt.push_back(random_blob(1, 4));
  return t;
}

void draw_terrain(cv::Mat& img, const Terrain& t) {
  int imgsz = img.cols;
  int hw = t.tw / 2, hh = t.th / 2;
  int rows = imgsz / hh + 4, cols = imgsz / (2 * hw) + 4;
  static const Color kGrassShades[] = {bgr(50, 140, 82), bgr(44, 132, 76), bgr(56, 150, 90), bgr(48, 126, 86)};
  for (int s = -2; s <= rows; ++s) {         // s = i + j: row of diamonds
    for (int d = -cols; d <= cols; ++d) {    // d = i - j: column
      if ((s + d) % 2 != 0) continue;   // i and j must be integers
      int i = (s + d) / 2, j = (s - d) / 2;
      int cx = t.x0 + d * hw, cy = t.y0 + s * hh;
      if (cx + hw < 0 || cx - hw >= imgsz || cy + hh < 0 || cy - hh >= imgsz) continue;
      Rng r(mix(t.seed, static_cast<uint64_t>(static_cast<uint32_t>(i)) << 32 | static_cast<uint32_t>(j)));
      Tile type = t.type(i, j);
      Color c;
      switch (type) {
        case kWater: c = jitter(bgr(170, 115, 45), r, 6); break;
        case kSand: c = jitter(bgr(125, 185, 210), r, 6); break;
        case kDirt: c = jitter(bgr(70, 110, 150), r, 8); break;
        default: c = jitter(kGrassShades[r.uniform(0, 3)], r, 5);
      }
      std::vector<cv::Point> dia{{cx, cy - hh}, {cx + hw, cy}, {cx, cy + hh}, {cx - hw, cy}};
      cv::fillConvexPoly(img, dia, c, cv::LINE_8);
      // Darker upper edges draw the tile grid the way isometric games show it.
      cv::line(img, {cx - hw, cy}, {cx, cy - hh}, shade(c, 225), 1, cv::LINE_8);
      cv::line(img, {cx, cy - hh}, {cx + hw, cy}, shade(c, 215), 1, cv::LINE_8);
      // Texture: grass tufts, dirt specks, water ripples.
      int marks = r.uniform(1, 4);
      for (int k = 0; k < marks; ++k) {
        int mx = cx + r.uniform(-hw / 2, hw / 2), my = cy + r.uniform(-hh / 2, hh / 2);
        switch (type) {
          case kWater: cv::line(img, {mx - hw / 6, my}, {mx + hw / 6, my}, shade(c, 330), 1, cv::LINE_8); break;
          case kGrass:
            cv::line(img, {mx, my}, {mx + r.uniform(-1, 1), my - std::max(2, hh / 5)},
                     shade(c, r.percent(50) ? 180 : 300), 1, cv::LINE_8);
            break;
          default: cv::circle(img, {mx, my}, 1, shade(c, r.percent(50) ? 170 : 290), cv::FILLED, cv::LINE_8);
        }
      }
    }
  }
}

// ---------------- layout ----------------

cv::Rect sprite_patch(const SynthSprite& s, int grow) {
  int m = s.size * 2 * grow + 8;
  return cv::Rect(s.x - m, s.y - m, 2 * m + 1, m + s.size / 2 * grow + 8);
}

// The sprite's mask on a local patch big enough to hold it (grown until nothing touches the patch border).
void sprite_mask(const SynthSprite& s, cv::Mat& mask, cv::Rect& patch) {
  for (int grow = 1;; ++grow) {
    patch = sprite_patch(s, grow);
    mask = cv::Mat::zeros(patch.height, patch.width, CV_8U);
    draw_synth_sprite_mask(s, mask, patch.tl());
    int b = mask.rows - 1, rgt = mask.cols - 1;
    bool touches = cv::countNonZero(mask.row(0)) || cv::countNonZero(mask.row(b)) ||
                   cv::countNonZero(mask.col(0)) || cv::countNonZero(mask.col(rgt));
    if (!touches) return;
    if (grow > 8) throw Error("synth: sprite extent estimate failed (internal error)");
  }
}

struct Placer {
  Rng& r;
  const Terrain& t;
  int imgsz, zoom;
  std::vector<SynthSprite> out;

  int size_for(int cls) {
    static const int kBase[] = {26, 34, 88, 66, 36};  // villager h, soldier h, house w, tree h, gold w at 640
    int z = kBase[cls] * zoom / 1000 * r.uniform(85, 118) / 100;
    return std::max(cls == kHouse ? 20 : 9, z);
  }
  // Adds a sprite near (x, y) on land; a few retries off water, then gives up (a tree in a lake looks wrong).
  void add(int cls, int x, int y, int jitter) {
    for (int tries = 0; tries < 6; ++tries) {
      int px = x + r.uniform(-jitter, jitter), py = y + r.uniform(-jitter / 2, jitter / 2);
      if (px < -40 || px > imgsz + 40 || py < 0 || py > imgsz + 60) continue;
      Tile tile = t.type_at(px, py);
      if (tile == kWater) continue;
      out.push_back({cls, px, py, size_for(cls), r.next()});
      return;
    }
  }
  int rx() { return r.uniform(-imgsz / 20, imgsz + imgsz / 20); }
  int ry() { return r.uniform(imgsz / 20, imgsz + imgsz / 12); }
};

std::vector<SynthSprite> layout(Rng& r, const Terrain& t, int imgsz, int zoom) {
  Placer pl{r, t, imgsz, zoom, {}};
  int unit = 30 * zoom / 1000;
  // Forests: trees in clumps.
  int forests = r.uniform(0, 2);
  for (int f = 0; f < forests; ++f) {
    int cx = pl.rx(), cy = pl.ry(), n = r.uniform(3, 9);
    for (int k = 0; k < n; ++k) pl.add(kTree, cx, cy, unit * 4);
  }
  for (int k = r.uniform(0, 3); k > 0; --k) pl.add(kTree, pl.rx(), pl.ry(), 0);
  // Villages: a few houses with villagers working around them.
  for (int k = r.uniform(1, 2); k > 0; --k) {
    int vx = pl.rx(), vy = pl.ry();
    for (int h = r.uniform(1, 3); h > 0; --h) {
      int hx = vx + r.uniform(-unit * 6, unit * 6), hy = vy + r.uniform(-unit * 3, unit * 3);
      pl.add(kHouse, hx, hy, 0);
      for (int v = r.uniform(0, 2); v > 0; --v) pl.add(kVillager, hx, hy + unit, unit * 3);
    }
  }
  // Gold mines, sometimes with miners.
  for (int k = r.uniform(1, 2); k > 0; --k) {
    int gx = pl.rx(), gy = pl.ry();
    for (int g = r.uniform(1, 4); g > 0; --g) pl.add(kGold, gx, gy, unit * 2);
    for (int v = r.uniform(0, 3); v > 0; --v) pl.add(kVillager, gx, gy, unit * 2);
  }
  // Crowds: armies in tight formations and groups of villagers (overlaps are intended).
  for (int k = r.uniform(1, 3); k > 0; --k) {
    int cx = pl.rx(), cy = pl.ry(), n = r.uniform(3, 10);
    int mostly = r.percent(60) ? kSoldier : kVillager;
    for (int u = 0; u < n; ++u) pl.add(r.percent(85) ? mostly : kSoldier + kVillager - mostly, cx, cy, unit * 2);
  }
  for (int k = r.uniform(0, 4); k > 0; --k) pl.add(r.percent(50) ? kVillager : kSoldier, pl.rx(), pl.ry(), 0);
  return pl.out;
}

}  // namespace

void draw_synth_sprite_mask(const SynthSprite& s, cv::Mat& mask, cv::Point origin) {
  Painter p;
  p.mask = &mask;
  p.origin = origin;
  draw_sprite(p, s);
}

SynthScene render_synth_scene(uint64_t seed, int index, int imgsz, int omit) {
  if (imgsz < 64) throw ConfigError("synth: imgsz=" + std::to_string(imgsz) + " is too small; use imgsz>=64");
  Rng r(mix(seed, static_cast<uint64_t>(index) + 1));
  int zoom = r.uniform(700, 1350) * imgsz / 640;  // per mille; scale variety between images
  Terrain terrain = make_terrain(r, imgsz, zoom);
  std::vector<SynthSprite> sprites = layout(r, terrain, imgsz, zoom);
  // Back to front: a larger contact y is nearer the viewer.
  std::stable_sort(sprites.begin(), sprites.end(), [](const SynthSprite& a, const SynthSprite& b) {
    return a.y != b.y ? a.y < b.y : a.x < b.x;
  });

  // Front to back, decide what is kept. An object more than 70% hidden (by nearer sprites or the image
  // border) is not drawn at all rather than drawn unlabeled: Ultralytics-style labels cover the whole
  // object, and a sliver of a sprite is neither a fair positive nor a fair negative for training.
  const cv::Rect frame(0, 0, imgsz, imgsz);
  cv::Mat covered = cv::Mat::zeros(imgsz, imgsz, CV_8U);
  // Frame-sized mask buffer: OpenCV rasterises a polygon cut by the canvas edge slightly differently from the
  // same polygon uncut, so the label mask is drawn on a canvas exactly like the image (same size, same
  // clipping). The local patch mask only gives the unclipped pixel count for the visibility rule.
  cv::Mat frame_mask = cv::Mat::zeros(imgsz, imgsz, CV_8U);
  std::vector<SynthObject> kept_rev;
  for (size_t k = sprites.size(); k-- > 0;) {
    cv::Mat mask;
    cv::Rect patch;
    sprite_mask(sprites[k], mask, patch);
    int total = cv::countNonZero(mask);
    cv::Rect in = patch & frame;
    if (total == 0 || in.empty()) continue;
    draw_synth_sprite_mask(sprites[k], frame_mask);
    cv::Mat mask_in = frame_mask(in);
    cv::Mat free_in;
    cv::bitwise_and(mask_in, ~covered(in), free_in);
    double visible = std::min(1.0, static_cast<double>(cv::countNonZero(free_in)) / total);
    // The box of the pixels inside the image (not the full box clipped): a spear tip past the right edge
    // must not stretch the box upward.
    cv::Rect box = cv::boundingRect(mask_in) + in.tl();
    if (visible >= 0.30 && box.width >= 2 && box.height >= 2) {
      cv::bitwise_or(covered(in), mask_in, covered(in));
      kept_rev.push_back({sprites[k], box, visible});
    }
    mask_in.setTo(0);
  }

  SynthScene scene;
  scene.objects.assign(kept_rev.rbegin(), kept_rev.rend());
  // Pre-filled so any pixel the tiles might miss is still deterministic.
  scene.image = cv::Mat(imgsz, imgsz, CV_8UC3, cv::Scalar(50, 140, 82));
  draw_terrain(scene.image, terrain);
  cv::Mat shadow = cv::Mat::zeros(imgsz, imgsz, CV_8U);
  for (auto& o : scene.objects) draw_shadow(shadow, o.sprite);
  for (int y = 0; y < imgsz; ++y) {
    auto* px = scene.image.ptr<cv::Vec3b>(y);
    const auto* m = shadow.ptr<uint8_t>(y);
    for (int x = 0; x < imgsz; ++x)
      if (m[x])
        for (int c = 0; c < 3; ++c) px[x][c] = static_cast<uint8_t>(px[x][c] * 150 / 256);
  }
  Painter p;
  p.img = &scene.image;
  for (size_t k = 0; k < scene.objects.size(); ++k)
    if (static_cast<int>(k) != omit) draw_sprite(p, scene.objects[k].sprite);
  return scene;
}

}  // namespace yolocpp::data
