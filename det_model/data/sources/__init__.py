"""Data sources, all producing PaddleOCR's label format (`img_path\\t[{"points": ..., "transcription": ...}]`):
PaddleOCR folders (paddleocr.py), the HierText release (hiertext.py), ICDAR2015 `gt_img_*.txt`
(icdar2015.py) and a seeded synthetic scene-text generator (synth.py)."""
