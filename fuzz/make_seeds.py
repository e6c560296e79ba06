#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz harnesses: small valid inputs (so the fuzzer starts deep inside each
format), the crafted hostile files of the tests/*/test_hostile*.cpp suites, and slices of the Ultralytics
fixtures in ../shared.

usage: fuzz/make_seeds.py OUT_DIR [SHARED_DIR]    (OUT_DIR/<harness>/<seed> files)
Only the Python standard library is used; nothing here imports torch or Ultralytics.
"""
import io
import json
import os
import struct
import sys
import tarfile
import zipfile
import hashlib

out = sys.argv[1]
shared = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "..", "..", "shared")
fixtures = os.path.join(shared, "fixtures", "ultralytics")


def put(harness, name, data):
    d = os.path.join(out, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def u(s):  # SHORT_BINSTRING
    b = s.encode()
    return b"U" + bytes([len(b)]) + b


P2 = b"\x80\x02"
TENSOR = (b"ctorch._utils\n_rebuild_tensor_v2\n((" + u("storage") + b"ctorch\nFloatStorage\n" + u("0") + u("cpu") +
          b"K\x04tQK\x00(K\x04t(K\x01t\x89ccollections\nOrderedDict\n)RtR")


def checkpoint_pickle(extra=b""):
    return (P2 + b"}(" + u("model") + b"cultralytics.nn.tasks\nDetectionModel\n)\x81}(" + u("_parameters") + b"}(" +
            u("w") + TENSOR + b"u" + u("names") + b"}(K\x00" + u("a") + b"uub" + u("epoch") + b"K\x03" + extra + b"u.")


dag40 = b"N" + b"q\x00h\x00\x86" * 40
pickles = {
    "ckpt.pkl": checkpoint_pickle(),
    "nested.pkl": P2 + b"N" + b"\x85" * 300 + b".",
    "cycle.pkl": P2 + b"]q\x00h\x00a.",
    "dag40.pkl": P2 + dag40 + b".",
    "proto0.pkl": b"(lp0\nI1\naS'a\\x41'\np1\naV\\u00e9\np2\naF1.5\na.",
    "stride0.pkl": P2 + TENSOR.replace(b"(K\x04t(K\x01t", b"(J@B\x0f\x00M\xe8\x03t(K\x00K\x00t") + b".",
}
for name, data in pickles.items():
    put("pickle", name, data)


def pt_zip(pickle, record=struct.pack("<4f", 1, 2, 3, 4), deflate=False):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pickle)
        z.writestr("archive/data/0", record)
    return b.getvalue()


def native(header, records=()):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as z:
        for name, data in records:
            z.writestr(name, data)
        z.writestr("yolocpp_ckpt/header.json", json.dumps(header))
    return b.getvalue()


good_header = {"format": "yolocpp-checkpoint", "format_version": 1, "names": {"0": "a", "1": "b"}, "epoch": 2,
               "model_yaml": "nc: 2\nbackbone:\n  - [-1, 1, Conv, [16, 3, 2]]\nhead:\n  - [[0], 1, Detect, [nc]]\n",
               "tensors": [{"name": "w", "group": "model", "dtype": "float32", "shape": [2, 2],
                            "record": "yolocpp_ckpt/tensors/0"}]}
rec = [("yolocpp_ckpt/tensors/0", struct.pack("<4f", 1, 2, 3, 4))]
for name, data in {
    "ultra.pt": pt_zip(checkpoint_pickle()),
    "ultra_deflated.pt": pt_zip(checkpoint_pickle(), deflate=True),
    "ultra_dag.pt": pt_zip(checkpoint_pickle(u("train_args") + dag40)),
    "native.pt": native(good_header, rec),
    "native_names.pt": native(dict(good_header, names={"abc": "x"}), rec),
    "native_shape.pt": native(dict(good_header, tensors=[dict(good_header["tensors"][0], shape=[10**6, 10**6])]), rec),
}.items():
    put("checkpoint", name, data)
    put("zip", name, data)

# ZIP64 records pointing near 2^64 (the offsets that used to wrap).
eocd64 = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
put("zip", "z64_locator.zip", struct.pack("<IIQI", 0x07064B50, 0, 2**64 - 16, 1) + eocd64)
put("zip", "z64_cd.zip", struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, 1, 1, 64, 2**64 - 8) +
    struct.pack("<IIQI", 0x07064B50, 0, 0, 1) + eocd64)

# Real Ultralytics pickles from the fixtures (the data.pkl of each .pt; a few hundred KB at most).
for pt in ("yolo11n_nc3_random.pt", "yolo11n_nc3_trainer_last.pt"):
    path = os.path.join(fixtures, pt)
    if os.path.exists(path):
        with zipfile.ZipFile(path) as z:
            pkl = next(n for n in z.namelist() if n.endswith("/data.pkl"))
            data = z.read(pkl)
            put("pickle", pt + ".data.pkl", data)
            put("checkpoint", pt + ".tiny.pt", pt_zip(data))  # records missing or short: deep, then refused


def varint(v):
    b = bytearray()
    while True:
        c = v & 0x7F
        v >>= 7
        b.append(c | (0x80 if v else 0))
        if not v:
            return bytes(b)


def field(num, payload):
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def fields(buf):
    i = 0
    while i < len(buf):
        key = 0
        shift = 0
        while True:
            c = buf[i]
            i += 1
            key |= (c & 0x7F) << shift
            shift += 7
            if not c & 0x80:
                break
        num, wire = key >> 3, key & 7
        if wire == 0:
            while buf[i] & 0x80:
                i += 1
            i += 1
            yield num, wire, None
        elif wire == 2:
            n = 0
            shift = 0
            while True:
                c = buf[i]
                i += 1
                n |= (c & 0x7F) << shift
                shift += 7
                if not c & 0x80:
                    break
            yield num, wire, buf[i:i + n]
            i += n
        elif wire == 1:
            i += 8
            yield num, wire, None
        elif wire == 5:
            i += 4
            yield num, wire, None
        else:
            return


def meta(k, v):
    return field(14, field(1, k.encode()) + field(2, v.encode()))


def value_info(name, dims):
    shape = b"".join(field(1, varint(1 << 3) + varint(d)) for d in dims)
    return field(1, name.encode()) + field(2, field(1, field(2, shape)))


graph = field(7, field(11, value_info("images", [1, 3, 640, 640])) + field(12, value_info("output0", [1, 7, 8400])))
put("onnx", "tiny.onnx", graph + meta("stride", "32") + meta("names", "{0: 'villager', 1: 'house', 2: 'tree'}"))
put("onnx", "names_key.onnx", graph + meta("names", "{2147483647: 'x'}"))
put("onnx", "names_lit.txt", b"\x01{0: 'a\\x41', 1: \"it's\", 10: 'x y'}")
onnx = os.path.join(fixtures, "yolo11n_nc3.onnx")
if os.path.exists(onnx):  # the real export without its weights and nodes: metadata, graph inputs and outputs
    with open(onnx, "rb") as f:
        buf = f.read()
    slim = b""
    for num, wire, payload in fields(buf):
        if num == 14 and payload is not None:
            slim += field(14, payload)
        elif num == 7 and payload is not None:
            g = b"".join(field(n, p) for n, w, p in fields(payload) if n in (11, 12) and p is not None)
            slim += field(7, g)
    put("onnx", "yolo11n_nc3.slim.onnx", slim)

put("labels", "boxes.txt", b"\x02" + b"0 0.5 0.5 0.2 0.2\n1 0.25 0.25 0.1 0.1\n1 0.25 0.25 0.1 0.1\n")
put("labels", "polygon.txt", b"\x02" + b"0 0.1 0.1 0.9 0.1 0.9 0.9 0.1 0.9\n")
put("labels", "hexfloat.txt", b"\x00" + b"0 0x1p-1 0.5 0.2 0.2\n")
put("labels", "bad.txt", b"\x00" + b"7 1.5 -0.2 nan inf\n0 0.5\n")

for name, text in {
    "list.yaml": "path: .\ntrain: images/train\nval: images/val\nnames: [a, b]\n",
    "map.yaml": "train: images/train\nval: images/val\nnc: 2\nnames:\n  0: a\n  1: b\nchannels: 3\n",
    "nc_only.yaml": "train: images/train\nval: images/val\nnc: 3\n",
    "huge_nc.yaml": "train: images/train\nval: images/val\nnc: 2147483647\n",
    "channels.yaml": "train: images/train\nval: images/val\nnames: [a]\nchannels: 1\n",
}.items():
    put("dataset_yaml", name, text)


def tgz(entries):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w:gz", format=tarfile.PAX_FORMAT) as t:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return b.getvalue()


files = [("data.yaml", b"path: .\ntrain: images/train\nval: images/train\nnames: [a]\n"),
         ("images/train/a.jpg", b"jpeg"), ("labels/train/a.txt", b"0 0.5 0.5 0.2 0.2\n")]
manifest = "".join(hashlib.sha256(d).hexdigest() + "  " + n + "\n" for n, d in files).encode()
put("unpack", "pack.tgz", b"\x00" + tgz([("MANIFEST.sha256", manifest)] + files))
put("unpack", "cache.tgz", b"\x00" + tgz([("MANIFEST.sha256", manifest)] + files + [("labels/train.cache", b"x")]))
put("unpack", "dotdot.tgz", b"\x00" + tgz([("../evil", b"x")]))
put("unpack", "manifest.txt", b"\x01" + hashlib.sha256(b"not really an image").hexdigest().encode() + b"  images/a.jpg\n")
