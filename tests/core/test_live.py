"""Live inspection on a REAL video file (MJPG .avi written with OpenCV) standing in for the camera:
judging, counters, log and saved evidence; a slow model drops frames and keeps latency bounded;
sources that die mid-stream are reported and reconnected; folders; source errors."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest

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

    def predict(self, image):
        time.sleep(self.delay)
        return self.model.predict(image)

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
    assert r.inference_ms > 0 and r.latency_ms >= r.inference_ms * 0.9 and r.fps >= 0
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


def test_slow_model_drops_frames_and_latency_stays_bounded(model, video):
    delay = 0.2
    source = VideoFileSource(video, realtime=True)  # 30 fps: a camera delivering 48 frames in 1.6 s
    results, _, summary = run(LiveInspector(SlowModel(model, delay), source))
    interval_ms = 1000 / source.fps
    assert summary["frames_read"] == N and summary["reason"] == "ended"
    assert summary["dropped"] > 0 and 2 <= summary["judged"] <= N // 3, summary
    assert summary["judged"] + summary["dropped"] <= N
    for r in results:  # the newest frame wins: no queue, however slow the model
        assert r.inference_ms >= delay * 1000
        assert r.latency_ms < 2 * r.inference_ms + interval_ms, (r.latency_ms, r.inference_ms)
    indices = [r.frame.index for r in results]
    assert indices == sorted(indices) and indices[-1] >= N - 1 - (2 * delay * 1000) / interval_ms


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


def test_paused_grabs_but_does_not_judge(model, video):
    inspector = LiveInspector(model, VideoFileSource(video, realtime=True))
    inspector.paused = True
    seen = []
    summary = inspector.run(lambda r: pytest.fail("judged while paused"), lambda: False, on_frame=seen.append)
    assert summary["judged"] == 0 and summary["reason"] == "ended" and len(seen) >= N // 2


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
    assert list(source.skipped) == [tmp_path / "img5.png"]
    paced = FolderSource(tmp_path, interval_s=0.05)
    started = time.monotonic()
    assert len(read_all(paced)) == 5 and time.monotonic() - started >= 4 * 0.05


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


class GarbageCamera(CameraSource):
    """A camera whose driver hands back a real frame, then nothing but garbage."""

    def __init__(self, video):
        super().__init__(0)
        self.video = video

    def _create(self):
        return cv2.VideoCapture(str(self.video))

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
    grabber = LatestFrameGrabber(VideoFileSource(video, realtime=True)).start()
    first = grabber.latest(timeout=5)
    time.sleep(0.3)  # ~9 frames arrive meanwhile; only the newest is kept
    second = grabber.latest(first.index, timeout=5)
    assert second.index >= first.index + 5 and grabber.frames_dropped >= 4
    started = time.monotonic()
    grabber.latest(10**9, timeout=0.0)  # never blocks with timeout 0
    assert time.monotonic() - started < 0.1
    assert grabber.stop() and grabber.state == "stopped"
    assert grabber.latest(10**9, timeout=1) is None  # stopped: returns at once


def test_model_errors_propagate_and_capture_stops(model, video):
    class Broken(SlowModel):
        def predict(self, image):
            if image.shape[0] != image.shape[1] or image.any():  # the blank warm-up passes, frames fail
                raise RuntimeError("out of memory")
            return self.model.predict(image)

    inspector = LiveInspector(Broken(model, 0), VideoFileSource(video, loop=True))
    with pytest.raises(RuntimeError, match="out of memory"):
        inspector.run(lambda r: None, lambda: False)
    assert not [t for t in threading.enumerate() if t.name.startswith("grab ")]  # no capture thread left
