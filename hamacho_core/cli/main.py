"""``hamacho`` command line.  Exit codes: 0 success, 1 failure (one-line reason), 130 cancelled."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hamacho_core import __version__
from hamacho_core.cli.batch import add_batch_parser  # light: each command's code loads when it runs
from hamacho_core.cli.live import add_cameras_parser, add_live_parser
from hamacho_core.cli.options import add_runtime_options, config_classes, kinds, model_options
from hamacho_core.cli.progress import make_progress
from hamacho_core.progress import Cancelled


def _quiet_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress (results and errors are still "
                        "printed); without it: bars on a terminal, one line per stage in a log file or pipe")


def _positive(text: str) -> float:
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def _print_skipped(skipped) -> None:
    for item in skipped:
        print(f"  skipped {item.path}: {item.reason}")


def _cmd_fit(args: argparse.Namespace) -> int:
    from hamacho_core.config import options_to_fields
    from hamacho_core.dataset import load_dataset
    from hamacho_core.jobs import fit_dataset
    from hamacho_core.model_io import check_output_path, save_model
    from hamacho_core.models import DEFAULT_KIND, model_spec

    kind = args.model or DEFAULT_KIND
    spec = model_spec(kind)
    given = {name for cls in config_classes() for name in options_to_fields(args, cls)}
    config = options_to_fields(args, spec.config_cls)
    if given - set(config):
        raise ValueError(f"{', '.join('--' + n.replace('_', '-') for n in sorted(given - set(config)))} "
                         f"does not apply to {spec.name}")
    if args.offline:
        config["allow_download"] = False
    pinned = dict(config)
    config = spec.config(**config)  # bad settings and a bad -o fail now, before any scanning or model work
    check_output_path(args.output)
    progress = make_progress(args.quiet)
    try:
        dataset = load_dataset(args.data, progress=progress)
        progress.close()
        print(dataset.summary())
        if args.auto:
            return _fit_auto(args, dataset, pinned, progress)
        result = fit_dataset(dataset, kind, config=config, progress=progress)
    finally:
        progress.close()
    path = save_model(result.model, args.output, training=result.training)
    r, m = result.report, result.model
    print(f"Fitted {kind} ({m.config.backbone}: {', '.join(m.layers)}) on {r.n_train} images "
          f"({len(dataset.skipped)} skipped) in {r.seconds:.1f} s")
    if "memory_bank" in r.details:
        print(f"Memory bank: {r.details['memory_bank']} of {r.details['patches']} patches")
    _print_thresholds(m, r.threshold_source)
    if r.validation is not None:
        print("At these thresholds, on the validation images (held-out good" + (
            ", and the defective images of bad/)" if r.validation.defects else ")") + ":")
        _print_validation(r.validation)
    print(f"Saved {path}")
    return 0


def _print_validation(v) -> None:
    """The plain-words summary, then the escapes and false alarms by name."""
    for line in v.lines() + _named(v):
        print(f"  {line}")


def _named(v, limit: int = 10) -> list[str]:
    """"Would pass as OK: a.png, b.png and 3 more" for the escapes, the same for the false alarms."""
    out = []
    for title, names in (("Would pass as OK", v.escape_names), ("Would be rejected", v.false_alarm_names)):
        if names:
            out.append(f"{title}: {', '.join(names[:limit])}"
                       + (f" and {len(names) - limit} more" if len(names) > limit else ""))
    return out


def _print_thresholds(model, source: str) -> None:
    print(f"Thresholds ({source}): image {model.image_scale.threshold:.4g}, "
          f"pixel {model.pixel_scale.threshold:.4g}  (both shown as 0.5 in normalised scores)")


def _fit_auto(args: argparse.Namespace, dataset, pinned: dict, progress) -> int:
    """``fit --auto``: the search, its table, the model and ``auto_report.json`` beside it."""
    import json

    from hamacho_core import autoconfig, fileio
    from hamacho_core.model_io import save_model

    result = autoconfig.search(dataset, pinned=pinned, kind=args.model, max_ms=args.max_ms,
                               budget_min=args.budget, progress=progress)
    progress.close()
    print(result.report.table())
    path = save_model(result.model, args.output, training=result.training)
    report_path = path.with_name("auto_report.json")
    fileio.atomic_write_bytes(report_path, json.dumps(result.report.to_dict(), indent=2).encode())
    m = result.model
    print(f"Chose {result.report.winner} ({m.config.backbone}: {', '.join(m.layers)}, {m.config.geometry}, "
          f"{m.preprocess.width}x{m.preprocess.height}) in {result.report.seconds:.0f} s")
    _print_thresholds(m, result.training["threshold_source"])
    print(f"Saved {path} and {report_path}")
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    from hamacho_core.jobs import check_out_dir, inspect_paths
    from hamacho_core.model_io import load_model

    out_dir = args.out or Path("results")
    check_out_dir(out_dir, args.overwrite)  # before loading the model
    model = load_model(args.model, device=args.device, runtime=args.runtime, threads=args.threads)
    progress = make_progress(args.quiet)
    try:
        result = inspect_paths(model, args.paths, out_dir=out_dir, save_images=args.save_images,
                               recursive=args.recursive, overwrite=args.overwrite, progress=progress)
    finally:
        progress.close()
    n_ng = sum(r.verdict == "NG" for r in result.rows)
    print(f"Inspected {len(result.rows)} images: {len(result.rows) - n_ng} OK, {n_ng} NG; "
          f"{len(result.skipped)} skipped")
    _print_skipped(result.skipped)
    for item in result.unwritten:
        print(f"  not written for {item.path}: {item.reason}")
    if result.csv_error:
        print(f"hamacho: error: {result.csv_error}", file=sys.stderr)
        return 1
    print(f"Results: {result.csv_path}" + (f" and images in {out_dir}" if args.save_images else ""))
    if result.unwritten:
        print(f"hamacho: error: the output images of {len(result.unwritten)} judged image(s) were not written "
              f"(see above); their verdicts are in {result.csv_path}", file=sys.stderr)
        return 1
    return 0 if result.rows or not result.skipped else 1


def _cmd_eval(args: argparse.Namespace) -> int:
    import json

    from hamacho_core.dataset import load_dataset
    from hamacho_core.fileio import atomic_write_bytes
    from hamacho_core.jobs import evaluate_dataset, write_eval_plots, write_eval_report
    from hamacho_core.model_io import load_model

    model = load_model(args.model, device=args.device, runtime=args.runtime, threads=args.threads)
    progress = make_progress(args.quiet)
    try:
        dataset = load_dataset(args.data, progress=progress)
        progress.close()
        result = evaluate_dataset(model, dataset, progress=progress)
    finally:
        progress.close()
    out_dir = args.out or Path("eval")
    out_dir.mkdir(parents=True, exist_ok=True)
    m = result.metrics
    report = {**m.to_dict(), "image_threshold": model.image_scale.threshold,
              "pixel_threshold": model.pixel_scale.threshold, "images": len(result.items),
              "images_also_used_for_thresholds": result.used_for_thresholds,
              "validation": result.validation.to_dict()}
    atomic_write_bytes(out_dir / "metrics.json", json.dumps(report, indent=2).encode("utf-8"))
    plots = write_eval_plots(result, model.image_scale.threshold, out_dir)
    text = "\n".join(result.validation.lines()) + "\n" + _metrics_text(m, result.used_for_thresholds)
    auto = ((model.manifest or {}).get("training") or {}).get("auto")
    if isinstance(auto, dict) and auto.get("winner"):
        text += f"\nSettings chosen automatically: {auto['winner']} ({auto.get('why', '')})"
    atomic_write_bytes(out_dir / "metrics.txt", (text + "\n").encode("utf-8"))
    print(text)
    for line in _named(result.validation):
        print(line)
    report_path = write_eval_report(model, result, out_dir / "report.html", args.model,
                                    _metrics_text(m, result.used_for_thresholds).splitlines())
    print(f"Written: {out_dir / 'metrics.json'}, {out_dir / 'metrics.txt'}, "
          + ", ".join(str(p) for p in plots.values()) + f", {report_path} (the release report)")
    return 0


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _metrics_text(m, used_for_thresholds: int = 0) -> str:
    (tn, fp), (fn, tp) = m.confusion
    lines = [f"Images: {m.n_good} good, {m.n_defective} defective",
             f"Image AUROC {_fmt(m.image_auroc)}   pixel AUROC {_fmt(m.pixel_auroc)}   AUPRO {_fmt(m.aupro)}   "
             f"F1 {m.image_f1:.4f}",
             "Confusion (rows = truth):      predicted OK  predicted NG",
             f"  good                        {tn:12d}  {fp:12d}",
             f"  defective                   {fn:12d}  {tp:12d}"]
    if used_for_thresholds:
        lines.append(f"Note: {used_for_thresholds} of these images also set the thresholds (calibration set).")
    return "\n".join(lines)


def _cmd_demo(args: argparse.Namespace) -> int:
    from hamacho_core.config import options_to_fields
    from hamacho_core.demo import run_demo
    from hamacho_core.models import model_spec

    fields = options_to_fields(args, model_spec(args.model).config_cls)
    backbone = model_spec(args.model).config(**fields).backbone
    progress = make_progress(args.quiet)
    print(f"Writing the demo dataset ({args.category}) to {args.dir / 'data'} and fitting {args.model} "
          f"with the bundled {backbone} backbone...")
    try:
        result = run_demo(args.dir, model=args.model, category=args.category, progress=progress, **fields)
    finally:
        progress.close()
    r = result.fit.report
    print(f"Fitted on {r.n_train} good images in {r.seconds:.1f} s; model saved to {result.model_path}")
    print(f"Inspected {len(result.inspection.rows)} test images at {result.inspect_ms_per_image:.0f} ms/image")
    print(_metrics_text(result.metrics))
    print(f"Results: {result.inspection.csv_path} (CSV) and overlay/map/mask images in {result.results_dir}")
    print(f"Next: hamacho inspect {result.model_path} YOUR_FOLDER --save-images")
    return 0


def _cmd_backbones(args: argparse.Namespace) -> int:
    from hamacho_core import backbones, graphs
    from hamacho_core.models import REGISTRY
    from hamacho_core.models.registry import all_default_layers

    if args.import_weights:
        name, file = args.import_weights
        target = backbones.import_weights(name, Path(file))
        print(f"Imported {file} for {name} -> {target}")
        return 0
    if args.export:
        backbones.require_torch("exporting a backbone")
        from hamacho_core import torch_backend

        layers = ([layer.strip() for layer in args.layers.split(",") if layer.strip()] if args.layers
                  else all_default_layers(args.export))
        graph = torch_backend.ensure_backbone_graph(args.export, layers, allow_download=not args.offline)
        print(f"Runtime graph of {args.export} ({', '.join(graph.layer_names)}): {graph.path} "
              f"({graph.path.stat().st_size / 1e6:.1f} MB, {graph.source})")
        return 0
    for name in backbones.available_names():
        try:
            status = backbones.weights_status(name)
            infos = backbones.list_layers(name)
        except backbones.TorchRequiredError:
            exported = graphs.find_backbone_graph(name, ())
            print(f"{name:20s} needs the PyTorch add-on to export it"
                  + (f" (exported graph here: {exported.path})" if exported else ""))
            continue
        depth = min(info.name.count(".") for info in infos)
        layers = ", ".join(f"{info.name}({info.channels}@/{info.stride})" for info in infos
                           if info.name.count(".") == depth)
        where = f" {status.path}" if status.path and status.path.is_file() else ""
        graph = graphs.find_backbone_graph(name, ())
        runtime = f"{graph.source} graph {graph.path.name}" if graph else "none yet (exported at the first fit)"
        print(f"{name:20s} weights: {status.state}{where}\n{'':20s} runtime graph: {runtime}"
              + "".join(f"\n{'':20s} default layers ({spec.name}): {', '.join(spec.default_layers(name))}"
                        for kind, spec in REGISTRY.items())
              + f"\n{'':20s} layers: {layers}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from hamacho_core.export import export_model
    from hamacho_core.model_io import load_model

    model = load_model(args.model, threads=args.threads)
    out = args.out or Path(f"{args.model.stem}_{args.format}")
    files = export_model(model, out, fmt=args.format, name=args.model.name)
    print(f"Exported {args.model} to {out}: {', '.join(f.name for f in files)} (see {out / 'README.md'})")
    return 0


def _cmd_gui(args: argparse.Namespace) -> int:
    import subprocess

    # A separate process: the core (and this command line) never imports Qt.
    return subprocess.call([sys.executable, "-m", "hamacho_gui", *args.gui_args])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hamacho", description="Visual anomaly detection for inspection.")
    parser.add_argument("--version", action="version", version=f"hamacho {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    fit = sub.add_parser("fit", help="fit a model on a dataset folder (hamacho or MVTec layout)")
    fit.add_argument("data", type=Path, help="dataset folder: good/ [bad/ mask/] or MVTec train/ test/ ground_truth/")
    fit.add_argument("-o", "--output", type=Path, required=True,
                     help="model file to write (.hmc); a symlink is written through to its target, a device, "
                          "pipe or folder is refused")
    fit.add_argument("--model", choices=kinds(), default=None, help=f"model kind (default: {kinds()[0]}; with "
                     "--auto, the search chooses unless given)")
    model_options(fit)
    _quiet_option(fit)
    fit.add_argument("--offline", action="store_true", help="never try to download backbone weights")
    auto = fit.add_argument_group("automatic configuration")
    auto.add_argument("--auto", action="store_true", help="try settings (geometry, backbone, layers, model kind) on "
                      "held-out good images and synthetic defects, and keep the best; any setting given by hand is "
                      "kept; writes auto_report.json beside the model")
    auto.add_argument("--max-ms", type=_positive, default=200.0, metavar="MS", help="with --auto: skip settings "
                      "predicted to take longer than this an image (default: 200 ms, 5 parts a second)")
    auto.add_argument("--budget", type=_positive, default=5.0, metavar="MIN", help="with --auto: minutes the "
                      "search may take; candidates not tried by then are listed (default: 5)")
    fit.set_defaults(func=_cmd_fit)

    inspect = sub.add_parser("inspect", help="judge images (files or folders) with a model; writes a CSV",
                             epilog="An output folder that already holds a results.csv is refused unless "
                                    "--overwrite is given: earlier results are never replaced silently.")
    inspect.add_argument("model", type=Path, help="model file (.hmc)")
    inspect.add_argument("paths", nargs="+", type=Path, help="image files and/or folders")
    inspect.add_argument("--out", type=Path, help="output folder (default: ./results); refused if it already "
                                                 "holds a results.csv, unless --overwrite")
    inspect.add_argument("--overwrite", action="store_true",
                         help="replace the results.csv (and same-named images) of an earlier run in --out")
    inspect.add_argument("--save-images", action="store_true", help="also write overlay, map and mask images")
    inspect.add_argument("--recursive", action="store_true",
                         help="look into sub-folders too (links to folders are not followed: each real file once)")
    inspect.add_argument("--device", default=None,
                         help="cpu, cuda or auto (default: cpu; the file does not choose the machine)")
    add_runtime_options(inspect, None)
    _quiet_option(inspect)
    inspect.set_defaults(func=_cmd_inspect)

    ev = sub.add_parser("eval", help="metrics of a model on a labelled dataset (JSON, text, ROC, histogram)")
    ev.add_argument("model", type=Path)
    ev.add_argument("data", type=Path)
    ev.add_argument("--out", type=Path, help="output folder (default: ./eval)")
    ev.add_argument("--device", default=None)
    add_runtime_options(ev, None)
    _quiet_option(ev)
    ev.set_defaults(func=_cmd_eval)

    demo = sub.add_parser("demo", help="generate demo data, fit it with the bundled backbone, inspect it")
    demo.add_argument("dir", nargs="?", type=Path, default=Path("hamacho_demo"),
                      help="output folder (default: ./hamacho_demo)")
    demo.add_argument("--model", choices=kinds(), default=kinds()[0])
    demo.add_argument("--category", choices=("part", "texture"), default="part")
    model_options(demo, only=("backbone", "image_size", "runtime", "threads"))
    _quiet_option(demo)
    demo.set_defaults(func=_cmd_demo)

    export = sub.add_parser("export", help="write a model as ONNX graph + arrays + JSON for a line application")
    export.add_argument("model", type=Path, help="model file (.hmc)")
    export.add_argument("--format", choices=("onnx",), default="onnx")
    export.add_argument("--out", type=Path, help="output folder (default: MODEL_onnx)")
    export.add_argument("--threads", type=int, default=None, help=argparse.SUPPRESS)
    export.set_defaults(func=_cmd_export)

    gui = sub.add_parser("gui", help="start the desktop application (same as hamacho-gui)")
    gui.add_argument("gui_args", nargs="*", help="optional dataset folder to open")
    gui.set_defaults(func=_cmd_gui)

    bb = sub.add_parser("backbones", help="list backbones, their weights on this machine and layers")
    bb.add_argument("--import", dest="import_weights", nargs=2, metavar=("NAME", "FILE"),
                    help="import a weights file for an offline machine (hash-checked)")
    bb.add_argument("--export", metavar="NAME",
                    help="export a backbone's runtime graph once (needs the torch add-on); fit does it by itself")
    bb.add_argument("--layers", help="with --export: comma-separated layers (default: PatchCore's and PaDiM's)")
    bb.add_argument("--offline", action="store_true", help="with --export: never download weights")
    bb.set_defaults(func=_cmd_backbones)

    add_live_parser(sub)  # hamacho live MODEL --source 0|FILE|DIR|URL (see cli/live.py)
    add_cameras_parser(sub)
    add_batch_parser(sub)  # hamacho batch MODEL SOURCE... --out RESULTS (see cli/batch.py)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (KeyboardInterrupt, Cancelled):
        print("hamacho: cancelled", file=sys.stderr)
        return 130
    except MemoryError:
        print("hamacho: error: out of memory", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - one clear line instead of a traceback
        print(f"hamacho: error: {exc or exc.__class__.__name__}", file=sys.stderr)  # never an empty message
        return 1


if __name__ == "__main__":
    sys.exit(main())
