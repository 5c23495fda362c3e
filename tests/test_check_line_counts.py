"""scripts/check_line_counts.py: CI's line budget for src/ (DESIGN.md: no file over ~400 lines)."""

import importlib.util
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPEC = importlib.util.spec_from_file_location(
    "check_line_counts", os.path.join(ROOT, "scripts", "check_line_counts.py")
)
check_line_counts = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(check_line_counts)


def write_lines(path, count):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x = 1\n" * count)


def test_files_over_the_budget_are_listed_and_fail(tmp_path, capsys):
    write_lines(tmp_path / "pkg" / "ok.py", 400)
    write_lines(tmp_path / "pkg" / "sub" / "long.py", 401)
    write_lines(tmp_path / "pkg" / "notes.txt", 1000)
    assert check_line_counts.main([str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "1 file(s) over 400 lines" in out
    assert "long.py: 401 lines" in out
    assert "ok.py" not in out and "notes.txt" not in out


def test_a_tree_within_the_budget_prints_one_ok_line(tmp_path, capsys):
    write_lines(tmp_path / "a.py", 3)
    assert check_line_counts.main([str(tmp_path), "--max", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith("line counts OK")
