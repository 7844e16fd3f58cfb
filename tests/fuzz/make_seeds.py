#!/usr/bin/python3
"""Writes tiny seed inputs for the image fuzzer (progressive/grey JPEG, 16-bit/grey/alpha PNG)."""
import pathlib

import cv2
import numpy as np

OUT = pathlib.Path(__file__).resolve().parent / "corpus_image"
rng = np.random.default_rng(1)
img = rng.integers(0, 256, size=(16, 12, 3), dtype=np.uint8)
cv2.imwrite(str(OUT / "progressive.jpg"), img, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1, cv2.IMWRITE_JPEG_QUALITY, 70])
cv2.imwrite(str(OUT / "grey.jpg"), img[:, :, 0])
cv2.imwrite(str(OUT / "rst.jpg"), img, [cv2.IMWRITE_JPEG_RST_INTERVAL, 1])
cv2.imwrite(str(OUT / "grey.png"), img[:, :, 0])
cv2.imwrite(str(OUT / "deep.png"), img.astype(np.uint16) * 257)
cv2.imwrite(str(OUT / "alpha.png"), np.dstack([img, img[:, :, :1]]))
