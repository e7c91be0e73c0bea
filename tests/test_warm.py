"""The warm programs' exit status survives the loss of its fork server."""

import subprocess
import sys
import textwrap

from tests.helpers import ROOT

#: In a fresh interpreter (the suite's own fork server is left alone):
#: a program that exits 3 after its fork server was killed, which is how
#: the server's report of a status is lost (cpython#140867).
_KILL_THE_SERVER = textwrap.dedent(
    """
    import multiprocessing.forkserver, os, signal, sys, time
    from tests import warm

    if __name__ == "__main__":
        warm.PRELOAD = []
        program = warm.WarmProcess([sys.argv[1]], os.getcwd(), dict(os.environ))
        time.sleep(0.5)
        os.kill(multiprocessing.forkserver._forkserver._forkserver_pid,
                signal.SIGKILL)
        print(program.wait(60), program.communicate(60)[0].strip())
    """
)


def test_a_lost_status_report_is_read_from_the_program(tmp_path):
    script = tmp_path / "exits_3.py"
    script.write_text(
        "import time\ntime.sleep(2)\nprint('ended')\nraise SystemExit(3)\n"
    )
    driver = tmp_path / "driver.py"
    driver.write_text(_KILL_THE_SERVER)
    out = subprocess.run(
        [sys.executable, str(driver), str(script)],
        cwd=ROOT,
        env={"PYTHONPATH": ROOT, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["3", "ended"]
