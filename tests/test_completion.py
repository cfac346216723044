"""Shell completion (click's, for bash, zsh and fish): verbs, options, query names, query parameters."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

#: The console script, as a shell runs it: completion is keyed by the program's name.
MLPROV = [str(Path(sys.executable).with_name("mlprov"))]


def _complete(line: str, shell: str = "bash") -> list[str]:
    """What the shell would be offered for the last word of ``line``, from the real ``mlprov``."""
    words = line.split(" ")
    env = {**os.environ, "_MLPROV_COMPLETE": f"{shell}_complete", "COMP_WORDS": line, "COMP_CWORD": str(len(words) - 1)}
    done = subprocess.run(MLPROV, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [line.split(",", 1)[1] for line in done.stdout.splitlines() if "," in line]


def test_verbs_and_options_complete():
    assert {"run", "runs"} <= set(_complete("mlprov ru"))
    assert "--format" in _complete("mlprov runs --fo")


def test_query_names_complete_from_the_library():
    offered = _complete("mlprov query run-")
    assert {"run-params", "run-metrics", "run-cells", "run-artifacts"} <= set(offered)
    assert all(name.startswith("run-") for name in offered)


def test_query_parameters_complete_for_the_query_on_the_line():
    assert _complete("mlprov query best-runs -p ") == ["metric=", "threshold=", "limit="]
    assert _complete("mlprov query best-runs -p th") == ["threshold="]
    assert _complete("mlprov query not-a-query -p ") == []


def test_the_shell_script_is_written_for_bash_zsh_and_fish():
    for shell in ("bash", "zsh", "fish"):
        env = {**os.environ, "_MLPROV_COMPLETE": f"{shell}_source"}
        done = subprocess.run(MLPROV, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and "_MLPROV_COMPLETE" in done.stdout, (shell, done.stderr)
