#!/usr/bin/env python3
"""Writes a docker-save archive of a synthetic image for the image benchmarks.

Five layers of about 47 MB each (~235 MB unpacked, ~100 MB gzip-compressed), each with ~1500
small files and a few large ones whose content is 25% random bytes and 75% repetitive text, so
that gzip compresses it about as much as a typical distribution image. The content is the same on
every run (seeded), and /bin/busybox is added so the image can run `/bin/busybox true`.

usage: make-bench-image.py OUTPUT.tar [NAME:TAG]
"""
import hashlib
import io
import json
import random
import sys
import tarfile

LAYERS = 5
SMALL_FILES = 1500
SMALL_MEAN = 16 << 10
LARGE_FILES = 4
LARGE_SIZE = 6 << 20
RANDOM_SHARE = 0.25

WORDS = b"the quick brown fox jumps over the lazy dog lorem ipsum dolor sit amet ".split()


def content(rng, size):
    random_part = int(size * RANDOM_SHARE)
    text = bytearray()
    while len(text) < size - random_part:
        text += b" ".join(rng.choice(WORDS) for _ in range(12)) + b"\n"
    return rng.randbytes(random_part) + bytes(text[: size - random_part])


def add(tar, name, data, mode=0o644):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.mtime = 1700000000
    tar.addfile(info, io.BytesIO(data))


def add_dir(tar, name):
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    info.mtime = 1700000000
    tar.addfile(info)


def layer(index):
    rng = random.Random(index)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        top = f"data{index}"
        add_dir(tar, top)
        for d in range(30):
            add_dir(tar, f"{top}/d{d:02}")
        for i in range(SMALL_FILES):
            size = max(1, int(rng.expovariate(1 / SMALL_MEAN)))
            add(tar, f"{top}/d{i % 30:02}/f{i:05}", content(rng, size))
        for i in range(LARGE_FILES):
            add(tar, f"{top}/large{i}.bin", content(rng, LARGE_SIZE))
        if index == LAYERS - 1:
            add_dir(tar, "bin")
            with open("/bin/busybox", "rb") as f:
                add(tar, "bin/busybox", f.read(), 0o755)
    return buf.getvalue()


def main():
    output = sys.argv[1]
    name = sys.argv[2] if len(sys.argv) > 2 else "berth-bench:1"
    layers = [layer(i) for i in range(LAYERS)]
    diff_ids = ["sha256:" + hashlib.sha256(data).hexdigest() for data in layers]
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "created": "2023-11-14T22:13:20Z",
            "config": {"Cmd": ["/bin/busybox", "true"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created_by": f"layer {i}"} for i in range(LAYERS)],
        }
    ).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    layer_names = [d.split(":")[1] + "/layer.tar" for d in diff_ids]
    manifest = json.dumps(
        [{"Config": config_name, "RepoTags": [name], "Layers": layer_names}]
    ).encode()
    with tarfile.open(output, mode="w") as tar:
        add(tar, config_name, config)
        for layer_name, data in zip(layer_names, layers):
            add(tar, layer_name, data)
        add(tar, "manifest.json", manifest)
    print(f"{output}: {sum(map(len, layers)) >> 20} MiB in {LAYERS} layers as {name}")


main()
