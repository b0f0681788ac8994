"""``hamacho live``: headless live inspection, one printed line per judged frame.

Exit codes: 0 when the source ended, ``--max-frames`` were judged or Ctrl-C stopped the run (the
normal way to stop a camera: the summary is printed first); 1 when the source could not be opened
or was lost for good (one-line reason), or when verdicts could finally not be logged; 130 on a second
Ctrl-C (hard interrupt).
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import threading
from pathlib import Path

EPILOG = ("Stop with Ctrl-C (exit 0 after the summary; a second Ctrl-C interrupts at once, exit 130). "
          "Exit 1 if the source cannot be opened or is lost for good, or if verdicts could not be written to "
          "the inspection log (another program holding it locked): they are kept and retried, never dropped "
          "silently. Images of a folder are checked as inspect checks them; refused ones are listed.")


def _region(text: str) -> tuple[int, int, int, int]:
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected X,Y,WIDTH,HEIGHT in pixels, got {text!r}") from None
    if min(x, y) < 0 or min(w, h) <= 0:
        raise argparse.ArgumentTypeError(f"a region needs X,Y >= 0 and a positive size, got {text!r}")
    return x, y, w, h


def _number(positive: bool):
    """An argparse type: a finite number, above zero when ``positive`` (nan, inf and 0 fps are refused)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value) or (positive and value <= 0):
            raise argparse.ArgumentTypeError(f"expected a {'positive ' if positive else ''}finite number, "
                                             f"got {text!r}")
        return value
    return parse


def add_live_parser(sub) -> argparse.ArgumentParser:
    """Register the ``live`` subcommand on the ``hamacho`` subparsers."""
    live = sub.add_parser("live", help="judge a camera, stream, video file or image folder live (headless)",
                          epilog=EPILOG)
    live.add_argument("model", type=Path, help="model file (.hmc)")
    live.add_argument("--source", required=True,
                      help="camera number (0), genicam:<id> (see hamacho cameras), video file, image folder, or "
                           "rtsp:// / http(s):// stream URL")
    cam = live.add_argument_group("GenICam camera (--source genicam:<id>)")
    cam.add_argument("--trigger", default="free", choices=("free", "software", "line0", "line1", "line2", "line3"),
                     help="free-run (default); software: one picture per trigger from the line (the PLC writes 1 "
                          "to register 8 of --modbus-server, or a message on TOPIC/trigger of --mqtt); or a "
                          "hardware trigger on that input line")
    cam.add_argument("--exposure-us", type=_number(True), default=None,
                     help="exposure time in microseconds (within the camera's range: 'hamacho cameras' shows it)")
    cam.add_argument("--gain", type=_number(False), default=None, help="gain (the camera's unit, often dB)")
    cam.add_argument("--frame-rate", type=_number(True), default=None,
                     help="frames per second in free-run; with a trigger, the fastest the camera accepts triggers")
    cam.add_argument("--pixel-format", default=None,
                     help="Mono8, Mono10/12/14/16, BayerRG8/BG8/GR8/GB8, RGB8 or BGR8 (default: the camera's)")
    cam.add_argument("--region", type=_region, default=None, metavar="X,Y,W,H",
                     help="sensor region to read, in pixels (default: the camera's)")
    live.add_argument("--max-frames", type=int, default=None, help="stop after judging N frames")
    live.add_argument("--save-ng", type=Path, metavar="DIR",
                      help="save NG and REVIEW frames there (original, overlay, map and mask PNGs)")
    where = live.add_mutually_exclusive_group()
    where.add_argument("--log", type=Path, metavar="FILE",
                       help="inspection log (SQLite; default: inspection_log.sqlite in the user data folder)")
    where.add_argument("--no-log", action="store_true", help="do not log verdicts")
    live.add_argument("--log-wait", type=float, default=10.0, metavar="S",
                      help="at the end, seconds to keep retrying verdicts a locked log could not take yet (10)")
    pace = live.add_mutually_exclusive_group()
    pace.add_argument("--realtime", dest="realtime", action="store_true", default=True,
                      help="play files and folders at their own pace, like a camera (default): a slow model "
                           "skips frames")
    pace.add_argument("--as-fast-as-possible", dest="realtime", action="store_false",
                      help="read files and folders as fast as the model judges: every frame is judged")
    live.add_argument("--interval", type=float, default=0.5, metavar="S",
                      help="seconds per image of a folder slideshow in realtime mode (0.5)")
    live.add_argument("--loop", action="store_true", help="restart a video file or folder at its end")
    live.add_argument("--max-retries", type=int, default=None,
                      help="reconnection attempts in a row before giving up on a lost source (default: forever)")
    live.add_argument("--device", default=None,
                      help="cpu, cuda or auto (default: cpu; the file does not choose the machine)")
    line = live.add_argument_group("line outputs", "every judged part goes to each of these; an unreachable "
                                   "peer is reported and retried, its backlog counted (README: Connect to your line)")
    line.add_argument("--mqtt", action="append", default=[], metavar="URL",
                      help="MQTT broker: mqtt://HOST[:PORT][/TOPIC] (messages on TOPIC/parts, retained TOPIC/status)")
    line.add_argument("--mqtt-qos", type=int, default=1, choices=(0, 1, 2), help="MQTT QoS (1: at least once)")
    line.add_argument("--webhook", action="append", default=[], metavar="URL", help="HTTP(S) URL: a JSON POST per part")
    line.add_argument("--modbus-server", action="append", default=[], metavar="[HOST]:PORT",
                      help="serve the register map on this Modbus TCP port for the PLC to poll (e.g. :5020)")
    line.add_argument("--modbus-client", action="append", default=[], metavar="HOST:PORT",
                      help="write the register map into this PLC's holding registers")
    line.add_argument("--modbus-no-handshake", action="store_true",
                      help="write each result without waiting for the PLC's acknowledgement (register 7)")
    line.add_argument("--sink-folder", action="append", default=[], type=Path, metavar="DIR",
                      help="append parts.jsonl (and copy evidence images) in this folder, for an MES")
    from hamacho_core.cli.options import add_runtime_options

    add_runtime_options(live, None)
    live.set_defaults(func=cmd_live)
    return live


def _fmt_ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"


def add_cameras_parser(sub) -> None:
    cams = sub.add_parser("cameras", help="list the GenICam (GigE Vision, USB3 Vision) cameras Aravis finds")
    cams.set_defaults(func=cmd_cameras)


def cmd_cameras(_args: argparse.Namespace) -> int:
    from hamacho_core.live import SourceError
    from hamacho_core.live.genicam import describe_camera, list_cameras

    found = list_cameras()
    for c in found:
        print(f"genicam:{c.id}  {c.vendor} {c.model}  serial {c.serial}  {c.protocol} {c.address}")
        try:
            settings = describe_camera(c.id)
            print(f"    {settings.summary()}; formats {', '.join(settings.pixel_formats) or 'none Hamacho reads'}")
        except SourceError as exc:
            print(f"    settings not readable: {exc}")
    print(f"{len(found)} GenICam camera(s)" + ("; use one with hamacho live MODEL --source genicam:<id>"
                                              if found else ""))
    return 0


def make_sinks(args: argparse.Namespace) -> list:
    """The line outputs the options ask for (checked before the model loads; nothing connects yet)."""
    from hamacho_core.line import LineSettings

    return LineSettings(args.mqtt, args.mqtt_qos, args.webhook, args.modbus_server, args.modbus_client,
                        not args.modbus_no_handshake, [str(d) for d in args.sink_folder]).sinks()


def cmd_live(args: argparse.Namespace) -> int:
    from hamacho_core.live import InspectionLog, LiveInspector, open_source
    from hamacho_core.model_io import load_model

    camera = {"trigger": args.trigger, "exposure_us": args.exposure_us, "gain": args.gain, "region": args.region,
              "frame_rate": args.frame_rate, "pixel_format": args.pixel_format}  # for a GenICam camera only
    source = open_source(args.source, realtime=args.realtime, loop=args.loop,
                         interval_s=args.interval if args.realtime else 0.0, **camera)  # a wrong path fails here
    sinks = make_sinks(args)  # so does a bad URL or a missing add-on
    if args.trigger == "software" and not (args.modbus_server or args.mqtt):
        raise ValueError("--trigger software needs something to trigger the camera: "
                         "--modbus-server (the PLC writes 1 to register 8) or --mqtt (a message on TOPIC/trigger)")
    model = load_model(args.model, device=args.device, runtime=args.runtime, threads=args.threads)
    log = None if args.no_log else InspectionLog(args.log)
    stop = threading.Event()
    previous = None

    def on_sigint(_signum, _frame) -> None:
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C interrupts at once

    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, on_sigint)

    def on_result(r) -> None:
        print(f"frame {r.frame.index}  {r.verdict:<6}  score {r.score:.4g} ({r.normalized:.2f})  "
              f"latency {r.latency_ms:.0f} ms  fps {r.fps:.1f}", flush=True)

    def on_event(level: str, message: str) -> None:
        print(f"[{level}] {message}", file=sys.stderr, flush=True)

    print(f"Live inspection of {source.name} with {args.model.name} "
          f"({'realtime' if args.realtime else 'as fast as possible'}); Ctrl-C stops", flush=True)
    inspector = LiveInspector(model, source, save_dir=args.save_ng, log=log, model_name=args.model.name,
                              max_retries=args.max_retries, log_wait_s=args.log_wait, sinks=sinks,
                              sink_wait_s=args.log_wait)
    try:
        summary = inspector.run(on_result, stop.is_set, on_event=on_event, max_frames=args.max_frames)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        if log is not None:
            log.close()
    c = summary["counts"]
    why = {"stopped": "stopped (Ctrl-C)", "max_frames": f"{args.max_frames} frames judged",
           "ended": "end of the source", "failed": "source failed"}[summary["reason"]]
    print(f"Judged {summary['judged']} of {summary['frames_read']} frames read ({summary['dropped']} dropped): "
          f"{c['OK']} OK, {c['NG']} NG, {c['REVIEW']} REVIEW; {why}")
    print(f"Latency mean {_fmt_ms(summary['mean_latency_ms'])}, p95 {_fmt_ms(summary['p95_latency_ms'])}; "
          f"inference mean {_fmt_ms(summary['mean_inference_ms'])}; {summary['fps']:.1f} judged frames/s")
    for why in getattr(source, "skipped", {}).values():  # each reason names its file
        print(f"  skipped {why}")
    if log is not None:
        print(f"Log: {log.path}")
    if args.save_ng is not None:
        print(f"NG/REVIEW frames: {args.save_ng}")
    if "camera" in summary:
        cam = summary["camera"]
        print(f"Camera stream: {cam['frames']} frames received, {cam['incomplete']} incomplete (skipped); packets "
              f"{cam['missing_packets']} missing, {cam['resent_packets']} resent; {cam['underruns']} frames lost "
              "with every buffer full")
    if "triggers" in summary:
        print(f"Software triggers: {summary['triggers']} fired, {summary['triggers_refused']} refused, "
              f"{summary['triggers_unanswered']} brought no picture (the camera ignored them)")
    for status in summary.get("sinks", []):
        print(f"{status['sink']}: {status['sent']} sent, {status['backlog']} not delivered, {status['dropped']} "
              f"dropped (backlog full), {status['failures']} failed attempts"
              + (f", {status['triggers']} trigger requests" if status.get("triggers") else ""))
    if summary["reason"] == "failed":
        print(f"hamacho: error: {summary['error']}", file=sys.stderr)
        return 1
    if summary.get("unlogged"):
        print(f"hamacho: error: {summary['unlogged']} of {summary['judged']} verdicts could not be written to the "
              f"inspection log {log.path} ({summary['log_error']}); their lines are printed above", file=sys.stderr)
        return 1
    undelivered = [st for st in summary.get("sinks", []) if st["sent"] == 0 and (st["backlog"] or st["dropped"]
                                                                                 or st["failures"])]
    if summary.get("sinks") and len(undelivered) == len(summary["sinks"]) and summary["judged"]:
        print(f"hamacho: error: no line output received any of the {summary['judged']} verdicts "
              f"({', '.join(st['sink'] for st in undelivered)}); they are in the lines above"
              + (" and the inspection log" if log is not None else ""), file=sys.stderr)
        return 1
    if summary["judged"] == 0 and summary["frames_read"] == 0 and getattr(source, "skipped", None):
        print(f"hamacho: error: nothing judged: every image of {source.name} was skipped (reasons above)",
              file=sys.stderr)
        return 1
    return 0
