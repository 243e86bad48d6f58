#!/usr/bin/env bash
# Sanitizers: builds the addon with -fsanitize=address,undefined in
# its own directory (a copy of package.json and src-native; src-native/build/
# is left alone), runs the native-heavy tests against it with libasan
# preloaded into Node, then builds and runs the C++ engine tests
# (test/engine/*.cc) with the same sanitizers and leak detection. Exits
# non-zero on any sanitizer finding in the addon or the engine, on a failed
# engine test, or when the sanitized addon is not the one the tests load.
#
#   bash test/sanitize.sh                  # everything (CI: .ci/run)
#   bash test/sanitize.sh test/range/ranges.test.mjs   # only these test files
#   bash test/sanitize.sh --clone-layer    # only the clone layer's C++ test
#
# Needs the test mounts (test/fixtures/mounts.sh) like the tests themselves.
# COWCOPY_ASAN_DIR: where the sanitized package copy goes (default build/asan);
# COWCOPY_ASAN_REUSE=1 keeps an earlier build of the same sources.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=${COWCOPY_ASAN_DIR:-$root/build/asan}
started=$SECONDS

# -O1: quick to build, stacks still readable. Any UBSan finding aborts.
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1"
libasan=$(gcc -print-file-name=libasan.so)
if [ ! -e "$libasan" ]; then
  echo "sanitize: no libasan.so for gcc (apt-get install gcc)" >&2
  exit 1
fi
if [ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node.h ]; then
  export npm_config_nodedir=/usr
fi

logs=$(mktemp -d /tmp/cowcopy-sanitize-XXXXXX)
# The race test's copier runs as uid 65534 and writes its reports here too.
chmod 1777 "$logs"
trap 'rm -rf "$logs"' EXIT

# The macOS clone layer (src-native/clone-layer/) is not part of the engine:
# its test links the layer and its Linux shim (with the shim's fault seams),
# both compiled as the prebuilds are, without exceptions or RTTI (the test
# itself uses std::). Sets layer_status; findings come from the report files
# like the rest.
layer_status=0
layer_tests() {
  local test_src=test/engine/clone_layer_test.cc bin="$logs/clone_layer_test" scratch rc=0 src
  local cxx=(g++ -std=c++17 -Wall -Wextra -Werror -D_FILE_OFFSET_BITS=64 -DCOWCOPY_SHIM_HOOKS $san)
  echo "== sanitize: the clone layer's C++ test ($test_src) with $san"
  for src in layer os_clone_linux_shim; do
    "${cxx[@]}" -fno-exceptions -fno-rtti -c -o "$logs/layer-$src.o" "src-native/clone-layer/$src.cc" || rc=1
  done
  if [ "$rc" -ne 0 ] || ! "${cxx[@]}" -o "$bin" "$test_src" "$logs/layer-layer.o" "$logs/layer-os_clone_linux_shim.o"; then
    echo "   $test_src: does not build"
    layer_status=1
    return
  fi
  scratch=$(mktemp -d "${COWCOPY_MOUNT_ROOT:-/var/tmp/cowcopy-mounts}/btrfs/asan-XXXXXX")
  (cd "$logs" && "$bin" "$scratch" >"$bin.out" 2>&1) || rc=$?
  rm -rf "$scratch"
  if [ "$rc" -eq 0 ]; then echo "   $test_src: ok ($(tail -1 "$bin.out"))"; else
    echo "   $test_src: failed (exit $rc)"
    cat "$bin.out"
    layer_status=1
  fi
}

if [ "${1:-}" = --clone-layer ]; then
  export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:log_path=$logs/asan:strict_string_checks=1:detect_stack_use_after_return=1"
  export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$logs/ubsan"
  layer_tests
  for f in "$logs"/asan.* "$logs"/ubsan.*; do
    [ -e "$f" ] || continue
    echo "---- $f"
    cat "$f"
    layer_status=1
  done
  exit "$layer_status"
fi

if [ "${COWCOPY_ASAN_REUSE:-}" = 1 ] && [ -f "$out/src-native/build/Release/cowcopy.node" ] &&
  diff -rq --exclude=build src-native "$out/src-native" >/dev/null; then
  echo "== sanitize: reusing $out (COWCOPY_ASAN_REUSE=1, same sources)"
else
  echo "== sanitize: the addon with $san, in $out"
  rm -rf "$out"
  mkdir -p "$out"
  cp -r package.json src-native "$out/"
  rm -rf "$out/src-native/build"
  ln -s "$root/node_modules" "$out/node_modules"
  if ! (cd "$out/src-native" && CFLAGS="$san" CXXFLAGS="$san" LDFLAGS="-fsanitize=address,undefined" \
    "$root/node_modules/.bin/node-gyp" rebuild -j 2 >"$logs/build.log" 2>&1); then
    tail -40 "$logs/build.log"
    echo "sanitize: the sanitized build failed" >&2
    exit 1
  fi
  chmod -R a+rX "$out"
  echo "   built in $((SECONDS - started)) s"
fi

# node-gyp-build reads COWCOPY_PREBUILD (the package name + _PREBUILD) and
# loads $out/src-native/build/Release/cowcopy.node instead of the package's
# own build or prebuilds/ (lib/native.ts then skips src-native/build).
export COWCOPY_PREBUILD=$out/src-native
export LD_PRELOAD=$libasan
# Reports go to files (one per process), so that nothing is lost in tap's
# output and children (the race test's copier, tools the tests run) count too.
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0:log_path=$logs/asan:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$logs/ubsan"
# A leak is judged by its report file (below), not by the exit status: tools
# the tests run under the preload (gcc building a shim or the racer) must not
# fail because LeakSanitizer found their own allocations.
export LSAN_OPTIONS="exitcode=0"
# The race test, shortened: its copier loads the sanitized addon as well.
export COWCOPY_RACE_SCALE=${COWCOPY_RACE_SCALE:-0.2}

# The tests must really load the sanitized binary.
node -e '
  const { nativeLoadError } = require("./dist/index.js")
  if (nativeLoadError) { console.error("sanitize: addon not loaded:", nativeLoadError.message); process.exit(1) }
  const maps = require("fs").readFileSync("/proc/self/maps", "utf8")
  if (!maps.includes(process.argv[1] + "/build/Release/cowcopy.node") || !maps.includes("libasan")) {
    console.error("sanitize: the sanitized addon is not the one loaded"); process.exit(1)
  }' "$out/src-native"

# Findings in one report file (ASan/LSan/UBSan write "<log_path>.<pid>"):
# every ASan error and UBSan "runtime error" counts; a leak counts when the
# addon (src-native/, node-addon-api) allocated it, i.e. one of its frames
# comes before the first frame of Node or V8. A Node process that ends with
# process.exit() leaves V8's heap pages unfreed: LSan lists those too (frames
# all in /usr/bin/node), and so do tools the tests run (gcc): not ours.
findings() {
  awk '
    function flush() { if (inleak && ours) n++; inleak = 0; ours = 0; foreign = 0 }
    /ERROR: AddressSanitizer|runtime error:/ { flush(); n++; next }
    /^(Direct|Indirect) leak of/ { flush(); inleak = 1; next }
    inleak && /^ *#[0-9]+ / && !/^ *#0 / {
      if (/\/usr\/bin\/node\+|in v8::|in node::|in uv_|in napi_/) foreign = 1
      else if (!foreign && /src-native\/|test\/engine\/|napi-inl\.h|cowcopy\.node/) ours = 1
    }
    /^$/ && inleak { flush() }
    END { flush(); print n + 0 }' "$1"
}

reports() {
  for f in "$logs"/asan.* "$logs"/ubsan.*; do
    [ -e "$f" ] || continue
    if [ "$(findings "$f")" -gt 0 ]; then echo "$f"; fi
  done
}

if [ $# -gt 0 ]; then
  tests=("$@")
else
  tests=(test/copy-file/reflink-modes.test.mjs test/copy-dir/tree.test.mjs test/batch/copy-files.test.mjs
    test/range/ranges.test.mjs test/copy-file/sparse.test.mjs test/copy-file/special-files.test.mjs
    test/copy-file/atomic.test.mjs test/copy-file/preserve.test.mjs test/api/progress-abort.test.mjs
    test/security/race-copy-dir-source.test.mjs test/security/race-copy-dir-destination.test.mjs
    test/security/race-copy-file.test.mjs)
fi

echo "== sanitize: ${#tests[@]} test files under ASan + UBSan (libasan preloaded into node)"
status=0
tap_started=$SECONDS
npx --no-install tap --reporter=terse --timeout=600 "${tests[@]}" || status=$?
echo "   tests: exit $status in $((SECONDS - tap_started)) s"

echo "== sanitize: C++ engine tests (test/engine/*.cc) with $san"
unset LD_PRELOAD COWCOPY_PREBUILD
engine_status=0
cxx=(g++ -std=c++17 -Wall -Wextra -Werror -D_FILE_OFFSET_BITS=64 $san)
# The engine (no N-API) once, then each test linked against all of it.
mkdir -p "$logs/engine"
if ! ls src-native/engine/*.cc | xargs -P 2 -I{} sh -c \
  '"$@" -c -o "$0/$(basename {} .cc).o" {}' "$logs/engine" "${cxx[@]}"; then
  echo "   the engine does not build with the sanitizers"
  engine_status=1
fi
built=$((1 - engine_status))
for test_src in test/engine/*.cc; do
  [ -e "$test_src" ] && [ "$built" -eq 1 ] || continue
  [ "$test_src" = test/engine/clone_layer_test.cc ] && continue  # layer_tests, below
  bin="$logs/$(basename "$test_src" .cc)"
  if ! "${cxx[@]}" -o "$bin" "$test_src" "$logs"/engine/*.o -lpthread; then
    echo "   $test_src: does not build"
    engine_status=1
    continue
  fi
  # The engine tests take a scratch directory on a real filesystem.
  scratch=$(mktemp -d "${COWCOPY_MOUNT_ROOT:-/var/tmp/cowcopy-mounts}/btrfs/asan-XXXXXX")
  rc=0
  (cd "$logs" && "$bin" "$scratch" >"$bin.out" 2>&1) || rc=$?
  rm -rf "$scratch"
  if [ "$rc" -eq 0 ]; then echo "   $test_src: ok ($(tail -1 "$bin.out"))"; else
    echo "   $test_src: failed (exit $rc)"
    cat "$bin.out"
    engine_status=1
  fi
done

layer_tests

found=$(reports)
if [ -n "$found" ]; then
  echo "== sanitize: REPORTS"
  for f in $found; do
    echo "---- $f"
    cat "$f"
  done
fi
# Report files with no finding of ours (V8's pages after process.exit, gcc).
other=$(ls "$logs"/asan.* "$logs"/ubsan.* 2>/dev/null | grep -v -x -F -f <(printf '%s\n' $found) || true)
for f in $other; do
  echo "---- (no finding of ours: $(grep -c -E '^(Direct|Indirect) leak' "$f") leak record(s) in Node/V8 or a tool) $f"
done

echo "== sanitize: $((SECONDS - started)) s; tests exit $status, engine tests $engine_status, clone layer $layer_status, $(wc -w <<<"$found") report file(s)"
if [ "$status" -ne 0 ]; then
  echo "   (test failures under the sanitizers without a sanitizer report are timing or environment:"
  echo "    they fail this stage only with COWCOPY_SANITIZE_STRICT=1; the plain suite judges them)"
fi
if [ -n "$found" ] || [ "$engine_status" -ne 0 ] || [ "$layer_status" -ne 0 ]; then exit 1; fi
if [ "${COWCOPY_SANITIZE_STRICT:-}" = 1 ] && [ "$status" -ne 0 ]; then exit 1; fi
