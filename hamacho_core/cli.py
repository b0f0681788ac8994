"""``hamacho`` command line.  Exit codes: 0 success, 1 failure (one-line reason), 130 cancelled."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hamacho_core import __version__
from hamacho_core.progress import Cancelled


class TqdmProgress:
    """A ``progress(stage, done, total)`` callback drawing one tqdm bar per stage."""

    def __init__(self) -> None:
        self._bar = None
        self._stage = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        from tqdm import tqdm

        if stage != self._stage or self._bar is None:
            self.close()
            self._stage = stage
            self._bar = tqdm(total=total, desc=f"{stage:>12}", leave=True, dynamic_ncols=True)
        self._bar.n = done
        self._bar.refresh()
        if done >= total:
            self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
            self._stage = None


def _cmd_demo(args: argparse.Namespace) -> int:
    from hamacho_core.demo import run_demo

    progress = TqdmProgress()
    print(f"Writing the demo dataset ({args.category}) to {args.dir / 'data'} and fitting {args.model} "
          f"with the bundled {args.backbone} backbone...")
    try:
        result = run_demo(args.dir, model=args.model, category=args.category, backbone=args.backbone,
                          image_size=args.image_size, progress=progress)
    finally:
        progress.close()
    m = result.metrics
    print(f"Fitted on {result.n_train} good images in {result.fit_seconds:.1f} s"
          + (f" (memory bank {result.memory_bank} patches)" if result.memory_bank else ""))
    print(f"Inspected {m.n_good + m.n_defective} test images at {result.inspect_ms_per_image:.0f} ms/image")
    print(f"Image AUROC {m.image_auroc:.3f}, pixel AUROC {m.pixel_auroc:.3f}, F1 {m.image_f1:.3f}, "
          f"confusion [[OK->OK, OK->NG], [NG->OK, NG->NG]] = {m.confusion}")
    print(f"Results: {result.csv_path} (CSV) and overlay images in {result.results_dir}")
    return 0


def _cmd_backbones(args: argparse.Namespace) -> int:
    from hamacho_core import backbones

    if args.import_weights:
        name, file = args.import_weights
        target = backbones.import_weights(name, Path(file))
        print(f"Imported {file} for {name} -> {target}")
        return 0
    for name in backbones.available_names():
        status = backbones.weights_status(name)
        layers = ", ".join(f"{info.name}({info.channels}@/{info.stride})" for info in backbones.list_layers(name)
                           if info.name.count(".") == min(i.name.count(".") for i in backbones.list_layers(name)))
        where = f" {status.path}" if status.path else ""
        print(f"{name:20s} weights: {status.state}{where}\n{'':20s} default layers: "
              f"{', '.join(backbones.default_layers(name))}\n{'':20s} layers: {layers}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hamacho", description="Visual anomaly detection for inspection.")
    parser.add_argument("--version", action="version", version=f"hamacho {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="generate demo data, fit it with the bundled backbone, inspect it")
    demo.add_argument("dir", nargs="?", type=Path, default=Path("hamacho_demo"),
                      help="output folder (default: ./hamacho_demo)")
    demo.add_argument("--model", choices=("patchcore", "padim"), default="patchcore")
    demo.add_argument("--category", choices=("part", "texture"), default="part")
    demo.add_argument("--backbone", default="efficientnet_lite0")
    demo.add_argument("--image-size", type=int, default=256)
    demo.set_defaults(func=_cmd_demo)

    bb = sub.add_parser("backbones", help="list backbones, their weights on this machine and layers")
    bb.add_argument("--import", dest="import_weights", nargs=2, metavar=("NAME", "FILE"),
                    help="import a weights file for an offline machine (hash-checked)")
    bb.set_defaults(func=_cmd_backbones)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (KeyboardInterrupt, Cancelled):
        print("hamacho: cancelled", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one clear line instead of a traceback
        print(f"hamacho: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
