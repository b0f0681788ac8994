"""Live inspection of a camera, stream, video file or image folder (the newest frame wins).

Importing this package is light (numpy, OpenCV, sqlite3); the models load torch only when used.
"""

from hamacho_core.live.grabber import LatestFrameGrabber
from hamacho_core.live.inspector import LiveInspector, LiveResult
from hamacho_core.live.log import InspectionLog, default_log_path
from hamacho_core.live.sources import (
    CameraSource,
    FolderSource,
    Frame,
    FrameSource,
    SourceError,
    StreamSource,
    VideoFileSource,
    open_source,
)

__all__ = ["CameraSource", "FolderSource", "Frame", "FrameSource", "InspectionLog", "LatestFrameGrabber",
           "LiveInspector", "LiveResult", "SourceError", "StreamSource", "VideoFileSource",
           "default_log_path", "open_source"]
