"""`layerlab grade`'s own lines for an instructor who is in the wrong folder or stops a batch."""

from __future__ import annotations

from layerlab import cli
from layerlab.cli import grade as grade_cli


def test_a_folder_without_submissions_says_how_to_name_the_course(tmp_path, capsys):
    code = cli.main(["grade", "lab2_hybrid_mix", "--course", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1, err
    assert "no submitted/ folder" in err[0] and "--course" in err[0], err


def test_an_interrupted_batch_says_how_to_go_on(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(grade_cli, "run", interrupted)
    code = cli.main(["grade", "lab2_hybrid_mix", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 130 and len(err) == 1, err
    assert "interrupted" in err[0] and "--resume" in err[0], err
