#!/usr/bin/env bash
# Runs a node script against the sanitized addon (build/asan, built as test/sanitize.sh does).
export COWCOPY_PREBUILD=/work/wt/att-ahead/build/asan/src-native
export LD_PRELOAD=$(gcc -print-file-name=libasan.so)
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:log_path=/tmp/att-ahead-asanlogs/asan:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=/tmp/att-ahead-asanlogs/ubsan"
export LSAN_OPTIONS="exitcode=0"
exec "$@"
