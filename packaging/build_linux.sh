#!/usr/bin/env bash
# Build the Linux package of Hamacho: PyInstaller one-folder build -> .deb, then test the packaged app.
#
#   packaging/build_linux.sh            # clean venv from pyproject.toml, build, package, self-test
#
# Environment:
#   BUILD_DIR=<dir>          where the venv, PyInstaller work files, dist/ and the .deb go (default: ./build/linux, git-ignored)
#   HAMACHO_BUILD_VENV=<dir> reuse this venv instead of creating a clean one (must have `pip install . pyinstaller`)
#   PYTHON=python3.11        interpreter for the clean venv (the project requires Python 3.11)
#   HAMACHO_PACKAGE_CUDA=0   leave out the NVIDIA libraries (only works with a CPU-only torch wheel; see README)
#   DEB_COMPRESS=zstd        dpkg-deb compression: zstd (default, Debian 12+/Ubuntu 22.04+), xz (older dpkg), gzip
#   SKIP_DEB=1 / SKIP_TESTS=1  stop after the one-folder build / skip the packaged self-tests
#
# Every step logs to $BUILD_DIR/logs/; the script stops at the first failing step.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="$(mkdir -p "${BUILD_DIR:-$ROOT/build/linux}" && cd "${BUILD_DIR:-$ROOT/build/linux}" && pwd)"
LOGS="$BUILD_DIR/logs"
PYTHON="${PYTHON:-python3.11}"
DEB_COMPRESS="${DEB_COMPRESS:-zstd}"
mkdir -p "$LOGS"

step() { echo "==> $(date +%H:%M:%S) $*"; }
t_start=$(date +%s)

# --- 1. build environment ------------------------------------------------------------------------------
if [[ -n "${HAMACHO_BUILD_VENV:-}" ]]; then
    VENV="$HAMACHO_BUILD_VENV"
    step "reusing build venv $VENV"
else
    VENV="$BUILD_DIR/venv"
    step "creating a clean venv in $VENV (log: $LOGS/pip.log)"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --upgrade pip >"$LOGS/pip.log" 2>&1
    # A non-editable install: PyInstaller must see the package as a user would get it.
    "$VENV/bin/python" -m pip install "$ROOT" pyinstaller "pytest>=8" >>"$LOGS/pip.log" 2>&1
fi
PY="$VENV/bin/python"
VERSION="$("$PY" -c 'import hamacho_core; print(hamacho_core.__version__)')"

# --- 2. PyInstaller one-folder build ---------------------------------------------------------------------
DIST="$BUILD_DIR/dist/hamacho"
step "PyInstaller (log: $LOGS/pyinstaller.log)"
t0=$(date +%s)
"$PY" -m PyInstaller --noconfirm --clean --distpath "$BUILD_DIR/dist" --workpath "$BUILD_DIR/work" \
    "$ROOT/packaging/hamacho.spec" >"$LOGS/pyinstaller.log" 2>&1
echo "    PyInstaller took $(( $(date +%s) - t0 )) s; one-folder build: $(du -sh "$DIST" | cut -f1)"

run_self_test() {  # $1 = folder holding hamacho-gui; runs from /tmp, outside the source tree, under Xvfb
    local app="$1"
    (cd /tmp && env -u PYTHONPATH -u VIRTUAL_ENV HAMACHO_HOME="$(mktemp -d)" QT_QPA_PLATFORM=xcb \
        xvfb-run -a "$app/hamacho-gui" --self-test)
}

if [[ "${SKIP_TESTS:-0}" != 1 ]]; then
    step "self-test of the one-folder build under xvfb-run (xcb platform plugin)"
    run_self_test "$DIST" 2>&1 | tee "$LOGS/selftest-dist.log"
    (cd /tmp && "$DIST/hamacho" --version)
fi

# --- 3. .deb -----------------------------------------------------------------------------------------------
if [[ "${SKIP_DEB:-0}" != 1 ]]; then
    ARCH="$(dpkg --print-architecture)"
    DEB="$BUILD_DIR/hamacho_${VERSION}_${ARCH}.deb"
    PKG="$BUILD_DIR/deb-root"
    step "assembling $DEB"
    rm -rf "$PKG"
    mkdir -p "$PKG/DEBIAN" "$PKG/opt" "$PKG/usr/bin" "$PKG/usr/share/applications" \
        "$PKG/usr/share/icons/hicolor/256x256/apps"
    cp -a "$DIST" "$PKG/opt/hamacho"
    ln -s /opt/hamacho/hamacho-gui "$PKG/usr/bin/hamacho-gui"
    ln -s /opt/hamacho/hamacho "$PKG/usr/bin/hamacho"
    install -m 644 "$ROOT/packaging/linux/hamacho.desktop" "$PKG/usr/share/applications/hamacho.desktop"
    install -m 644 "$ROOT/resources/hamacho.png" "$PKG/usr/share/icons/hicolor/256x256/apps/hamacho.png"
    INSTALLED_KB="$(du -sk --exclude=DEBIAN "$PKG" | cut -f1)"
    sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@INSTALLED_SIZE@/$INSTALLED_KB/" \
        "$ROOT/packaging/linux/control.in" >"$PKG/DEBIAN/control"
    install -m 755 "$ROOT/packaging/linux/postinst" "$PKG/DEBIAN/postinst"
    install -m 755 "$ROOT/packaging/linux/postrm" "$PKG/DEBIAN/postrm"
    t0=$(date +%s)
    dpkg-deb --root-owner-group -Z"$DEB_COMPRESS" --build "$PKG" "$DEB" >"$LOGS/dpkg-deb.log" 2>&1
    echo "    dpkg-deb ($DEB_COMPRESS) took $(( $(date +%s) - t0 )) s; package: $(du -sh "$DEB" | cut -f1)"
    dpkg-deb --info "$DEB" | sed -n '/Package:/,$p'
    rm -rf "$PKG"  # a second full copy of the build

    if [[ "${SKIP_TESTS:-0}" != 1 ]]; then
        step "self-test of the .deb contents (extracted, run from /tmp)"
        EXTRACT="$(mktemp -d)"
        dpkg-deb -x "$DEB" "$EXTRACT"
        run_self_test "$EXTRACT/opt/hamacho" 2>&1 | tee "$LOGS/selftest-deb.log"
        rm -rf "$EXTRACT"
    fi
fi

# --- 4. the packaged-app test of the test suite ---------------------------------------------------------------
if [[ "${SKIP_TESTS:-0}" != 1 ]]; then
    step "pytest tests/packaging (HAMACHO_PACKAGE_TEST=1)"
    if "$PY" -c 'import pytest' 2>/dev/null; then
        (cd "$ROOT" && HAMACHO_PACKAGE_TEST=1 HAMACHO_DIST="$DIST" "$PY" -m pytest -q -p no:cacheprovider \
            tests/packaging 2>&1 | tee "$LOGS/pytest-packaging.log")
    else
        echo "    pytest is not installed in $VENV: skipped"
    fi
fi

# --- 5. sizes --------------------------------------------------------------------------------------------------
step "sizes"
du -sh "$DIST"
[[ -f "${DEB:-}" ]] && du -sh "$DEB"
echo "    biggest parts of the one-folder build:"
du -sh "$DIST"/_internal/* 2>/dev/null | sort -rh | head -12
echo "    total time: $(( $(date +%s) - t_start )) s"
