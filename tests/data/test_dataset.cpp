// Dataset yaml: path resolution, split forms, names/nc, folder arguments, errors that say where they looked.
#include <gtest/gtest.h>
#include <unistd.h>

#include "common/test_util.hpp"
#include "data/helpers.hpp"
#include "yolocpp/data/dataset.hpp"
#include "yolocpp/util/error.hpp"

using namespace yolocpp;
using namespace yolocpp::test;
namespace fs = std::filesystem;

namespace {

// Runs f with the CWD set to dir, restoring it afterwards.
template <typename F> void in_cwd(const fs::path& dir, F f) {
  fs::path old = fs::current_path();
  fs::current_path(dir);
  try {
    f();
  } catch (...) {
    fs::current_path(old);
    throw;
  }
  fs::current_path(old);
}

std::string error_of(const std::string& arg) {
  try {
    data::load_dataset(arg);
  } catch (const DataError& e) {
    return e.what();
  }
  return "<no error>";
}

void two_splits(const fs::path& d) {
  add_sample(d, "train", "a", "0 0.5 0.5 0.2 0.2\n");
  add_sample(d, "train", "b", "0 0.5 0.5 0.2 0.2\n");
  add_sample(d, "val", "c", "0 0.5 0.5 0.2 0.2\n");
}

}  // namespace

TEST(DatasetYaml, RelativePathResolvesAgainstYamlFolderNotCwd) {
  TempDir t;
  fs::path ds = t / "ds";
  two_splits(ds);
  write_text(ds / "cfg" / "data.yaml", "path: ..\ntrain: images/train\nval: images/val\nnames: [thing]\n");
  fs::create_directories(t / "elsewhere");
  in_cwd(t / "elsewhere", [&] {
    auto info = data::load_dataset("../ds/cfg/data.yaml");
    EXPECT_EQ(info.root, fs::path(ds).lexically_normal());
    EXPECT_EQ(info.split("train").images.size(), 2u);
    EXPECT_EQ(info.split("val").images.size(), 1u);
    EXPECT_EQ(info.split("train").images[0], ds / "images/train/a.jpg");
  });
}

TEST(DatasetYaml, AbsolutePathUsedAsIs) {
  TempDir t;
  two_splits(t / "ds");
  write_text(t / "other" / "x.yaml", "path: " + (t / "ds").string() + "\ntrain: images/train\nval: images/val\nnc: 1\n");
  auto info = data::load_dataset((t / "other" / "x.yaml").string());
  EXPECT_EQ(info.root, t / "ds");
  EXPECT_EQ(info.split("train").images.size(), 2u);
  EXPECT_EQ(info.names, std::vector<std::string>{"class_0"});
}

TEST(DatasetYaml, MissingPathMeansYamlFolderAndDotIsTheSame) {
  TempDir t;
  two_splits(t / "ds");
  write_text(t / "ds" / "a.yaml", "train: images/train\nval: images/val\nnames: [x]\n");
  write_text(t / "ds" / "b.yaml", "path: .\ntrain: images/train\nval: images/val\nnames: [x]\n");
  auto a = data::load_dataset((t / "ds" / "a.yaml").string());
  auto b = data::load_dataset((t / "ds" / "b.yaml").string());
  EXPECT_EQ(a.root, t / "ds");
  EXPECT_EQ(b.root, t / "ds");
  EXPECT_EQ(a.split("train").images, b.split("train").images);
  EXPECT_FALSE(a.has_split("test"));
}

TEST(DatasetYaml, ListOfFoldersAndAbsoluteSplit) {
  TempDir t;
  add_sample(t / "ds", "p1", "z", nullptr);
  add_sample(t / "ds", "p2", "a", nullptr);
  add_sample(t / "ds", "p2", "b", nullptr);
  add_sample(t / "extra", "v", "q", nullptr);
  write_text(t / "ds" / "data.yaml", "train: [images/p1, images/p2]\nval: " + (t / "extra/images/v").string() +
                                         "\nnames: {0: x}\n");
  auto info = data::load_dataset((t / "ds").string());  // a folder holding data.yaml
  const auto& tr = info.split("train");
  ASSERT_EQ(tr.images.size(), 3u);
  EXPECT_EQ(tr.sources.size(), 2u);
  // Sorted by path string across both folders.
  EXPECT_EQ(tr.images[0].filename(), "z.jpg");
  EXPECT_EQ(tr.images[1].filename(), "a.jpg");
  EXPECT_EQ(info.split("val").images.at(0), t / "extra/images/v/q.jpg");
}

TEST(DatasetYaml, TxtImageListRelativeToListFolder) {
  TempDir t;
  two_splits(t / "ds");
  add_sample(t / "ds", "val", "d", nullptr);
  write_text(t / "ds" / "lists" / "train.txt", "./../images/train/b.jpg\n../images/train/a.jpg\n\n../images/val/notes.gif\n");
  write_text(t / "ds" / "data.yaml", "train: lists/train.txt\nvalidation: images/val\nnames: [x]\n");
  fs::create_directories(t / "cwd");
  in_cwd(t / "cwd", [&] {
    auto info = data::load_dataset((t / "ds" / "data.yaml").string());
    const auto& tr = info.split("train");
    ASSERT_EQ(tr.images.size(), 2u);  // the .gif line is not an image format
    EXPECT_EQ(tr.images[0], t / "ds/images/train/a.jpg");
    EXPECT_EQ(tr.images[1], t / "ds/images/train/b.jpg");
    EXPECT_EQ(info.split("val").images.size(), 2u);  // `validation:` is accepted as val
  });
}

TEST(DatasetYaml, RoboflowDotDotStyle) {
  TempDir t;
  fs::path ds = t / "export";
  write_image(ds / "train/images/a.jpg", 32, 32);
  write_image(ds / "train/images/b.png", 32, 32);
  write_image(ds / "valid/images/c.jpg", 32, 32);
  write_text(ds / "data.yaml", "train: ../train/images\nval: ../valid/images\nnc: 2\nnames: ['a b', 'c']\n");
  auto info = data::load_dataset((ds / "data.yaml").string());
  EXPECT_EQ(info.split("train").sources.at(0), ds / "train/images");
  EXPECT_EQ(info.split("train").images.size(), 2u);
  EXPECT_EQ(info.split("val").images.size(), 1u);
  EXPECT_EQ(info.names.at(0), "a b");
}

TEST(DatasetYaml, MissingSplitErrorSaysWhereItLooked) {
  TempDir t;
  write_text(t / "ds" / "data.yaml", "path: sub\ntrain: images/train\nval: images/val\nnames: [x]\n");
  std::string e = error_of((t / "ds" / "data.yaml").string());
  EXPECT_NE(e.find((t / "ds" / "sub").string()), std::string::npos) << e;
  EXPECT_NE(e.find("looked at"), std::string::npos) << e;
  EXPECT_NE(e.find("folder of the yaml"), std::string::npos) << e;

  fs::create_directories(t / "ds" / "sub");
  e = error_of((t / "ds" / "data.yaml").string());
  EXPECT_NE(e.find("train"), std::string::npos) << e;
  EXPECT_NE(e.find((t / "ds/sub/images/train").string()), std::string::npos) << e;

  e = error_of((t / "nothing.yaml").string());
  EXPECT_NE(e.find("not found"), std::string::npos) << e;
}

TEST(DatasetYaml, SharedRoboflowYamlReportsBothCandidates) {
  YOLOCPP_REQUIRE_SHARED();
  fs::path y = datasets_dir() / "coc_buildings" / "original_roboflow_data.yaml";
  std::string e = error_of(y.string());
  // The re-laid-out folder has images/train, not train/images: both candidates are named.
  EXPECT_NE(e.find((datasets_dir() / "train/images").lexically_normal().string()), std::string::npos) << e;
  EXPECT_NE(e.find((datasets_dir() / "coc_buildings/train/images").string()), std::string::npos) << e;
}

TEST(DatasetYaml, NamesListDictAndNc) {
  TempDir t;
  two_splits(t.path());
  write_text(t / "l.yaml", "train: images/train\nval: images/val\nnames: [cat, dog, 'hot dog']\n");
  write_text(t / "d.yaml", "train: images/train\nval: images/val\nnc: 3\nnames:\n  2: hot dog\n  0: cat\n  1: dog\n");
  auto l = data::load_dataset((t / "l.yaml").string());
  auto d = data::load_dataset((t / "d.yaml").string());
  EXPECT_EQ(l.names, (std::vector<std::string>{"cat", "dog", "hot dog"}));
  EXPECT_EQ(d.names, l.names);
  EXPECT_EQ(d.nc, 3);

  write_text(t / "gap.yaml", "train: images/train\nval: images/val\nnames: {0: a, 2: c}\n");
  EXPECT_NE(error_of((t / "gap.yaml").string()).find("id 1 is missing"), std::string::npos);
  write_text(t / "none.yaml", "train: images/train\nval: images/val\n");
  EXPECT_NE(error_of((t / "none.yaml").string()).find("names"), std::string::npos);
  write_text(t / "noval.yaml", "train: images/train\nnames: [a]\n");
  EXPECT_NE(error_of((t / "noval.yaml").string()).find("missing 'val:'"), std::string::npos);
}

TEST(DatasetYaml, NcMismatchIsFatalAndNamesTheYaml) {
  TempDir t;
  two_splits(t.path());
  write_text(t / "m.yaml", "train: images/train\nval: images/val\nnc: 4\nnames: [a, b]\n");
  std::string e = error_of((t / "m.yaml").string());
  EXPECT_NE(e.find((t / "m.yaml").string()), std::string::npos) << e;
  EXPECT_NE(e.find("nc: 4"), std::string::npos) << e;
  EXPECT_NE(e.find("2 entries"), std::string::npos) << e;
}

TEST(DatasetYaml, SplitWithoutImagesAndBadYamlAreFatal) {
  TempDir t;
  two_splits(t.path());
  fs::create_directories(t / "images/empty");
  write_text(t / "e.yaml", "train: images/train\nval: images/empty\nnames: [a]\n");
  std::string e = error_of((t / "e.yaml").string());
  EXPECT_NE(e.find("val: no images found"), std::string::npos) << e;
  write_text(t / "bad.yaml", "train: [images/train\nval: x\n");
  e = error_of((t / "bad.yaml").string());
  EXPECT_NE(e.find("invalid YAML"), std::string::npos) << e;
}

TEST(DatasetYaml, FolderArgumentPicksTheYaml) {
  TempDir t;
  two_splits(t / "a");
  write_text(t / "a" / "coco.yaml", "train: images/train\nval: images/val\nnames: [x, y]\n");
  EXPECT_EQ(data::load_dataset((t / "a").string()).nc, 2);  // the only yaml
  write_text(t / "a" / "other.yml", "train: images/train\nval: images/val\nnames: [x]\n");
  EXPECT_NE(error_of((t / "a").string()).find("several yaml files"), std::string::npos);
  write_text(t / "a" / "dataset.yaml", "train: images/train\nval: images/val\nnames: [x, y, z]\n");
  EXPECT_EQ(data::load_dataset((t / "a").string()).nc, 3);
}

TEST(DatasetFiles, LabelMappingAndFormats) {
  EXPECT_EQ(data::label_path_for("/d/images/x/images/a.b.jpg"), fs::path("/d/images/x/labels/a.b.txt"));
  EXPECT_EQ(data::label_path_for("/d/pics/a.png"), fs::path("/d/pics/a.txt"));
  EXPECT_TRUE(data::is_image_file("A.JPG"));
  EXPECT_TRUE(data::is_image_file("x.heic"));
  EXPECT_TRUE(data::is_image_file("x.webp"));
  EXPECT_FALSE(data::is_image_file("x.gif"));
  EXPECT_FALSE(data::is_image_file("x.txt"));
  EXPECT_FALSE(data::is_image_file("jpg"));
}
