#!/usr/bin/env bash
# Sanitizers (issue 12): builds the addon with -fsanitize=address,undefined in
# its own directory (a copy of binding.gyp, package.json and src-native; build/
# is left alone), runs the native-heavy tests against it with libasan
# preloaded into Node, then builds and runs the C++ engine tests
# (test/engine/*.cc) with the same sanitizers and leak detection. Exits
# non-zero on any sanitizer report, on a failed test, or when the sanitized
# addon is not the one the tests load.
#
#   bash test/sanitize.sh                  # everything (CI: .ci/run)
#   bash test/sanitize.sh test/range.test.mjs   # only these test files
#
# Needs the test mounts (test/fixtures/mounts.sh) like the tests themselves.
# COWCOPY_ASAN_DIR: where the sanitized package copy goes (default build/asan).
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

echo "== sanitize: the addon with $san, in $out"
rm -rf "$out"
mkdir -p "$out"
cp -r binding.gyp package.json src-native "$out/"
ln -s "$root/node_modules" "$out/node_modules"
if ! (cd "$out" && CFLAGS="$san" CXXFLAGS="$san" LDFLAGS="-fsanitize=address,undefined" \
  npx --no-install node-gyp rebuild -j 2 >"$logs/build.log" 2>&1); then
  tail -40 "$logs/build.log"
  echo "sanitize: the sanitized build failed" >&2
  exit 1
fi
chmod -R a+rX "$out"
echo "   built in $((SECONDS - started)) s"

# node-gyp-build reads COWCOPY_PREBUILD (the package name + _PREBUILD) and
# loads $out/build/Release/cowcopy.node instead of ./build or prebuilds/.
export COWCOPY_PREBUILD=$out
export LD_PRELOAD=$libasan
# Reports go to files (one per process), so that nothing is lost in tap's
# output and children (the race test's copier, tools the tests run) count too.
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0:log_path=$logs/asan:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$logs/ubsan"
# The race test, shortened: its copier loads the sanitized addon as well.
export COWCOPY_RACE_SCALE=${COWCOPY_RACE_SCALE:-0.2}

# The tests must really load the sanitized binary.
node -e '
  const { nativeLoadError } = require("./dist/index.js")
  if (nativeLoadError) { console.error("sanitize: addon not loaded:", nativeLoadError.message); process.exit(1) }
  const maps = require("fs").readFileSync("/proc/self/maps", "utf8")
  if (!maps.includes(process.argv[1] + "/build/Release/cowcopy.node") || !maps.includes("libasan")) {
    console.error("sanitize: the sanitized addon is not the one loaded"); process.exit(1)
  }' "$out"

reports() {
  # ASan/LSan/UBSan write "<log_path>.<pid>"; an empty directory means no report.
  grep -l -E 'ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: (Address|Leak|Undefined)' \
    "$logs"/asan.* "$logs"/ubsan.* 2>/dev/null || true
}

if [ $# -gt 0 ]; then
  tests=("$@")
else
  tests=(test/copy-file.test.mjs test/copy-dir.test.mjs test/copy-files.test.mjs test/range.test.mjs
    test/sparse.test.mjs test/special-files.test.mjs test/atomic.test.mjs test/preserve.test.mjs
    test/progress-abort.test.mjs test/race.test.mjs)
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
for test_src in test/engine/*.cc; do
  [ -e "$test_src" ] && [ "$engine_status" -eq 0 ] || continue
  bin="$logs/$(basename "$test_src" .cc)"
  if ! "${cxx[@]}" -o "$bin" "$test_src" "$logs"/engine/*.o -lpthread; then
    echo "   $test_src: does not build"
    engine_status=1
    continue
  fi
  if (cd "$logs" && "$bin" >"$bin.out" 2>&1); then echo "   $test_src: ok ($(tail -1 "$bin.out"))"; else
    echo "   $test_src: failed (exit $?)"
    cat "$bin.out"
    engine_status=1
  fi
done

found=$(reports)
if [ -n "$found" ]; then
  echo "== sanitize: REPORTS"
  for f in $found; do
    echo "---- $f"
    cat "$f"
  done
fi
# Reports that are not sanitizer findings (e.g. a tool's startup warning).
other=$(ls "$logs"/asan.* "$logs"/ubsan.* 2>/dev/null | grep -v -x -F -f <(printf '%s\n' $found) || true)
for f in $other; do
  echo "---- (not a finding) $f"
  head -20 "$f"
done

echo "== sanitize: $((SECONDS - started)) s; tests exit $status, engine tests $engine_status, $(wc -w <<<"$found") report file(s)"
if [ -n "$found" ] || [ "$status" -ne 0 ] || [ "$engine_status" -ne 0 ]; then exit 1; fi
