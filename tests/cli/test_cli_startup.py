"""The command line answers `--help`, `--version` and argument errors without loading torch
(about 2 s of a 3 s start on 2 cores): each subcommand imports what it runs inside `run()`."""

import json
import subprocess
import sys

# One typical line per subcommand, parsed (type= checks included) but not run.
LINES = [
    ["models"],
    ["train", "--size", "360x480", "--epochs", "1"],
    ["soup", "a.pt", "b.pt", "--weights", "1,2", "--output", "s.pt"],
    ["refresh-bn", "--weights", "x.pt", "--scales", "0.5,1"],
    ["shift-prior", "--weights", "x.pt", "--alpha", "0.5"],
    ["evaluate", "--split", "val", "--tta", "multiscale:0.5,1", "--refine", "crf"],
    ["predict", "a.png", "--tta", "flip", "--precision", "int8", "--refine", "crf"],
    ["quantize", "--images", "4"],
    ["export", "--output", "m.onnx"],
    ["serve", "--port", "0", "--refine", "none"],
    ["benchmark", "--models", "segnet_basic"],
    ["demo", "--limit", "2"],
]

PROBE = """
import json, sys
from segnet.cli.main import build_parser, main
parser = build_parser()
commands = [parser.parse_args(line).command for line in json.loads(sys.argv[1])]
every = sorted(next(a for a in parser._actions if a.dest == "command").choices)
try:
    main(["predict", "a.png", "--tta", "multiscale:0,1"])  # a bad setting: argparse's error, exit 2
except SystemExit as stop:
    code = stop.code
heavy = sorted(name for name in ("torch", "PIL", "segnet.models", "segnet.inference", "segnet.engine.trainer")
               if name in sys.modules)
import segnet  # the package's names load torch when first used, not before
version = segnet.__version__
from segnet import create_model
model = type(create_model("segnet_basic", 11)).__name__
print(json.dumps({"commands": commands, "every": every, "bad_tta_exit": code, "loaded": heavy, "version": version,
                  "model": model, "torch_after_use": "torch" in sys.modules}))
"""


def test_parsing_every_subcommand_loads_no_torch_and_the_api_loads_it_when_used():
    # One fresh interpreter for all of it (each costs about 3 s on 2 cores).
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(LINES)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["commands"] == [line[0] for line in LINES]
    assert sorted(report["commands"]) == report["every"]  # a new subcommand needs its line here
    assert report["bad_tta_exit"] == 2 and "multiscale:0,1" in done.stderr
    assert report["loaded"] == []
    assert report["version"].count(".") == 2 and report["model"] and report["torch_after_use"]
