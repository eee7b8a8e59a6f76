import signal
import subprocess
import sys

import pytest

from lgmpose.cli import build_parser, main


def test_help_lists_every_command(capsys):
    parser = build_parser()
    sub_actions = [a for a in parser._actions if a.dest == "command"]
    names = set(sub_actions[0].choices)
    assert "demo" in names
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_python_dash_m_runs():
    out = subprocess.run([sys.executable, "-m", "lgmpose", "--help"], capture_output=True,
                         text=True, check=True)
    assert "usage: lgmpose" in out.stdout


def test_predict_help_lists_every_detector(capsys):
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for name in ("nanodet", "blazepose", "hog", "motion", "whole_image"):
        assert name in text


def test_a_bad_argument_is_one_line(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["export"])
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("lgmpose export: error:") and "--output" in err


def test_missing_optional_module_gives_the_install_hint(monkeypatch, capsys):
    from lgmpose.commands import complexity

    def needs_torch(args):
        raise ModuleNotFoundError("No module named 'torch'", name="torch")

    monkeypatch.setattr(complexity, "run", needs_torch)
    assert main(["complexity", "lgm_pose"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("lgmpose complexity: error: this command needs 'torch', which is not "
                   "installed; install the 'torch' extra: pip install \"lgmpose[torch]\"")

    def needs_something_else(args):
        raise ModuleNotFoundError("No module named 'nothing_of_ours'", name="nothing_of_ours")

    monkeypatch.setattr(complexity, "run", needs_something_else)
    with pytest.raises(ModuleNotFoundError):  # a bug, not a missing extra: keep the traceback
        main(["complexity", "lgm_pose"])


def test_sigterm_becomes_an_exception_only_while_a_command_runs(monkeypatch, capsys):
    from lgmpose.commands import complexity

    before = signal.getsignal(signal.SIGTERM)

    def terminated(args):
        signal.raise_signal(signal.SIGTERM)
        raise AssertionError("SIGTERM did not interrupt the command")

    monkeypatch.setattr(complexity, "run", terminated)
    assert main(["complexity", "lgm_pose"]) == 128 + signal.SIGTERM
    assert capsys.readouterr().err.strip() == "lgmpose complexity: terminated"
    assert signal.getsignal(signal.SIGTERM) is before
