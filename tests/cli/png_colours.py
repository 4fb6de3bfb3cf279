"""png_colours.py PNG #RRGGBB...: prints, per colour given, how many pixels of the PNG have exactly it,
and the count of pixels that are not white. An 8-bit RGB or RGBA, non-interlaced PNG (as Chromium's
screenshots are), decoded with zlib alone: no imaging library needed."""
import struct
import sys
import zlib


def pixels(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise SystemExit(f"{path}: not a PNG")
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            width, height, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or ctype not in (2, 6) or interlace:
                raise SystemExit(f"{path}: depth {depth} colour type {ctype} interlace {interlace}: not decoded here")
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = width * bpp
    prev = bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        prev = line
        for x in range(width):
            yield bytes(line[x * bpp:x * bpp + 3])


want = {bytes.fromhex(c.lstrip("#")): c for c in sys.argv[2:]}
counts = {c: 0 for c in sys.argv[2:]}
other = 0
for px in pixels(sys.argv[1]):
    if px in want:
        counts[want[px]] += 1
    if px != b"\xff\xff\xff":
        other += 1
for c in sys.argv[2:]:
    print(c, counts[c])
print("non-white", other)
