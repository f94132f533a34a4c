"""The command line in a pipeline: a reader that stops early (``| head``) ends it quietly."""

import subprocess
import sys


def test_a_reader_that_stops_early_gets_no_error_line():
    # `layerlab scenes --help` is short; a long listing is needed to outgrow the pipe's buffer, so the listing is
    # repeated through the CLI's own entry point in a child whose stdout is closed after the first line is read
    code = ("import sys\nfrom layerlab.cli import main\n"
            "import layerlab.mix.scenes as s\n"
            "orig = s.run\n"
            "def run(args):\n"
            "    for _ in range(20000):\n"
            "        orig(args)\n"
            "    return 0\n"
            "s.run = run\n"
            "sys.exit(main(['scenes']))\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert first.strip(), "the command printed nothing"
    assert "Broken pipe" not in err and "Traceback" not in err, err
    assert proc.returncode != 0  # the reader left: not all of the output was delivered
