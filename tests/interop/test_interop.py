#!/usr/bin/env python3
"""Interop suite (CTest label `interop`): yolocpp's files against the real Ultralytics, run as a separate program
(tests/interop/ultralytics_oracle.py on Debian's python3-torch, Ultralytics unpacked from ../shared/reference).

  test_interop.py YOLOCPP_BIN ULTRALYTICS_TARBALL FIXTURES_DIR WORK_DIR

One small yolocpp training (the nc=3 fixture network, 2 epochs on 16 synthetic images at 96 px) feeds every
check. Exit 77 = skipped (no python3-torch / tarball), which CI=true turns into a failure.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import unittest
from pathlib import Path

PY = "/usr/bin/python3"  # Debian's python: python3-torch lives there, not in a venv earlier on PATH
HERE = Path(__file__).resolve().parent
ARGS = {}
IMGSZ = 96


def run(cmd, env=None, check=True, cwd=None):
    p = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} exited {p.returncode}:\n{p.stdout[-6000:]}")
    return p


def drop_label_caches():
    # yolocpp and Ultralytics both keep labels/<split>.cache, each in its own format, and Ultralytics 8.3 fails
    # on one it cannot unpickle: each tool starts from the plain labels here.
    for c in (ARGS["work"] / "ds" / "labels").glob("*.cache"):
        c.unlink()


def yolocpp(*args, check=True):
    drop_label_caches()
    return run([ARGS["bin"], *map(str, args)], check=check, cwd=ARGS["work"])


def oracle(*args, check=True):
    env = dict(os.environ, PYTHONPATH=str(ARGS["ultra"]), YOLO_OFFLINE="True",
               YOLO_CONFIG_DIR=str(ARGS["work"] / "ultra_cfg"), OMP_NUM_THREADS="2")
    drop_label_caches()
    p = run([PY, str(HERE / "ultralytics_oracle.py"), *map(str, args)], env=env, check=check, cwd=ARGS["work"])
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    return (json.loads(lines[-1]) if lines else None), p


def all_row(text):
    """P, R, mAP50, mAP50-95 of the 'all' row of a validation table."""
    for line in text.splitlines():
        f = line.split()
        if len(f) == 7 and f[0] == "all":
            return [float(x) for x in f[3:]]
    raise AssertionError("no 'all' row in:\n" + text[-3000:])


def needs_training(test):
    """Ultralytics 8.4 imports polars when it trains; Debian 12 has no python3-polars."""
    def wrapper(self):
        if ARGS["version"] != "8.3.58" and run([PY, "-c", "import polars"], check=False).returncode:
            self.skipTest(f"Ultralytics {ARGS['version']} training needs polars, which Debian does not package")
        return test(self)
    wrapper.__name__ = test.__name__
    return wrapper


class Interop(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        w = ARGS["work"]
        cls.ds = w / "ds"
        shutil.rmtree(cls.ds, ignore_errors=True)
        yolocpp("synth", f"out={cls.ds}", "images=16", "imgsz=160", "val_fraction=0.25", "seed=0")
        # Ultralytics resolves a relative `path:` against its own datasets folder: give both tools an absolute one.
        text = (cls.ds / "dataset.yaml").read_text()
        text = re.sub(r"^path:.*$", f"path: {cls.ds}", text, flags=re.M)
        # Three classes, as the nc=3 fixture network (every weight transfers, so it still finds boxes on bus.jpg).
        text = text.split("names:")[0] + "names:\n  0: villager\n  1: house\n  2: tree\n"
        for f in (cls.ds / "labels").rglob("*.txt"):
            f.write_text("".join(l for l in f.read_text().splitlines(True) if l.split() and int(l.split()[0]) < 3))
        cls.data = cls.ds / "abs.yaml"
        cls.data.write_text(text)
        cls.runs = w / "runs"
        shutil.rmtree(cls.runs, ignore_errors=True)
        r = yolocpp("train", f"data={cls.data}", f"model={ARGS['fixtures'] / 'yolo11n_nc3_random.pt'}", "epochs=2",
                    f"imgsz={IMGSZ}", "batch=4", "nbs=4", "workers=0", "device=cpu", "warmup_epochs=0", "optimizer=SGD", "lr0=0.0002",
                    "save_period=1", "plots=False", f"project={cls.runs}", "name=y", "seed=0")
        cls.train_out = r.stdout
        cls.run_dir = cls.runs / "y"
        cls.best = cls.run_dir / "weights" / "best.pt"

    def test_best_pt_predicts_the_same_boxes_in_ultralytics(self):
        bus = ARGS["fixtures"] / "bus.jpg"
        conf = 0.05
        got, p = oracle("predict", self.best, bus, 640, conf)
        self.assertIsNotNone(got, p.stdout[-3000:])
        yolocpp("predict", f"model={self.best}", f"source={bus}", f"conf={conf}", "imgsz=640", "save_txt=True",
                "save_conf=True", f"project={self.runs}", "name=pred", "exist_ok=True", "device=cpu")
        rows = [list(map(float, l.split())) for l in (self.runs / "pred" / "labels" / "bus.txt").read_text().splitlines()]
        self.assertGreater(len(got["xyxy"]), 0, "Ultralytics found no boxes: the comparison would be empty")
        self.assertEqual(len(rows), len(got["xyxy"]))
        W, H = 810, 1080
        # Same order (by confidence) and the predict-parity tolerances: 1e-2 px boxes, 1e-4 confidence.
        for (c, cx, cy, bw, bh, cf), b, uc, ucls in zip(rows, got["xyxy"], got["conf"], got["cls"]):
            self.assertEqual(int(c), int(ucls))
            self.assertAlmostEqual(cx * W, (b[0] + b[2]) / 2, delta=2e-5 * W)
            self.assertAlmostEqual(cy * H, (b[1] + b[3]) / 2, delta=2e-5 * H)
            self.assertAlmostEqual(bw * W, b[2] - b[0], delta=2e-5 * W)
            self.assertAlmostEqual(bh * H, b[3] - b[1], delta=2e-5 * H)
            self.assertAlmostEqual(cf, uc, delta=1e-4)
        print(f"[interop] predict: {len(rows)} boxes agree (Ultralytics {got['version']})")

    def selfval_dataset(self):
        """bus.jpg and the synthetic val images labelled with best.pt's own confident boxes: a two-epoch network
        scores nothing on the synthetic labels, and equal zeros would prove nothing. (The gentle SGD training
        matters too: a network whose scores saturate at 1.0 ties hundreds of predictions, and AP then depends
        on how each tool orders ties.)"""
        sv = ARGS["work"] / "selfval"
        shutil.rmtree(sv, ignore_errors=True)
        (sv / "images" / "val").mkdir(parents=True)
        shutil.copy(ARGS["fixtures"] / "bus.jpg", sv / "images" / "val")
        for f in sorted((self.ds / "images" / "val").iterdir()):
            shutil.copy(f, sv / "images" / "val")
        yolocpp("predict", f"model={self.best}", f"source={sv / 'images' / 'val'}", "conf=0.4", "iou=0.3", "imgsz=320",
                "save_txt=True", f"project={self.runs}", "name=svpred", "exist_ok=True", "device=cpu", "save=False")
        shutil.copytree(self.runs / "svpred" / "labels", sv / "labels" / "val")
        yaml = sv / "data.yaml"
        yaml.write_text(f"path: {sv}\ntrain: images/val\nval: images/val\nnames:\n  0: villager\n  1: house\n  2: tree\n")
        return yaml

    def test_ultralytics_validates_best_pt_to_the_same_metrics(self):
        data = self.selfval_dataset()
        got, p = oracle("val", self.best, data, 320, 4)
        self.assertIsNotNone(got, p.stdout[-3000:])
        r = yolocpp("val", f"model={self.best}", f"data={data}", "imgsz=320", "batch=4", "device=cpu",
                    "plots=True", f"project={self.runs}", "name=val", "exist_ok=True")
        for f in ("PR_curve.png", "F1_curve.png", "P_curve.png", "R_curve.png", "confusion_matrix.png"):
            self.assertTrue((self.runs / "val" / f).stat().st_size > 1000, f)
        ours = all_row(r.stdout)
        theirs = [got["p"], got["r"], got["map50"], got["map"]]
        print(f"[interop] val P R mAP50 mAP50-95: yolocpp {ours} Ultralytics {theirs}")
        if ARGS["version"] != "8.3.58":
            # yolocpp's validator follows 8.3.58 (its metrics fixtures); 8.4.27 scores the same predictions lower
            # (measured P 0.102 vs 0.132, R 0.401 vs 0.527 here): reported, not asserted.
            self.skipTest(f"validator parity is defined against 8.3.58; {ARGS['version']} gave {theirs}, yolocpp {ours}")
        self.assertGreater(theirs[1], 0.1, "recall ~0: the comparison would be vacuous")
        for a, b in zip(ours, theirs):  # the table prints 3 significant digits
            self.assertAlmostEqual(a, b, delta=max(1e-4, 6e-3 * abs(b)))

    def test_args_yaml_passes_ultralytics_config_check(self):
        args = self.run_dir / "args.yaml"
        extra = self.run_dir / "yolocpp_args.yaml"
        self.assertTrue(extra.exists(), "yolocpp-only settings belong in yolocpp_args.yaml")
        got, p = oracle("cfgcheck", args)
        self.assertTrue(got and got["ok"], p.stdout[-3000:])
        self.assertEqual(got["epochs"], 2)
        self.assertEqual(got["imgsz"], IMGSZ)
        # The check is real: the yolocpp-only keys (amp_dtype, sync_bn, ...) make it fail.
        both = ARGS["work"] / "both.yaml"
        both.write_text(args.read_text() + extra.read_text())
        bad, _ = oracle("cfgcheck", both, check=False)
        self.assertFalse(bad["ok"])
        # Both files load back into yolocpp as cfg=.
        for f in (args, extra):
            r = yolocpp("cfg", f"cfg={f}")
            self.assertIn("imgsz: 96" if f == args else "amp_dtype:", r.stdout)

    @needs_training
    def test_yolocpp_mid_training_checkpoint_resumes_in_ultralytics(self):
        ck = self.run_dir / "weights" / "epoch0.pt"
        self.assertTrue(ck.exists(), "save_period=1 should keep weights/epoch0.pt")
        copy = ARGS["work"] / "resume_u" / "last.pt"
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ck, copy)
        # Ultralytics continues in the run folder named by train_args.save_dir, i.e. this yolocpp run: keep the
        # run's own weights for the other tests.
        weights = self.run_dir / "weights"
        backup = ARGS["work"] / "weights_backup"
        shutil.rmtree(backup, ignore_errors=True)
        shutil.copytree(weights, backup)
        try:
            got, p = oracle("resume", copy)
        finally:
            shutil.rmtree(weights)
            shutil.copytree(backup, weights)
        self.assertIsNotNone(got, p.stdout[-4000:])
        print(f"[interop] Ultralytics resumed a yolocpp epoch-0 checkpoint: {got}")
        self.assertEqual(got["start_epoch"], 1)
        self.assertEqual(got["epochs"], 2)
        self.assertGreater(got["ema_updates"], 0)
        self.assertGreater(got["optimizer_states"], 0)
        self.assertGreater(got["state_abs_sum"], 0.0)  # momentum / Adam moments were restored, not zeros
        self.assertEqual(got["finished_epoch"], 1)

    @needs_training
    def test_ultralytics_last_pt_resumes_in_yolocpp(self):
        proj = ARGS["work"] / "uruns"
        shutil.rmtree(proj, ignore_errors=True)
        got, p = oracle("train_partial", ARGS["fixtures"] / "yolo11n_nc3_random.pt", self.data, IMGSZ, proj)
        self.assertIsNotNone(got, p.stdout[-4000:])
        last = Path(got["last"])
        self.assertTrue(last.exists(), p.stdout[-3000:])
        r = yolocpp("train", f"resume={last}")
        self.assertIn("from epoch 2 to 2 total epochs", r.stdout)
        self.assertIn("1 epochs completed", r.stdout)
        # The finished run's best.pt is again a file Ultralytics loads.
        best = last.parent / "best.pt"
        got2, p2 = oracle("predict", best, ARGS["fixtures"] / "bus.jpg", 160, 0.25)
        self.assertIsNotNone(got2, p2.stdout[-3000:])


def main():
    if len(sys.argv) != 5:
        print(__doc__)
        return 2
    ci = os.environ.get("CI") == "true"
    tarball = Path(sys.argv[2])
    missing = None
    if not tarball.exists():
        missing = f"{tarball} is missing (../shared/reference)"
    elif run([PY, "-c", "import torch, torchvision, cv2, yaml, pandas, matplotlib, scipy"], check=False).returncode:
        missing = "Debian's python3-torch and friends are not installed (scripts/install-deps --interop)"
    if missing:
        print(("FAIL (CI=true): " if ci else "SKIP: ") + missing)
        return 1 if ci else 77
    work = Path(sys.argv[4])
    work.mkdir(parents=True, exist_ok=True)
    ultra = work / ("ultralytics-" + tarball.name.split("-")[1].replace(".tar.xz", ""))
    if not (ultra / "ultralytics").is_dir():
        shutil.rmtree(ultra, ignore_errors=True)
        with tarfile.open(tarball) as t:
            t.extractall(ultra)
    ARGS.update(version=ultra.name.split("-")[1], bin=str(Path(sys.argv[1]).resolve()), ultra=ultra, fixtures=Path(sys.argv[3]), work=work)
    prog = unittest.main(argv=[sys.argv[0], "-v"], exit=False)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
