#!/usr/bin/python3
"""Generate the vision test fixtures and their PIL-decoded references.

Run from anywhere with Debian's Python (it needs python3-pil 9.4, numpy and
libjpeg-turbo-progs 2.1.5, the same libjpeg-turbo that PIL uses):

    /usr/bin/python3 vision/testdata/gen.py

Sources are cut from the course images in ../../../shared/data/imagenet-100.
For every fixture X (a .jpg or .png) it writes X.rgb.png, the bytes of
PIL's Image.open(X).convert("RGB") stored losslessly. profile-*.png hold the
uint8 image torchvision's Resize(256)+CenterCrop(224) produce (PIL BILINEAR),
the input of the imagenet profile before ToTensor/Normalize. err-*.jpg are
files that must be rejected. Tests read these files only; they never run
Python.
"""
import io
import os
import struct
import subprocess
import tempfile
import zlib

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.join(HERE, "..", "..", "..", "shared", "data", "imagenet-100")


def course(i):
    return Image.open(os.path.join(SHARED, f"test_{i}.JPEG")).convert("RGB")


def mosaic(w, h):
    """A w x h picture built from course images (some detail, some edges)."""
    tiles = Image.new("RGB", (192, 128))
    for k in range(6):
        tiles.paste(course(k * 7), ((k % 3) * 64, (k // 3) * 64))
    return tiles.resize((w, h), Image.BICUBIC)


def cjpeg(name, src, *args, scans=None):
    with tempfile.TemporaryDirectory() as tmp:
        ppm = os.path.join(tmp, "in.ppm")
        src.save(ppm)
        cmd = ["cjpeg", *args]
        if scans:
            path = os.path.join(tmp, "scans.txt")
            with open(path, "w") as f:
                f.write(scans)
            cmd += ["-scans", path]
        out = subprocess.run(cmd + [ppm], check=True, capture_output=True).stdout
    write(name, out)


REFS = {}  # decoded bytes -> reference file already holding them


def write(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)
    if name.startswith("err-"):
        return
    rgb = Image.open(os.path.join(HERE, name)).convert("RGB")
    key = (rgb.size, rgb.tobytes())
    if key in REFS:
        # Same pixels as an earlier fixture (e.g. the progressive form of
        # the same coefficients): X.same names that reference.
        with open(os.path.join(HERE, name + ".same"), "w") as f:
            f.write(REFS[key] + "\n")
        return
    REFS[key] = name + ".rgb.png"
    # Re-wrap the bytes so no info (e.g. transparency) reaches the PNG.
    Image.frombytes("RGB", rgb.size, rgb.tobytes()).save(
        os.path.join(HERE, name + ".rgb.png"), optimize=True)


def pil_jpeg(name, im, **kw):
    buf = io.BytesIO()
    im.save(buf, "JPEG", **kw)
    write(name, buf.getvalue())


def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))


def raw_png(w, h, depth, ctype, rows, extra=b""):
    """A PNG written by hand, for kinds PIL cannot save (16-bit RGB...)."""
    raw = b"".join(b"\x00" + r for r in rows)
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 0))
            + extra + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def pil_png(name, im, **kw):
    buf = io.BytesIO()
    im.save(buf, "PNG", **kw)
    write(name, buf.getvalue())


# Progressive scan scripts that leave coefficient bits unsent, which makes
# libjpeg smooth blocks (jdcoefct.c decompress_smooth_data).
DC_ONLY = "0,1,2: 0-0, 0, 0;\n"
LOW_AC = "0,1,2: 0-0, 0, 0;\n0: 1-2, 0, 0;\n1: 1-5, 0, 0;\n2: 1-63, 0, 0;\n"
GRAY_LOW = "0: 0-0, 0, 0;\n0: 1-9, 0, 1;\n"
NO_REFINE = ("0,1,2: 0-0, 0, 1;\n0: 1-5, 0, 2;\n2: 1-63, 0, 1;\n1: 1-63, 0, 1;\n"
             "0: 6-63, 0, 2;\n0: 1-63, 2, 1;\n0,1,2: 0-0, 1, 0;\n")
SEQ_SEPARATE = "0: 0-63, 0, 0;\n1: 0-63, 0, 0;\n2: 0-63, 0, 0;\n"


def main():
    for f in os.listdir(HERE):
        if f.endswith((".jpg", ".png", ".same")):
            os.remove(os.path.join(HERE, f))

    big = mosaic(75, 45).resize((250, 150), Image.BICUBIC)
    odd = mosaic(111, 69).crop((5, 7, 42, 30))  # 37x23
    mid = mosaic(96, 64).crop((0, 0, 64, 48))

    cjpeg("big-420.jpg", big)
    cjpeg("big-prog-420.jpg", big, "-progressive")
    for s in ["1x1", "2x1", "1x2", "2x2", "4x1", "1x4", "4x2"]:
        cjpeg(f"odd-{s}.jpg", odd, "-sample", s)
        cjpeg(f"odd-prog-{s}.jpg", odd, "-sample", s, "-progressive")
    cjpeg("odd-gray.jpg", odd, "-grayscale")
    cjpeg("odd-gray-prog.jpg", odd, "-grayscale", "-progressive")
    cjpeg("odd-rgb.jpg", odd, "-rgb")
    cjpeg("odd-q100.jpg", odd, "-quality", "100", "-sample", "1x1")
    cjpeg("odd-q5.jpg", odd, "-quality", "5")
    for w, h in [(1, 1), (2, 2), (3, 3), (5, 3), (2, 7), (17, 9), (9, 17)]:
        cjpeg(f"tiny-{w}x{h}.jpg", odd.crop((3, 2, 3 + w, 2 + h)))
        cjpeg(f"tiny-{w}x{h}-422.jpg", odd.crop((3, 2, 3 + w, 2 + h)), "-sample", "2x1")
        cjpeg(f"tiny-{w}x{h}-440.jpg", odd.crop((3, 2, 3 + w, 2 + h)), "-sample", "1x2")
    cjpeg("mid-rst1.jpg", mid, "-restart", "1")
    cjpeg("mid-rst3b.jpg", mid, "-restart", "3B")
    cjpeg("mid-prog-rst2b.jpg", mid, "-progressive", "-restart", "2B")
    cjpeg("mid-gray-rst5b.jpg", mid, "-grayscale", "-restart", "5B")
    cjpeg("mid-opt.jpg", mid, "-optimize")
    cjpeg("mid-seq-separate.jpg", mid, "-sample", "2x2,1x1,1x1", scans=SEQ_SEPARATE)
    cjpeg("mid-smooth-dc.jpg", mid, "-progressive", scans=DC_ONLY)
    cjpeg("mid-smooth-lowac.jpg", mid, "-progressive", scans=LOW_AC)
    cjpeg("mid-smooth-norefine.jpg", mid, "-progressive", scans=NO_REFINE)
    cjpeg("odd-smooth-dc.jpg", odd, "-progressive", scans=DC_ONLY)
    cjpeg("odd-gray-smooth.jpg", odd, "-grayscale", "-progressive", scans=GRAY_LOW)
    for w, h in [(9, 17), (17, 9), (2, 2)]:
        cjpeg(f"tiny-{w}x{h}-smooth-dc.jpg", odd.crop((3, 2, 3 + w, 2 + h)), "-progressive",
              scans=DC_ONLY)
    cjpeg("err-arithmetic.jpg", odd, "-arithmetic")

    pil_jpeg("pil-444-prog-opt.jpg", mid, quality=90, subsampling=0,
             progressive=True, optimize=True)
    pil_jpeg("pil-422.jpg", odd, quality=80, subsampling=1)
    cmyk = mid.convert("CMYK")
    pil_jpeg("pil-cmyk.jpg", cmyk, quality=90)
    # The same data declared YCCK (Adobe transform 2): exercises libjpeg's
    # YCCK->CMYK conversion, whatever the colours look like.
    buf = io.BytesIO()
    cmyk.save(buf, "JPEG", quality=90)
    data = bytearray(buf.getvalue())
    at = data.find(b"Adobe")
    assert at > 0 and data[at + 11] == 0, "expected an Adobe marker with transform 0"
    data[at + 11] = 2
    write("pil-ycck.jpg", bytes(data))

    small = mid.crop((0, 0, 24, 16))
    pil_png("png-rgb.png", small)
    pil_png("png-rgba.png", Image.merge("RGBA", (*small.split(), small.convert("L"))))
    pil_png("png-gray.png", small.convert("L"))
    pil_png("png-la.png", small.convert("LA"))
    pil_png("png-1bit.png", small.convert("1"))
    pil_png("png-palette.png", small.quantize(37))
    pal = small.quantize(16)
    pil_png("png-palette-trns.png", pal, transparency=3)
    pil_png("png-palette-4bit.png", pal, bits=4)
    a = np.asarray(small).astype(np.uint32)
    h, w = a.shape[:2]
    g16 = (a[:, :, 0] * 257 // 2 + np.arange(w)[None, :] * 3).astype(">u2")
    write("png-gray16.png", raw_png(w, h, 16, 0, [r.tobytes() for r in g16]))
    write("png-gray16-trns.png", raw_png(w, h, 16, 0, [r.tobytes() for r in g16],
                                         chunk(b"tRNS", struct.pack(">H", int(g16[0, 0])))))
    rgb16 = (a * 257 + np.arange(w)[None, :, None]).astype(">u2")
    write("png-rgb16.png", raw_png(w, h, 16, 2, [r.tobytes() for r in rgb16]))
    rgba16 = np.concatenate([rgb16, (a[:, :, :1] * 200).astype(">u2")], axis=2)
    write("png-rgba16.png", raw_png(w, h, 16, 6, [r.tobytes() for r in rgba16]))
    la16 = np.stack([rgb16[:, :, 1], rgb16[:, :, 0]], axis=2).astype(">u2")
    write("png-la16.png", raw_png(w, h, 16, 4, [r.tobytes() for r in la16]))
    g2 = (a[:, :, 1] >> 6).astype(np.uint8)
    rows2 = [bytes(np.packbits(np.unpackbits(r[:, None], axis=1)[:, 6:].reshape(-1)))
             for r in g2]
    write("png-gray2.png", raw_png(w, h, 2, 0, rows2))
    idx = (a[:, :, 0] // 16).astype(np.uint8)  # indices 0..15, PLTE has 8 colours
    plte = bytes(np.arange(24, dtype=np.uint8) * 10)
    write("png-palette-short.png", raw_png(w, h, 8, 3, [r.tobytes() for r in idx],
                                           chunk(b"PLTE", plte)))

    # imagenet profile references: Resize(256) + CenterCrop(224) as
    # torchvision 0.14 does them on a PIL image.
    def imagenet_crop(im):
        w, h = im.size
        short, long = (w, h) if w <= h else (h, w)
        nw, nh = (256, int(256 * long / short)) if w <= h else (int(256 * long / short), 256)
        if (nw, nh) != (w, h):
            im = im.resize((nw, nh), Image.BILINEAR)
        top = int(round((nh - 224) / 2.0))
        left = int(round((nw - 224) / 2.0))
        return im.crop((left, top, left + 224, top + 224))

    imagenet_crop(Image.open(os.path.join(HERE, "odd-2x2.jpg")).convert("RGB")).save(
        os.path.join(HERE, "profile-odd-2x2.png"), optimize=True)
    imagenet_crop(synthetic(701, 300)).save(os.path.join(HERE, "profile-synthetic-701x300.png"),
                                           optimize=True)


def synthetic(w, h):
    """The pattern vision's profile test builds in Go (see syntheticImage)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.int64)
    r = (x * 255) // (w - 1)
    g = (y * 255) // (h - 1)
    b = ((x // 7 + y // 5) % 2) * 200 + (x + y) % 50
    return Image.fromarray(np.stack([r, g, b], axis=2).astype(np.uint8), "RGB")


if __name__ == "__main__":
    main()
