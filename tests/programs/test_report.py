"""The report program: its errors are one line."""

import pytest

from tests.helpers import fake_run


@pytest.mark.parametrize("damage", ["empty_summary", "bad_history"])
def test_report_on_a_damaged_run_is_one_line_naming_the_file(
    tmp_path, capsys, damage
):
    from bnorder_tf.programs.report import main

    directory = fake_run(tmp_path / "runs", "r", 0.5, 0.2)
    if damage == "empty_summary":
        (directory / "summary.json").write_text("")
        named = "summary.json"
    else:
        with open(directory / "history.csv", "a") as f:
            f.write("1,2,3,4,5,6\n")
        named = "history.csv"
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path / "runs"), "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and named in err[0]
    assert not (tmp_path / "out").exists()
