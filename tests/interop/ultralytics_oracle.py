#!/usr/bin/env python3
"""The real Ultralytics as a separate program, for tests/interop (the oracle; no yolocpp code here).

Run with PYTHONPATH at an unpacked ../shared/reference tarball. Every command prints one JSON object on the
last stdout line:
  predict MODEL IMAGE IMGSZ CONF      boxes (xyxy, original pixels), conf, cls of YOLO(MODEL).predict
  val MODEL DATA IMGSZ BATCH          box P, R, mAP50, mAP50-95 of YOLO(MODEL).val
  cfgcheck ARGS_YAML                  Ultralytics' own config check (get_cfg with the file as overrides)
  resume LAST_PT                      YOLO(LAST_PT).train(resume=True): the state the trainer resumed with
  train_partial MODEL DATA IMGSZ DIR  2-epoch training stopped after epoch 1 is saved: DIR/u/weights/last.pt
"""
import json
import sys


class StopAfterFirstSave(Exception):
    pass


def out(obj):
    print(json.dumps(obj))


def main(argv):
    from ultralytics.utils import SETTINGS

    SETTINGS.update({"sync": False, "hub": False, "tensorboard": False})
    import ultralytics
    from ultralytics import YOLO

    cmd = argv[1]
    if cmd == "predict":
        model, image, imgsz, conf = argv[2], argv[3], int(argv[4]), float(argv[5])
        r = YOLO(model).predict(image, imgsz=imgsz, conf=conf, device="cpu", verbose=False)[0]
        out({"xyxy": r.boxes.xyxy.tolist(), "conf": r.boxes.conf.tolist(), "cls": r.boxes.cls.tolist(),
             "names": {str(k): v for k, v in r.names.items()}, "version": ultralytics.__version__})
    elif cmd == "val":
        model, data, imgsz, batch = argv[2], argv[3], int(argv[4]), int(argv[5])
        m = YOLO(model).val(data=data, imgsz=imgsz, batch=batch, device="cpu", plots=False, workers=0)
        out({"p": float(m.box.mp), "r": float(m.box.mr), "map50": float(m.box.map50), "map": float(m.box.map)})
    elif cmd == "cfgcheck":
        import yaml
        from ultralytics.cfg import DEFAULT_CFG_DICT, get_cfg

        with open(argv[2]) as f:
            overrides = {k: v for k, v in yaml.safe_load(f).items() if k != "cfg"}
        try:
            cfg = get_cfg(DEFAULT_CFG_DICT, overrides)
        except (SystemExit, SyntaxError) as e:  # mismatched keys: SyntaxError (8.3) or SystemExit
            out({"ok": False, "error": str(e)})
            return 1
        out({"ok": True, "keys": len(overrides), "epochs": cfg.epochs, "imgsz": cfg.imgsz})
    elif cmd == "resume":
        seen = {}

        def on_train_start(trainer):
            opt = trainer.optimizer
            seen.update({"start_epoch": trainer.start_epoch, "epochs": trainer.epochs,
                         "ema_updates": int(trainer.ema.updates), "optimizer_states": len(opt.state),
                         "best_fitness": trainer.best_fitness,
                         "optimizer": type(opt).__name__,
                         "state_abs_sum": float(sum(v.abs().sum() for s in opt.state.values() for k, v in s.items()
                                                    if k in ("momentum_buffer", "exp_avg")))})

        model = YOLO(argv[2])
        model.add_callback("on_train_start", on_train_start)
        model.train(resume=True)
        seen["finished_epoch"] = int(model.trainer.epoch)
        out(seen)
    elif cmd == "train_partial":
        model, data, imgsz, project = argv[2], argv[3], int(argv[4]), argv[5]

        def stop(trainer):
            raise StopAfterFirstSave()

        m = YOLO(model)
        m.add_callback("on_model_save", stop)
        try:
            m.train(data=data, epochs=2, imgsz=imgsz, batch=4, device="cpu", workers=0, plots=False, project=project,
                    name="u", exist_ok=True, warmup_epochs=0, seed=0)
        except StopAfterFirstSave:
            pass
        out({"last": f"{project}/u/weights/last.pt"})
    else:
        print(f"unknown command {cmd}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
