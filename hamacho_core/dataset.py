"""Finding and validating a dataset's image files: the hamacho layout (``good/``, optional ``bad/`` and
``mask/``) and the MVTec AD layout (``train/good/``, ``test/<kind>/``, ``ground_truth/<kind>/``).

Unusable files are never fatal: each is reported as :class:`Skipped` with a specific reason.  Masks are
matched to their image by exact file stem, never by position.  No Qt here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hamacho_core.imageio import IMAGE_SUFFIXES, ImageReadError, decode_image
from hamacho_core.progress import ProgressFn, StopFn, check_stop, report

HAMACHO, MVTEC = "hamacho", "mvtec"
MIN_SIDE = 8  # pixels, both sides
MAX_PIXELS = 200_000_000  # refused from the header, before decoding
MAX_FILE_BYTES = 1 << 30
IGNORED_NAMES = frozenset({"thumbs.db", "desktop.ini"})  # plus hidden ".xxx" files
#: A defect mask covering this share of its image or more marks nothing in particular (e.g. all 255):
#: reported, and left out of pixel calibration.
MAX_MASK_COVERAGE = 0.9
_LAYOUTS = ("hamacho: good/ (optional bad/ and mask/)",
            "MVTec AD: train/good/ (optional test/<kind>/ and ground_truth/<kind>/)")
_PIXEL_TYPES = (np.uint8, np.uint16, np.float32, np.float64)


@dataclass(frozen=True)
class ImageItem:
    path: Path
    label: int  # 0 good, 1 defective
    kind: str  # "good", "bad" (hamacho bad/) or the MVTec test/<kind> folder name
    mask_path: Path | None = None


@dataclass(frozen=True)
class Skipped:
    path: Path
    reason: str  # short and human readable, e.g. "truncated JPEG file"


class DatasetError(ValueError):
    """The folder is not a usable dataset; the message says what was expected or what is wrong."""


@dataclass
class Dataset:
    root: Path
    layout: str  # HAMACHO or MVTEC
    train: list[ImageItem]  # good images to learn from
    test: list[ImageItem]  # labelled images to evaluate on
    skipped: list[Skipped]
    warnings: list[str]
    #: Median (width, height) of the training images (the Train tab's geometry advice).
    image_dims: tuple[int, int] | None = None

    def summary(self) -> str:
        """Multi-line report: layout, counts, every skipped file with its reason, then warnings."""
        folders = "good/, bad/, mask/" if self.layout == HAMACHO else "train/, test/, ground_truth/"
        bad = [it for it in self.test if it.label]
        kinds: dict[str, int] = {}
        for it in bad:
            kinds[it.kind] = kinds.get(it.kind, 0) + 1
        per_kind = ", ".join(f"{k}: {n}" for k, n in kinds.items())
        lines = [f"Dataset {self.root}", f"  layout: {self.layout} ({folders})",
                 f"  train: {len(self.train)} good images",
                 f"  test: {len(self.test) - len(bad)} good, {len(bad)} defective" + (f" ({per_kind})" if bad else "")]
        if bad:
            lines.append(f"  masks: {sum(it.mask_path is not None for it in bad)} of {len(bad)} defective images")
        if self.skipped:
            lines.append(f"Skipped {len(self.skipped)} file(s):")
            lines += [f"  {_rel(s.path, self.root)}: {s.reason}" for s in self.skipped]
        if self.warnings:
            lines.append(f"Warnings ({len(self.warnings)}):")
            lines += [f"  {w}" for w in self.warnings]
        return "\n".join(lines)


# --------------------------------------------------------------------------- single files
def _png_info(data: bytes) -> tuple[tuple[int, int] | None, bool]:
    """(width, height) from IHDR, and whether the chunk walk reaches IEND inside the data."""
    size, pos = None, 8
    while pos + 8 <= len(data):
        n, kind = int.from_bytes(data[pos:pos + 4], "big"), data[pos + 4:pos + 8]
        if kind == b"IHDR" and pos + 16 <= len(data):
            size = int.from_bytes(data[pos + 8:pos + 12], "big"), int.from_bytes(data[pos + 12:pos + 16], "big")
        elif kind == b"IEND":
            return size, True
        pos += 12 + n
    return size, False


_JPEG_MARKER = re.compile(rb"\xff+([^\x00\xff\xd0-\xd7])")  # skips entropy data, byte stuffing, RSTn
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg_info(data: bytes) -> tuple[tuple[int, int] | None, bool]:
    """(width, height) from the frame header, and whether the segments reach EOI (trailers after it are fine)."""
    size, pos = None, 2
    while m := _JPEG_MARKER.search(data, pos):
        marker, pos = m.group(1)[0], m.end()
        if marker == 0xD9:
            return size, True
        if marker == 0x01:  # TEM: no length
            continue
        if marker in _JPEG_SOF and size is None and pos + 7 <= len(data):
            size = int.from_bytes(data[pos + 5:pos + 7], "big"), int.from_bytes(data[pos + 3:pos + 5], "big")
        pos += int.from_bytes(data[pos:pos + 2], "big")
    return size, False


def _bmp_size(data: bytes) -> tuple[int, int] | None:
    if len(data) < 26:
        return None
    if int.from_bytes(data[14:18], "little") == 12:  # OS/2 BITMAPCOREHEADER
        return int.from_bytes(data[18:20], "little"), int.from_bytes(data[20:22], "little")
    w, h = (int.from_bytes(data[i:i + 4], "little", signed=True) for i in (18, 22))
    return abs(w), abs(h)


def _tiff_size(data: bytes) -> tuple[int, int] | None:
    order = "little" if data[:2] == b"II" else "big"
    ifd = int.from_bytes(data[4:8], order)
    dims = {}
    for e in range(ifd + 2, ifd + 2 + 12 * int.from_bytes(data[ifd:ifd + 2], order), 12):
        tag, typ = int.from_bytes(data[e:e + 2], order), int.from_bytes(data[e + 2:e + 4], order)
        if tag in (256, 257) and e + 12 <= len(data):
            dims[tag] = int.from_bytes(data[e + 8:e + (10 if typ == 3 else 12)], order)
    return (dims[256], dims[257]) if len(dims) == 2 else None


_MAGIC = ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"BM", "BMP"), (b"II*\x00", "TIFF"),
          (b"MM\x00*", "TIFF"))


def _inspect(path: Path) -> tuple[np.ndarray | None, str | None]:
    """(decoded image, None) for a usable image file, else (None, short reason)."""
    try:
        if path.is_dir():
            return None, "is a folder"
        nbytes = path.stat().st_size
        if nbytes > MAX_FILE_BYTES:
            return None, f"file too large ({nbytes / 1e9:.1f} GB)"
        data = path.read_bytes() if nbytes else b""
    except FileNotFoundError:
        return None, "not found"
    except OSError as exc:
        return None, f"cannot read file ({exc.strerror or exc})"
    return checked_bytes(data)


def checked_bytes(data: bytes) -> tuple[np.ndarray | None, str | None]:
    """(decoded image, None) for a usable image file's bytes, else (None, short reason): the checks
    of ``checked_image`` after the file was read (a batch worker times reading and decoding apart)."""
    if not data:
        return None, "empty file"
    fmt, size, complete = next((f for magic, f in _MAGIC if data.startswith(magic)), None), None, True
    if fmt == "PNG":
        size, complete = _png_info(data)
    elif fmt == "JPEG":
        size, complete = _jpeg_info(data)
    elif fmt is not None:
        size = (_bmp_size if fmt == "BMP" else _tiff_size)(data)
    if not complete:
        return None, f"truncated {fmt} file"
    if size and size[0] * size[1] > MAX_PIXELS:
        return None, f"too large ({size[0]}x{size[1]} px, at most {MAX_PIXELS // 1_000_000} megapixels allowed)"
    image = decode_image(data)
    if image is None:
        if fmt:
            return None, f"corrupt {fmt} file (cannot be decoded)"
        head = data[:2048]
        text = not any(b < 32 and b not in (9, 10, 12, 13) for b in head)
        return None, "not an image (text file)" if text else "not an image (unknown format)"
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
        return None, f"unsupported image layout (shape {image.shape})"
    if image.dtype not in _PIXEL_TYPES:
        return None, f"unsupported pixel type ({image.dtype})"
    h, w = image.shape[:2]
    if min(h, w) < MIN_SIDE:
        return None, f"too small ({w}x{h} px, at least {MIN_SIDE}x{MIN_SIDE} needed)"
    if h * w > MAX_PIXELS:
        return None, f"too large ({w}x{h} px, at most {MAX_PIXELS // 1_000_000} megapixels allowed)"
    return image, None


def mask_coverage(mask: np.ndarray) -> float:
    """Share of a mask's pixels that mark a defect (non-zero in any channel)."""
    mask = np.asarray(mask)
    return float(np.count_nonzero(mask.max(axis=2) if mask.ndim == 3 else mask)) / max(1, mask.shape[0] * mask.shape[1])


def check_image(path: str | Path) -> np.ndarray:
    """Read and validate one image file; returns it as :func:`read_image` does, else raises ImageReadError."""
    image, reason = _inspect(Path(path))
    if reason:
        raise ImageReadError(f"{path}: {reason}")
    return image


# --------------------------------------------------------------------------- folders
def _natural(path: Path) -> tuple:
    return [int(t) if t.isdecimal() else t.lower() for t in re.split(r"(\d+)", path.name)], path.name


def _ignored(path: Path) -> bool:
    return path.name.startswith(".") or path.name.lower() in IGNORED_NAMES


def _list_folder(folder: Path) -> tuple[list[Path], list[Path], list[Path]]:
    """(image files, sub-folders, other files) directly in ``folder``."""
    files, subdirs, others = [], [], []
    for p in sorted(folder.iterdir(), key=_natural):
        if _ignored(p):
            continue
        if p.is_dir():
            subdirs.append(p)
        elif p.suffix.lower() in IMAGE_SUFFIXES:
            files.append(p)
        else:
            others.append(p)
    return files, subdirs, others


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _walk(root: Path, skipped: list[Skipped]) -> list[Path]:
    """Image files of ``root`` and its sub-folders, depth first in name order.  Links to folders are
    never followed: one back to a folder above it (a loop) or to a folder outside ``root`` is reported
    in ``skipped``, one inside ``root`` is walked at its real place.  Linked files from outside
    ``root`` are reported and skipped too."""
    top = os.path.realpath(root)
    files: list[Path] = []
    seen: set[tuple[int, int]] = set()  # (device, inode) of the folders walked: bind-mount loops too
    pending = [root]
    while pending:
        folder = pending.pop()
        try:
            info = folder.stat()
            if (info.st_dev, info.st_ino) in seen:
                skipped.append(Skipped(folder, "folder already inspected (a loop): not walked again"))
                continue
            seen.add((info.st_dev, info.st_ino))
            found, subdirs, others = _list_folder(folder)
        except OSError as exc:
            skipped.append(Skipped(folder, f"cannot read folder ({exc.strerror or exc})"))
            continue
        skipped.extend(Skipped(p, _not_an_image(p)) for p in others)
        for path in found:
            real = os.path.realpath(path)
            if path.is_symlink() and not _inside(real, top):
                skipped.append(Skipped(path, f"link to a file outside {root} ({real}): skipped"))
            else:
                files.append(path)
        below = []
        for sub in subdirs:
            real = os.path.realpath(sub)
            if not sub.is_symlink():
                below.append(sub)
            elif _inside(os.path.realpath(folder), real):
                skipped.append(Skipped(sub, f"link to a folder above it ({real}), a loop: not followed"))
            elif not _inside(real, top):
                skipped.append(Skipped(sub, f"link to a folder outside {root} ({real}): not followed"))
        pending += reversed(below)
    return files


def _subdir(parent: Path, *names: str) -> Path | None:
    """``parent/names...`` if it is a folder, matching each name case-insensitively if not exact."""
    for name in names:
        if not (parent / name).is_dir():
            found = [p for p in parent.iterdir() if p.is_dir() and p.name.lower() == name.lower()]
            if len(found) != 1:
                return None
            name = found[0].name
        parent = parent / name
    return parent


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _scan(paths: list[Path], total: int, done: int, progress, should_stop, ok: list, skipped: list) -> int:
    for path in paths:
        check_stop(should_stop, "scanning images")
        image, reason = _inspect(path)
        if reason:
            skipped.append(Skipped(path, reason))
        else:
            ok.append((path, image.shape[:2]))
        done += 1
        report(progress, "scan", done, total)
    return done


def collect_images(paths: Sequence[str | Path], *, recursive: bool = False, progress: ProgressFn | None = None,
                   should_stop: StopFn | None = None) -> tuple[list[Path], list[Skipped]]:
    """Image files to inspect from files and/or folders, each validated: (usable paths, skipped).

    Folders give their image-suffix files in natural name order; named files are checked whatever their suffix.
    """
    skipped: list[Skipped] = []
    files = list_images(paths, recursive=recursive, skipped=skipped)
    ok: list = []
    _scan(files, len(files), 0, progress, should_stop, ok, skipped)
    return [p for p, _ in ok], skipped


def list_images(paths: Sequence[str | Path], *, recursive: bool = False,
                skipped: list[Skipped] | None = None) -> list[Path]:
    """The files ``collect_images`` would check, in its order, without opening them.

    Each real file once: a second name or link for it is reported in ``skipped`` (when given), as are
    links that ``recursive`` does not follow (see :func:`_walk`).
    """
    skipped = [] if skipped is None else skipped
    files: dict[str, Path] = {}  # real path -> the first name found for it, in order
    for path in map(Path, paths):
        if path.is_dir() and not recursive:
            named, _subdirs, others = _list_folder(path)
            skipped.extend(Skipped(p, _not_an_image(p)) for p in others)
        else:
            named = _walk(path, skipped) if path.is_dir() else [path]
        for p in named:
            first = files.setdefault(os.path.realpath(p), p)
            if first != p:
                skipped.append(Skipped(p, f"same file as {first}: judged once"))
    return list(files.values())


def _not_an_image(path: Path) -> str:
    return (f"not an image file ({path.suffix or 'no extension'}; readable: "
            f"{', '.join(s.lstrip('.') for s in IMAGE_SUFFIXES)})")


def no_images_reason(paths: Sequence[str | Path], recursive: bool) -> str:
    """Why :func:`list_images` found nothing, saying where images are when only sub-folders hold some."""
    where = ", ".join(map(str, paths))
    if recursive:
        return f"no images in {where} or its sub-folders"
    for folder in (Path(p) for p in paths if Path(p).is_dir()):
        for root, _dirs, files in os.walk(folder):  # links to folders are not followed
            if any(Path(f).suffix.lower() in IMAGE_SUFFIXES for f in files):
                return f"no images directly in {where}, but {root} holds some: add --recursive"
    return f"no images in {where}"


def checked_image(path: Path) -> tuple[np.ndarray | None, str | None]:
    """(decoded image, None) for a usable image file, else (None, short reason): the checks of
    ``collect_images`` and the decoding in one read, for callers that judge each file once."""
    return _inspect(Path(path))


def _no_train_images(folder: Path, skipped: list[Skipped], subdirs: list[Path], others: list[Path]) -> DatasetError:
    if skipped:
        reasons = ", ".join(f"{s.path.name} ({s.reason})" for s in skipped[:10])
        more = f" and {len(skipped) - 10} more" if len(skipped) > 10 else ""
        return DatasetError(f"no usable images in {folder}: {len(skipped)} file(s) skipped: {reasons}{more}")
    msg = f"no images in {folder}: expected PNG, JPEG, BMP or TIFF files"
    if others:
        msg += f" ({len(others)} other file(s) ignored, e.g. {others[0].name})"
    if subdirs:
        msg += f"; only files directly inside are used, not sub-folders ({', '.join(p.name for p in subdirs[:5])})"
    return DatasetError(msg)


def _match_masks(images: list, folder: Path, files: list[Path], mask_dir: Path, mask_files: list[Path], root: Path,
                 warnings: list[str], should_stop: StopFn | None) -> list[Path | None]:
    """Each image's usable mask (``<stem>.*`` first, else ``<stem>_mask.*``) or None, warning about the rest."""
    by_stem: dict[str, list[Path]] = {}
    for m in mask_files:
        by_stem.setdefault(m.stem, []).append(m)
    stems = {p.stem for p in files}  # skipped images too: their masks are not orphans
    for m in mask_files:
        if m.stem not in stems and m.stem.removesuffix("_mask") not in stems:
            warnings.append(f"{_rel(m, root)} matches no image in {_rel(folder, root)}/")
    out: list[Path | None] = []
    for path, shape in images:
        check_stop(should_stop, "scanning images")
        found = by_stem.get(path.stem, []) + by_stem.get(path.stem + "_mask", [])
        where, name = _rel(mask_dir, root), _rel(path, root)
        if len(found) > 1:
            warnings.append(f"{where}/ has {len(found)} masks for {name}: using {found[0].name}")
        mask, reason = _inspect(found[0]) if found else (None, "")
        if not found:
            warnings.append(f"{where}/ has no mask for {name}")
        elif reason:
            warnings.append(f"{_rel(found[0], root)} is unusable ({reason}): {name} has no mask")
        elif mask.shape[:2] != shape:
            warnings.append(f"{_rel(found[0], root)} is {mask.shape[1]}x{mask.shape[0]} px but {name} is "
                            f"{shape[1]}x{shape[0]} px")
        if found and not reason and (cover := mask_coverage(mask)) >= MAX_MASK_COVERAGE:
            warnings.append(f"{_rel(found[0], root)} marks {cover:.0%} of {name} as defect: left out of pixel "
                            f"calibration (a mask should mark the defect only)")
        out.append(found[0] if found and not reason else None)
    return out


def load_dataset(root: str | Path, *, progress: ProgressFn | None = None,
                 should_stop: StopFn | None = None) -> Dataset:
    """Detect the layout of ``root``, validate every image and match masks by name.

    Raises DatasetError for an unknown layout or when no training image is usable (before any model work),
    and :class:`~hamacho_core.progress.Cancelled` when ``should_stop()`` turns True.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: {'not a folder' if root.exists() else 'folder not found'}")
    warnings: list[str] = []
    groups: list[tuple[Path, str, int, Path | None]] = []  # test folders: (folder, kind, label, mask folder)
    if (train_dir := _subdir(root, "good")) is not None:
        layout = HAMACHO
        if _subdir(root, "train", "good") is not None:
            warnings.append("both good/ and train/good/ exist: using the hamacho layout (good/)")
        if (bad := _subdir(root, "bad")) is not None:
            groups.append((bad, "bad", 1, _subdir(root, "mask")))
        elif _subdir(root, "mask") is not None:
            warnings.append("mask/ is not used: there is no bad/ folder")
    elif (train_dir := _subdir(root, "train", "good")) is not None:
        if _subdir(root, "train", "bad") is not None or _subdir(root, "train", "mask") is not None:
            # MVTec's train/ holds good/ only: these are hamacho-layout datasets side by side (as the demo writes)
            raise DatasetError(f"{root} is not one dataset: its train/ folder is a dataset of its own (good/, bad/, "
                               f"mask/). Open {root / 'train'} to train; inspect or evaluate "
                               f"{root / 'test'} with the model afterwards")
        layout = MVTEC
        test, gt = _subdir(root, "test"), _subdir(root, "ground_truth")
        kinds = sorted((p for p in test.iterdir() if p.is_dir() and not _ignored(p)), key=_natural) if test else []
        for kind_dir in kinds:
            label = int(kind_dir.name.lower() != "good")
            mask_dir = _subdir(gt, kind_dir.name) if gt and label else None
            if gt and label and mask_dir is None:
                warnings.append(f"ground_truth/ has no {kind_dir.name}/ folder: test/{kind_dir.name}/ has no masks")
            groups.append((kind_dir, "good" if not label else kind_dir.name, label, mask_dir))
        for extra in sorted(gt.iterdir(), key=_natural) if gt else []:
            if extra.is_dir() and not _ignored(extra) and not any(extra.name == g[0].name for g in groups):
                warnings.append(f"ground_truth/{extra.name}/ matches no test/ folder")
    else:
        n = len(_list_folder(root)[0])
        contents = f" (it holds {n} images directly: is it a folder inside the dataset?)" if n else ""
        raise DatasetError(f"{root} is not a dataset folder{contents}; expected one of these layouts: "
                           + "; ".join(_LAYOUTS))

    train_files, subdirs, others = _list_folder(train_dir)
    for sub in subdirs:
        warnings.append(f"{_rel(sub, root)}/ is a sub-folder: its files are not used")
    listed = [(g, _list_folder(g[0])) for g in groups]
    masks = {g[3]: _list_folder(g[3])[0] for g in groups if g[3] is not None}
    total = len(train_files) + sum(len(files) for _, (files, _, _) in listed) + sum(map(len, masks.values()))
    skipped: list[Skipped] = []
    ok: list = []
    done = _scan(train_files, total, 0, progress, should_stop, ok, skipped)
    if not ok:
        raise _no_train_images(train_dir, skipped, subdirs, others)
    train = [ImageItem(p, 0, "good") for p, _ in ok]
    dims = (int(np.median([shape[1] for _, shape in ok])), int(np.median([shape[0] for _, shape in ok])))

    test: list[ImageItem] = []
    for (folder, kind, label, mask_dir), (files, subs, _) in listed:
        warnings += [f"{_rel(sub, root)}/ is a sub-folder: its files are not used" for sub in subs]
        images: list = []
        done = _scan(files, total, done, progress, should_stop, images, skipped)
        if mask_dir is None:
            test += [ImageItem(p, label, kind) for p, _ in images]
            continue
        mask_paths = _match_masks(images, folder, files, mask_dir, masks[mask_dir], root, warnings, should_stop)
        test += [ImageItem(p, label, kind, m) for (p, _), m in zip(images, mask_paths, strict=True)]
        done += len(masks[mask_dir])
        report(progress, "scan", done, total)
    return Dataset(root, layout, train, test, skipped, warnings, dims)
