"""fetch_hiertext: data URI -> Dataset artifact (label_train.txt + label_eval.txt + images) with counts."""

from kfp import dsl
from kfp.dsl import Dataset, Output

from components.image import BASE_IMAGE


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def fetch_hiertext(
    data_uri: str,
    dataset: Output[Dataset],
    label_level: str = "line",
    data_sha256: str = "",
    data_size: int = 0,
    data_version: str = "",
    retries: int = 3,
):
    """Fetch s3:// (MinIO creds from the Secret's env), https://, file:// or synthetic://N into `dataset`.

    Accepts a PaddleOCR-format tar or the raw HierText release (converted at `label_level`); `data_version`
    only feeds the cache key (caching is on for this step only when the pipeline pins a version).
    """
    import logging
    from pathlib import Path

    from det_model.data.fetch.layout import fetch_dataset

    logging.basicConfig(level=logging.INFO)
    result = fetch_dataset(
        data_uri,
        Path(dataset.path),
        sha256=data_sha256 or None,
        size=data_size or None,
        label_level=label_level,
        retries=retries,
    )
    dataset.metadata.update(result.as_metadata())
    dataset.metadata.update({"uri": data_uri, "data_version": data_version, "label_level": label_level})
    print(f"fetched {data_uri}: {result.train_images} train / {result.eval_images} eval images")
