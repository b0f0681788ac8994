"""Live inspection on a REAL video file (MJPG .avi written with OpenCV) standing in for the camera:
judging, counters, log and saved evidence; a model slower than the camera skips to the newest frame;
pause holds a file (a camera runs on); thresholds changed while running; sources that die
mid-stream are reported and reconnected; folders; source errors.  Every assertion is on what
happened and in what order, never on how fast (speed figures: bench/bench_live.py)."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest

from hamacho_core.judging import Judge, format_pair
from hamacho_core.live import (
    CameraSource,
    FolderSource,
    InspectionLog,
    LatestFrameGrabber,
    LiveInspector,
    SourceError,
    StreamSource,
    VideoFileSource,
    open_source,
)
from hamacho_core.live.sources import GARBAGE_LIMIT, to_rgb_frame
from hamacho_core.models import PatchCore, PatchCoreConfig
from hamacho_core.synthetic import make_samples

S = 64
N = 48
LABELS = [int(i % 3 == 2) for i in range(N)]  # every third frame shows a defective part


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Busy shared 2-core test machines: one intra-op thread avoids OpenMP stragglers (restored after)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def write_video(path, frames, fps=30.0):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, frames[0].shape[1::-1])
    assert writer.isOpened()
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def wait_for(condition, timeout=60.0):
    """Poll until ``condition()`` (an event that must happen; the timeout only stops a hung test)."""
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.005)
    assert condition()


def read_all(source):
    frames = []
    with source:
        while (frame := source.read()) is not None:
            frames.append(frame)
    return frames


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    good = iter(s.image for s in make_samples("texture", N - sum(LABELS), 0, size=S, seed=5))
    bad = iter(s.image for s in make_samples("texture", 0, sum(LABELS), size=S, seed=5))
    return write_video(tmp_path_factory.mktemp("live") / "camera.avi", [next(bad if d else good) for d in LABELS])


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """Tiny PatchCore fitted on good parts seen through the same MJPG 'camera' (bundled backbone)."""
    train_video = write_video(tmp_path_factory.mktemp("train") / "train.avi",
                              [s.image for s in make_samples("texture", 16, 0, size=S, seed=21)])
    m = PatchCore(PatchCoreConfig(backbone="efficientnet_lite0", image_size=S))
    m.fit(read_all(VideoFileSource(train_video, realtime=False)))
    return m


class SlowModel:
    """A real model whose predict takes ``delay`` seconds longer (a big backbone on a slow PC)."""

    def __init__(self, model, delay):
        self.model, self.delay = model, delay

    def predict(self, image, **kw):
        time.sleep(self.delay)
        return self.model.predict(image, **kw)

    def __getattr__(self, name):
        return getattr(self.model, name)


def run(inspector, **kw):
    results, events = [], []
    summary = inspector.run(results.append, lambda: False, lambda lv, msg: events.append((lv, msg)), **kw)
    return results, events, summary


def test_every_frame_judged_counters_log_and_saved_evidence(model, video, tmp_path):
    log = InspectionLog(tmp_path / "log.sqlite")
    inspector = LiveInspector(model, VideoFileSource(video, realtime=False), save_dir=tmp_path / "ng", log=log,
                              model_name="tiny.hmc")
    results, events, summary = run(inspector)
    assert summary["reason"] == "ended" and summary["judged"] == N == summary["frames_read"]
    assert summary["dropped"] == 0 and [r.frame.index for r in results] == list(range(N))  # on demand: none lost
    assert ("info", "camera.avi: end of stream") in events
    assert sum(summary["counts"].values()) == N and results[-1].counts == summary["counts"]
    ng = np.array([r.verdict == "NG" for r in results])
    labels = np.array(LABELS, bool)
    assert ng[labels].mean() >= 0.6 and ng[~labels].mean() <= 0.3, (ng[labels].mean(), ng[~labels].mean())
    r = results[0]
    assert r.frame.image.shape == (S, S, 3) and r.frame.image.dtype == np.uint8
    assert r.inference_ms > 0 and r.latency_ms > 0 and r.fps >= 0
    for res in results:  # judged with the model's thresholds, and the comparison shown says why
        assert res.judge is model.judge and res.judge.image == model.image_scale.threshold
        assert res.verdict == res.judge.verdict(res.score) and res.prediction.judge is res.judge
        assert ("≥" if res.verdict == "NG" else "<") in res.comparison
    assert log.count() == N and log.count("NG") == summary["counts"]["NG"]
    assert log.rows(limit=1)[0]["source"] == "camera.avi" and log.rows(limit=1)[0]["model"] == "tiny.hmc"
    for res in results:  # NG/REVIEW evidence: original frame + overlay, logged with its path
        assert (res.saved_path is not None) == (res.verdict != "OK")
        if res.saved_path:
            assert res.saved_path.is_file() and res.saved_path.with_name(res.saved_path.stem + "_overlay.png").is_file()
    assert {row["image_path"] for row in log.rows(verdict="NG")} == {str(r.saved_path) for r in results
                                                                    if r.verdict == "NG"}
    inspector.reset_counts()
    assert inspector.counts == {"OK": 0, "NG": 0, "REVIEW": 0}
    log.close()


class SlowerThanTheCamera(SlowModel):
    """A real model that is slower than the camera whatever the machine: each frame's predict returns
    only once the camera delivered ``frames`` more frames (or ended)."""

    def __init__(self, model, frames):
        super().__init__(model, 0)
        self.frames, self.inspector = frames, None

    def predict(self, image, **kw):
        grabber = self.inspector.grabber
        if image.any():  # not the blank warm-up
            target = grabber.frames_read + self.frames
            wait_for(lambda: grabber.frames_read >= target or grabber.finished)
        return self.model.predict(image, **kw)


def test_model_slower_than_the_camera_judges_the_newest_frame(model, video):
    slow = SlowerThanTheCamera(model, 3)
    slow.inspector = inspector = LiveInspector(slow, VideoFileSource(video, realtime=True))  # paced: a camera
    results, _, summary = run(inspector)
    assert summary["frames_read"] == N and summary["reason"] == "ended"
    indices = [r.frame.index for r in results]
    # no queue: after each judgement the next frame taken is the newest, 3 or more frames on
    assert all(b - a >= 3 for a, b in zip(indices[:-2], indices[1:-1], strict=True)), indices
    assert indices[-1] == N - 1  # the last frame is the newest: it is judged
    assert summary["judged"] + summary["dropped"] == N and summary["dropped"] > 0  # every frame judged or dropped
    assert [r.dropped for r in results] == sorted(r.dropped for r in results)


class DyingVideo(VideoFileSource):
    """The real video, but the 'cable is pulled' after ``k`` frames of each of the first ``deaths`` sessions;
    with ``refuse_reopen`` it cannot be reopened afterwards."""

    def __init__(self, path, k, deaths=1, refuse_reopen=False):
        super().__init__(path, realtime=False)
        self.k, self.deaths, self.refuse_reopen, self.opens, self.served = k, deaths, refuse_reopen, 0, 0

    def open(self):
        if self.refuse_reopen and self.opens:
            raise SourceError(f"{self.name} could not be opened")
        self.opens += 1
        self.served = 0
        super().open()

    def read(self):
        if self.opens <= self.deaths and self.served == self.k:
            raise SourceError(f"{self.name}: garbage frame (no image data)")
        self.served += 1
        return super().read()


def test_source_dying_mid_stream_is_reported_without_reconnect(model, video):
    results, events, summary = run(LiveInspector(model, DyingVideo(video, k=5), reconnect=False))
    assert summary["reason"] == "failed" and summary["judged"] == 5 and "garbage frame" in summary["error"]
    assert [lv for lv, _ in events] == ["error"] and "garbage frame" in events[0][1]


def test_source_dying_mid_stream_reconnects(model, video):
    source = DyingVideo(video, k=5)
    results, events, summary = run(LiveInspector(model, source, retry_delay_s=0.05))
    assert source.opens == 2 and summary["reason"] == "ended" and summary["judged"] == 5 + N
    levels = [lv for lv, _ in events]
    assert levels[0] == "warning" and "reconnecting" in events[0][1] and ("info", "camera.avi: reconnected") in events
    indices = [r.frame.index for r in results]
    assert indices == list(range(5 + N))  # indices keep counting across the reconnection


def test_gives_up_after_max_retries(model, video):
    source = DyingVideo(video, k=3, refuse_reopen=True)
    _, events, summary = run(LiveInspector(model, source, retry_delay_s=0.01, max_retries=2))
    assert summary["reason"] == "failed" and summary["judged"] == 3
    assert [lv for lv, _ in events] == ["warning", "warning", "error"]  # 2 attempts, then give up
    assert "gave up after 2 reconnection attempts" in events[-1][1]


def test_truncated_video_ends_cleanly(model, video, tmp_path):
    data = video.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    results, _, summary = run(LiveInspector(model, VideoFileSource(cut, realtime=False)))
    assert summary["reason"] == "ended" and 1 <= summary["judged"] < N


class PauseScript:
    """Drives one run: pauses after judging frame ``at`` ("first": the first judged, None: never); once
    the pause is reported, counts ``turns`` turns of the live loop (each could have read and judged a
    frame), noting ``frames_read`` at each; then resumes."""

    def __init__(self, inspector, at, turns=10):
        self.inspector, self.at, self.turns = inspector, at, turns
        self.timeline, self.read_while_paused = [], []
        self.holding = False

    def on_result(self, r):
        self.timeline.append(r.frame.index)
        if self.at == "first":
            self.at = r.frame.index
        if r.frame.index == self.at:
            self.inspector.paused = True

    def on_event(self, level, message):
        self.timeline.append(message)
        self.holding = message.startswith("paused")

    def should_stop(self):
        if self.holding and self.inspector.paused:
            self.read_while_paused.append(self.inspector.grabber.frames_read)
            if len(self.read_while_paused) >= self.turns:
                self.inspector.paused = False
        return False


@pytest.mark.parametrize("realtime", [False, True], ids=["judge-every-frame", "file-rate"])
def test_pause_holds_a_video_file_then_it_goes_on(model, video, realtime):
    inspector = LiveInspector(model, VideoFileSource(video, realtime=realtime))
    script = PauseScript(inspector, at="first" if realtime else 9)  # at the file's rate frames are skipped
    summary = inspector.run(script.on_result, script.should_stop, script.on_event)
    assert summary["reason"] == "ended" and summary["frames_read"] == N
    paused_at = script.timeline.index(f"paused after frame {script.at}: camera.avi waits (nothing is read) "
                                      f"until resumed")
    assert script.timeline[paused_at + 1] == "resumed: camera.avi"  # nothing judged while paused
    assert script.timeline[:paused_at][-1] == script.at
    frames = script.read_while_paused
    assert len(frames) == 10 and len(set(frames)) == 1, frames  # the file did not advance while paused
    judged = [x for x in script.timeline if isinstance(x, int)]
    assert script.timeline[-1] == "camera.avi: end of stream"
    if realtime:  # like a camera, the newest frame wins; every frame was judged or dropped
        assert frames[0] > script.at and judged == sorted(set(judged))
        assert summary["judged"] + summary["dropped"] == N and judged[-1] == N - 1
    else:  # judge every frame: each frame of the file exactly once, in order, across the pause
        assert script.at + 1 <= frames[0] <= script.at + 2  # at most the next frame was read before the pause held
        assert judged == list(range(N)) and summary["judged"] == N and summary["dropped"] == 0


def test_folder_paused_before_the_start_reads_nothing_until_resumed(model, tmp_path):
    from hamacho_core.imageio import write_image

    for i, s in enumerate(make_samples("texture", 4, 0, size=S, seed=9)):
        write_image(tmp_path / f"img{i}.png", s.image)
    inspector = LiveInspector(model, open_source(tmp_path, realtime=False))
    inspector.paused = True
    script = PauseScript(inspector, at=None)
    summary = inspector.run(script.on_result, script.should_stop, script.on_event)
    assert script.read_while_paused == [0] * 10
    assert script.timeline == [f"paused before the first frame: {tmp_path.name} waits (nothing is read) until "
                               f"resumed", f"resumed: {tmp_path.name}", 0, 1, 2, 3, f"{tmp_path.name}: end of stream"]
    assert summary["judged"] == 4 and summary["reason"] == "ended"


class FileCamera(CameraSource):
    """A 'camera' whose driver plays the real video file (OpenCV capture, like a USB camera)."""

    def __init__(self, video):
        super().__init__(0)
        self.video = video

    def _create(self):
        return cv2.VideoCapture(str(self.video))


def test_a_paused_camera_keeps_being_read_but_nothing_is_judged(model, video):
    inspector = LiveInspector(model, FileCamera(video), reconnect=False)  # the 'cable' is pulled at the end
    inspector.paused = True
    seen, events = [], []
    summary = inspector.run(lambda r: pytest.fail("judged while paused"), lambda: False,
                            lambda lv, msg: events.append(msg), on_frame=lambda f: seen.append(f.index))
    assert summary["judged"] == 0 and summary["reason"] == "failed" and "garbage frame" in summary["error"]
    assert summary["frames_read"] == N and seen and seen == sorted(set(seen))  # read on; the newest taken
    assert events[0] == "paused: camera 0 keeps running (newest frame kept); no frame is judged until resumed"


def test_thresholds_changed_while_running_apply_from_the_next_frame(model, video):
    saved = model.judge
    base = model.image_scale.threshold
    schedule = {5: dict(image=1e9), 15: dict(image=0.0), 25: dict(image=base, review=base / 2)}
    results = []

    def on_result(r):  # the main window does this from the GUI thread while the worker judges
        results.append(r)
        if r.frame.index in schedule:
            model.set_thresholds(**schedule[r.frame.index])

    try:
        LiveInspector(model, VideoFileSource(video, realtime=False)).run(on_result, lambda: False)
    finally:
        model.judge = saved
    assert [r.frame.index for r in results] == list(range(N))
    by_frame = {r.frame.index: r for r in results}
    assert all(by_frame[i].judge.image == base and by_frame[i].judge.review is None for i in range(6))
    assert {by_frame[i].verdict for i in range(6, 16)} == {"OK"} and by_frame[6].judge.image == 1e9
    assert {by_frame[i].verdict for i in range(16, 26)} == {"NG"} and "≥ 0.0" in by_frame[16].comparison
    banded = [by_frame[i] for i in range(26, N)]
    assert all(r.judge.review == base / 2 for r in banded) and "REVIEW" in {r.verdict for r in banded}
    for r in results:  # every result agrees with the thresholds it carries
        assert r.verdict == r.judge.verdict(r.score)


def test_thresholds_changed_from_another_thread_give_consistent_results(model, video):
    saved = model.judge
    low, high = model.image_scale.threshold * 0.9, model.image_scale.threshold * 1.1
    done = threading.Event()

    def toggle():  # a technician dragging the slider back and forth meanwhile
        i = 0
        while not done.is_set():
            model.set_thresholds(image=(low, high)[i % 2], pixel=model.pixel_scale.threshold * (1 + i % 2) / 2 + 1e-3)
            i += 1
            time.sleep(0.001)

    slider = threading.Thread(target=toggle)
    slider.start()
    try:
        results, _, summary = run(LiveInspector(model, VideoFileSource(video, realtime=False)))
    finally:
        done.set()
        slider.join()
        model.judge = saved
    assert summary["judged"] == N and {r.judge.image for r in results} <= {low, high, saved.image}
    for r in results:
        assert r.verdict == r.judge.verdict(r.score)
        assert r.normalized == pytest.approx(float(r.judge.image_scale.normalize(r.score)))
        assert np.array_equal(r.prediction.masks, r.prediction.anomaly_maps >= r.judge.pixel)


def test_comparison_texts():
    from hamacho_core.thresholds import ScoreScale

    t = Judge(ScoreScale(2.8, 1.0, "manual"), ScoreScale(1.0, 0.0, "manual"))
    assert t.explain(3.21, "NG") == "3.21 ≥ 2.80" and t.explain(1.02, "OK") == "1.02 < 2.80"
    banded = Judge(t.image_scale, t.pixel_scale, review=2.4)
    assert banded.explain(2.5, "REVIEW") == "2.50 ≥ 2.40" and banded.explain(1.0, "OK") == "1.00 < 2.40"
    assert format_pair(2.7996, 2.8) == ("2.7996", "2.8000") and format_pair(0.01234, 0.0119) == ("0.0123", "0.0119")
    assert format_pair(312.4, 280.0) == ("312", "280") and "not a number" in t.explain(float("nan"), "NG")


def test_should_stop_and_max_frames(model, video):
    source = VideoFileSource(video, realtime=False, loop=True)
    results, _, summary = run(LiveInspector(model, source), max_frames=7)
    assert summary["reason"] == "max_frames" and summary["judged"] == 7 == len(results)
    calls = []
    summary = LiveInspector(model, VideoFileSource(video, loop=True)).run(
        calls.append, lambda: len(calls) >= 3)
    assert summary["reason"] == "stopped" and summary["judged"] == 3


def test_folder_source_skips_unreadable_files(model, tmp_path):
    from hamacho_core.imageio import write_image

    for i, s in enumerate(make_samples("texture", 3, 1, size=S, seed=9)):
        write_image(tmp_path / f"img{i + 1}.png", s.image)
    write_image(tmp_path / "img10.png", make_samples("texture", 1, 0, size=S, seed=9)[0].image[:, :, 0])  # grey
    (tmp_path / "img5.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    (tmp_path / "notes.txt").write_text("not an image")
    source = open_source(tmp_path, realtime=False)  # as fast as possible: every image, no pacing
    assert isinstance(source, FolderSource) and not source.is_live
    results, _, summary = run(LiveInspector(model, source))
    assert summary["judged"] == 5 and summary["reason"] == "ended"
    assert all(r.frame.image.shape == (S, S, 3) for r in results)
    # each judged frame names its file (natural order; the broken img5.png skipped)
    assert [r.frame.name for r in results] == ["img1.png", "img2.png", "img3.png", "img4.png", "img10.png"]
    assert list(source.skipped) == [tmp_path / "img5.png"]
    paced = FolderSource(tmp_path, interval_s=0.05)  # a slideshow, paced like a camera (timing: bench_live.py)
    assert paced.is_live and paced.can_pause and len(read_all(paced)) == 5


def test_open_source_dispatch_and_errors(video, tmp_path):
    assert isinstance(open_source(0), CameraSource) and open_source("3").name == "camera 3"
    src = open_source(str(video), realtime=False, interval_s=1, width=5)  # kw a source does not take: ignored
    assert isinstance(src, VideoFileSource) and not src.realtime and not src.is_live
    stream = open_source("rtsp://admin:secret@10.0.0.7/live")
    assert isinstance(stream, StreamSource) and "secret" not in stream.name and "***" in stream.name
    with pytest.raises(SourceError, match="no camera, video file, folder or stream URL"):
        open_source(tmp_path / "nope.avi")
    with pytest.raises(SourceError, match="camera 99 could not be opened"):
        open_source("99").open()
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"not a video" * 20)
    with pytest.raises(SourceError, match="junk.avi"):
        open_source(junk).open()
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="no image files"):
        open_source(tmp_path / "empty").open()


def test_camera_that_cannot_be_opened_is_reported(model):
    _, events, summary = run(LiveInspector(model, CameraSource(99), warmup=False))
    assert summary["reason"] == "failed" and summary["judged"] == 0
    assert events == [("error", "camera 99 could not be opened (not connected, in use by another program, "
                                "or no permission)")]


class GarbageCamera(FileCamera):
    """A camera whose driver hands back a real frame, then nothing but garbage."""

    def _grab(self):
        if getattr(self, "_good_done", False):
            return next(self._junk)
        self._good_done = True
        self._junk = iter([(False, None), (True, np.zeros((0, 0, 3), np.uint8)), (True, np.zeros(5, np.uint8))] * 9)
        return super()._grab()


def test_garbage_frames_become_a_source_error(video):
    cam = GarbageCamera(video)
    cam.open()
    assert cam.read().shape == (S, S, 3)
    with pytest.raises(SourceError, match=f"garbage frame: {GARBAGE_LIMIT} unusable reads"):
        cam.read()
    cam.close()
    bgr = np.zeros((2, 2, 3), np.uint8)
    bgr[..., 0] = 200  # blue in OpenCV's order
    assert to_rgb_frame(bgr, "x")[0, 0].tolist() == [0, 0, 200]
    assert to_rgb_frame(np.full((2, 2), 7, np.uint16) * 257, "x").tolist() == [[[7] * 3] * 2] * 2
    assert to_rgb_frame(np.zeros((2, 2, 4), np.uint8), "x").shape == (2, 2, 3)
    with pytest.raises(SourceError, match="garbage frame"):
        to_rgb_frame(np.zeros((2, 2, 2), np.uint8), "x")


def test_grabber_keeps_only_the_newest_frame(video):
    grabber = LatestFrameGrabber(VideoFileSource(video, realtime=True, loop=True)).start()
    first = grabber.latest(timeout=30)
    wait_for(lambda: grabber.frames_read >= first.index + 7)  # the consumer is busy meanwhile
    second = grabber.latest(first.index, timeout=30)
    assert second.index >= first.index + 6 and grabber.frames_dropped >= second.index - first.index - 1 >= 5
    assert grabber.latest(10**9, timeout=0.0) is None  # timeout 0: returns at once, nothing newer
    grabber.set_paused(True)
    wait_for(lambda: grabber.waiting)
    held = grabber.frames_read
    newest = grabber.latest(timeout=30)
    assert newest.index == held - 1 and grabber.latest(newest.index, timeout=0.0) is None  # nothing read on
    grabber.set_paused(False)
    assert grabber.latest(newest.index, timeout=30).index >= held  # goes on from the next frame
    assert grabber.stop() and grabber.state == "stopped"
    assert grabber.latest(10**9, timeout=1) is None  # stopped: returns at once


def test_model_errors_propagate_and_capture_stops(model, video):
    class Broken(SlowModel):
        def predict(self, image, **kw):
            if image.shape[0] != image.shape[1] or image.any():  # the blank warm-up passes, frames fail
                raise RuntimeError("out of memory")
            return self.model.predict(image, **kw)

    inspector = LiveInspector(Broken(model, 0), VideoFileSource(video, loop=True))
    with pytest.raises(RuntimeError, match="out of memory"):
        inspector.run(lambda r: None, lambda: False)
    assert not [t for t in threading.enumerate() if t.name.startswith("grab ")]  # no capture thread left


def test_a_missing_camera_library_is_said_to_a_technician(monkeypatch):
    """Issue 24 (10): not a command line to type, but what is missing, who adds it and what works meanwhile."""
    import sys

    from hamacho_core.live import SourceError, genicam

    monkeypatch.setitem(sys.modules, "gi", None)  # as on a station without PyGObject
    with pytest.raises(SourceError) as info:
        genicam.aravis()
    message = str(info.value)
    assert "packaged installer includes it" in message and "administrator" in message
    assert "USB cameras, network streams, video files and folders work" in message
