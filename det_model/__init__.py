"""PP-OCRv3 text detection (PaddlePaddle): config, data, model, training, evaluation, export and inference."""

import warnings

# Paddle warns on every import that ccache is missing; it only matters when compiling C++ extensions.
warnings.filterwarnings("ignore", message="No ccache found", category=UserWarning)
