// `yolocpp train data=... model=yolo11n.pt epochs=100 imgsz=640 ...`: the whole training run (engine::Trainer).
#include "cli/modes.hpp"
#include "yolocpp/train/trainer.hpp"

namespace yolocpp::cli {

int run_train(const Settings& s) {
  engine::Trainer trainer(s);
  trainer.train();
  return 0;
}

}  // namespace yolocpp::cli
