"""lpft_theory.data: the saved problem files are found from any working directory."""

import os
import pathlib

import pytest

import lpft_theory as lt
from lpft_theory import data

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_problems_dir_is_the_repository_folder_from_any_cwd(tmp_path, monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)  # not the repository: a relative "problems/" would not resolve here
    assert lt.problems_dir() == ROOT / "problems"
    files = lt.problem_files()
    assert files == sorted((ROOT / "problems").glob("*.npz")) and files
    name = files[0].stem
    assert lt.problem_path(name) == files[0] == lt.problem_path(name + ".npz")
    assert lt.Problem.load(lt.problem_path(name)).d > 0


def test_errors_name_the_problem(tmp_path, monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    with pytest.raises(FileNotFoundError, match="files there"):
        lt.problem_path("no_such_problem")
    with pytest.raises(ValueError):
        lt.problem_path(os.path.join("..", "problems", "x"))
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match=data.ENV_VAR):
        lt.problems_dir()


def test_env_var_overrides(tmp_path, monkeypatch):
    (tmp_path / "a.npz").write_bytes(b"")
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path))
    assert lt.problem_files() == [tmp_path / "a.npz"]
    assert lt.problem_path("a") == tmp_path / "a.npz"
