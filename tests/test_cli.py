import subprocess
import sys

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
