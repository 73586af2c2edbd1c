"""Feature-pyramid necks: RSEFPN (PP-OCRv3 student) and LKPAN (PP-OCRv3 teacher)."""
