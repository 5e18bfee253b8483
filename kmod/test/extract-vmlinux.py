#!/usr/bin/env python3
"""Extract the uncompressed ELF vmlinux from a bzImage (the logic of Linux's
scripts/extract-vmlinux): find a compressed payload by its magic, decompress
it, keep the first result that is an ELF file. QEMU boots the ELF directly
through PVH (CONFIG_PVH=y), which under TCG is several times faster than
letting the guest decompress itself.

usage: extract-vmlinux.py BZIMAGE OUT
"""
import gzip
import lzma
import shutil
import subprocess
import sys
import zlib

MAGICS = [
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\x1f\x8b\x08", "gzip"),
]


def decompress(kind, data):
    if kind == "xz":
        return lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data)
    if kind == "gzip":
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data)
    if shutil.which("zstd"):
        return subprocess.run(["zstd", "-dc"], input=data, capture_output=True).stdout
    return b""


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    img = open(sys.argv[1], "rb").read()
    for magic, kind in MAGICS:
        pos = img.find(magic)
        while pos >= 0:
            try:
                out = decompress(kind, img[pos:])
            except (lzma.LZMAError, zlib.error, EOFError, gzip.BadGzipFile):
                out = b""
            if out[:4] == b"\x7fELF":
                with open(sys.argv[2], "wb") as f:
                    f.write(out)
                return
            pos = img.find(magic, pos + 1)
    sys.exit("extract-vmlinux: no compressed ELF kernel found in " + sys.argv[1])


if __name__ == "__main__":
    main()
