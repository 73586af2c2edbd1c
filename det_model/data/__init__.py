"""Detection data: label files, sources (PaddleOCR folders, HierText, ICDAR2015, synthetic), PaddleOCR's
transforms (one op a file under `transforms/`) and the paddle.io dataset + loader (`dataset.py`).

Only `dataset.py` imports paddle; everything else is numpy/cv2/shapely/pyclipper.
"""
