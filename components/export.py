"""export: trained Model -> inference folders (inference.pdmodel/.pdiparams, and inference.onnx if possible)."""

from typing import List

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Model, Output

from components.image import BASE_IMAGE


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def export(
    dataset: Input[Dataset],
    model: Input[Model],
    config: Input[Artifact],
    exported: Output[Model],
    overrides: List[str],
):
    """One folder per sub-model (Student, Student2, Teacher for CML); `Student` is the shipped detector.
    `-o Global.export_int8=true` adds `Student/int8/`, calibrated on the dataset's training images."""
    import json
    from pathlib import Path

    from components.overrides import inference_overrides, yaml_value
    from det_model.config import read_config
    from det_model.export import export_model

    target = Path(exported.path)
    target.mkdir(parents=True, exist_ok=True)
    recipe = read_config(config.path)
    extra = inference_overrides(recipe.config, model.path, dataset.path)
    extra.append(f"Global.save_inference_dir={yaml_value(str(target))}")
    folders = export_model(recipe.with_overrides(extra + overrides))
    index = {name: str(Path(folder).relative_to(target)) for name, folder in folders.items()}
    (target / "models.json").write_text(json.dumps(index, indent=2))
    exported.metadata.update(
        {
            "sub_models": sorted(index),
            "onnx": sorted(n for n, f in folders.items() if (Path(f) / "inference.onnx").exists()),
            "int8": sorted(n for n in index if n.endswith("_int8")),
            "serve": index.get("Student", next(iter(index.values()), "")),
        }
    )
    print(f"exported {', '.join(f'{n} -> {target / p}' for n, p in index.items())}")
