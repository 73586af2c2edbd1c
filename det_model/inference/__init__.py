"""Text detection with an exported model: predictor, detector (pre/post-processing, folder runs), image I/O."""
