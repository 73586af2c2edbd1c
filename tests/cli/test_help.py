"""Row 16 of issue 16: every option has a help text, run-local/run --help list the pipeline's parameters,
det-model --version."""

from __future__ import annotations

import argparse

import pytest


def _subparsers(parser: argparse.ArgumentParser, prefix: str = ""):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield f"{prefix}{name}", sub
                yield from _subparsers(sub, f"{prefix}{name} ")


def test_run_local_help_lists_every_parameter_with_its_local_default(capsys) -> None:
    from pipelines.cli import main
    from pipelines.local import LOCAL_DEFAULTS
    from pipelines.params import parameter_specs
    from pipelines.pipeline import ppocrv3_det

    with pytest.raises(SystemExit):
        main(["run-local", "--help"])
    text = capsys.readouterr().out
    for name in parameter_specs(ppocrv3_det):
        assert f"\n  {name} " in text, name
    assert f'data_uri                 String   default "{LOCAL_DEFAULTS["data_uri"]}"' in text
    assert f'image_size               Integer  default {LOCAL_DEFAULTS["image_size"]}' in text


def test_every_det_model_option_has_a_help_text() -> None:
    from det_model.cli import build_parser

    missing = [f"{name} {action.dest}" for name, sub in _subparsers(build_parser()) for action in sub._actions
               if not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)) and not action.help]
    assert missing == []


def test_det_model_version(capsys) -> None:
    from det_model.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("det-model 0.")
