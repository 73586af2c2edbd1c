"""Backbones: MobileNetV3 (PP-OCRv3 student) and ResNet_vd (PP-OCRv3 teacher)."""
