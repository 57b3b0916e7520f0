"""Make the image seeds in seeds/images/ (run once; the outputs are committed).

Every seed is made from one real photo: tests/fixtures/images/pillow_hopper.webp (Grace Hopper, a US Navy portrait
in the public domain; the file is Pillow's test image `Tests/images/hopper.webp`, see tests/fixtures/PROVENANCE.csv),
shrunk to a few dozen pixels so that each mutation decodes in microseconds, and written in every container, colour
type and compression the decoders accept (JPEG through libjpeg-turbo, the rest through the `image` crate).

    python3 -m venv /tmp/pil && /tmp/pil/bin/pip install pillow && /tmp/pil/bin/python make_images.py
"""

import io
import os
import struct

from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "..", "..", "..", "tests", "fixtures", "images", "pillow_hopper.webp")
OUT = os.path.join(HERE, "images")

src = Image.open(SRC).convert("RGB")
face = src.resize((32, 32), Image.LANCZOS)
wide = src.resize((40, 24), Image.LANCZOS)
os.makedirs(OUT, exist_ok=True)


def save(name, im, fmt, **kw):
    path = os.path.join(OUT, name)
    im.save(path, fmt, **kw)


def exif_orientation(value):
    exif = Image.Exif()
    exif[0x0112] = value
    return exif.tobytes()


# JPEG
save("baseline.jpg", face, "JPEG", quality=75)
save("progressive.jpg", face, "JPEG", quality=75, progressive=True)
save("subsampling_444.jpg", face, "JPEG", quality=90, subsampling=0)
save("gray.jpg", face.convert("L"), "JPEG", quality=75)
save("exif_orientation_6.jpg", wide, "JPEG", quality=70, exif=exif_orientation(6))
save("exif_orientation_3.jpg", wide, "JPEG", quality=70, exif=exif_orientation(3))
save("cmyk.jpg", face.convert("CMYK"), "JPEG", quality=70)
save("optimized_restart.jpg", face, "JPEG", quality=60, optimize=True, restart_marker_blocks=1)

# PNG
save("rgb.png", face, "PNG")
save("rgba.png", face.convert("RGBA"), "PNG")
save("palette.png", face.convert("P", palette=Image.ADAPTIVE, colors=16), "PNG", transparency=0)
save("gray_alpha.png", face.convert("LA"), "PNG")
save("gray16.png", face.convert("L").point(lambda v: v * 256).convert("I;16"), "PNG")
save("exif_orientation_8.png", wide, "PNG", exif=exif_orientation(8))

# WebP
save("lossy.webp", face, "WEBP", quality=60)
save("lossless.webp", face, "WEBP", lossless=True)
save("alpha.webp", face.convert("RGBA"), "WEBP", quality=60)
save("animated.webp", face, "WEBP", save_all=True, append_images=[face.rotate(90)], duration=100, loop=0, quality=50)

# GIF
save("static.gif", face.convert("P", palette=Image.ADAPTIVE, colors=32), "GIF")
save("animated.gif", face.convert("P"), "GIF", save_all=True, append_images=[face.rotate(90).convert("P")],
     duration=100, loop=0, transparency=0)

# BMP
save("rgb24.bmp", face, "BMP")
save("palette8.bmp", face.convert("P", palette=Image.ADAPTIVE, colors=16), "BMP")
save("gray.bmp", face.convert("L"), "BMP")
save("rgba32.bmp", face.convert("RGBA"), "BMP")

# TIFF
save("raw.tif", face, "TIFF")
save("lzw.tif", face, "TIFF", compression="tiff_lzw")
save("deflate.tif", face, "TIFF", compression="tiff_adobe_deflate")
save("packbits.tif", face, "TIFF", compression="packbits")
save("gray16.tif", face.convert("L").point(lambda v: v * 256).convert("I;16"), "TIFF")
save("cmyk.tif", face.convert("CMYK"), "TIFF", compression="tiff_lzw")
save("exif_orientation_6.tif", wide, "TIFF", exif=exif_orientation(6))

# PNM: binary through Pillow, ASCII and PAM by hand (Pillow writes neither).
small = src.resize((12, 12), Image.LANCZOS)
save("p6.ppm", face, "PPM")
save("p5.pgm", face.convert("L"), "PPM")
save("p4.pbm", face.convert("1"), "PPM")
with open(os.path.join(OUT, "p3_ascii.ppm"), "w") as f:
    f.write("P3\n# ascii rgb\n12 12\n255\n")
    f.write("\n".join(" ".join(str(c) for c in px) for px in small.getdata()) + "\n")
with open(os.path.join(OUT, "p2_ascii16.pgm"), "w") as f:
    f.write("P2\n12 12\n65535\n")
    f.write("\n".join(str(v * 257) for v in small.convert("L").getdata()) + "\n")
with open(os.path.join(OUT, "p7_rgb_alpha.pam"), "wb") as f:
    f.write(b"P7\nWIDTH 12\nHEIGHT 12\nDEPTH 4\nMAXVAL 255\nTUPLTYPE RGB_ALPHA\nENDHDR\n")
    f.write(small.convert("RGBA").tobytes())

total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
print(f"{len(os.listdir(OUT))} seeds, {total} bytes")
