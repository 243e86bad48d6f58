# The addon's build, kept out of the package root on purpose: npm adds
# `node-gyp rebuild` as an install script and pnpm 11 counts a build for any
# package with a root binding.gyp. Build from source with `npm run build:native`
# (node-gyp runs here: the output goes to src-native/build/Release).
{
  "targets": [
    {
      "target_name": "cowcopy",
      "include_dirs": ["<!(node addon-api-dir.js)"],
      "defines": [
        "NAPI_VERSION=8",
        "_FILE_OFFSET_BITS=64",
        "COWCOPY_SOURCE_HASH=<!(node source-hash.js)"
      ],
      "conditions": [
        # macOS: the portable engine does the work; the addon is the small
        # per-OS clone layer it calls (fclonefileat, clonefileat), in C++
        # that needs no C++ runtime: no exceptions, no RTTI, the plain C
        # Node-API, and no libc++ linked (src-native/cross-build.js builds
        # the prebuilds the same way).
        ['OS=="mac"', {
          "sources": [
            "clone-layer/layer.cc",
            "clone-layer/os_clone_darwin.cc",
            "clone-layer/layer_binding.cc"
          ],
          "xcode_settings": {
            "GCC_ENABLE_CPP_EXCEPTIONS": "NO",
            "GCC_ENABLE_CPP_RTTI": "NO",
            "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
            "MACOSX_DEPLOYMENT_TARGET": "11.0",
            "OTHER_CPLUSPLUSFLAGS": ["-Wall", "-Wextra", "-Werror", "-fno-exceptions", "-fno-rtti", "-nostdinc++"],
            "OTHER_LDFLAGS": ["-nostdlib++"]
          }
        }],
        # Linux: the whole native engine.
        ['OS=="linux"', {
          "defines": ["NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_CPP_EXCEPTIONS_ALL"],
          "sources": [
            "binding.cc",
            "binding_util.cc",
            "async_job.cc",
            "batch_binding.cc",
            "batch_result.cc",
            "js_filter.cc",
            "range_binding.cc",
            "engine/exceptions.cc",
            "engine/copy_file.cc",
            "engine/open_path.cc",
            "engine/copy_data.cc",
            "engine/method_chain.cc",
            "engine/sparse.cc",
            "engine/preserve.cc",
            "engine/atomic_dest.cc",
            "engine/batch.cc",
            "engine/copy_dir.cc",
            "engine/copy_dir_walk.cc",
            "engine/copy_dir_follow.cc",
            "engine/symlink_copy.cc",
            "engine/walker.cc",
            "engine/walker_path.cc",
            "engine/dir_listing.cc",
            "engine/threads.cc",
            "engine/range_clone_copy.cc",
            "engine/range_dedupe.cc",
            "engine/range_files.cc",
            "engine/probe.cc",
            "engine/ladder.cc",
            "engine/import_files.cc",
            "engine/import_walk.cc",
            "engine/import_root.cc",
            "engine/manifest.cc",
            "engine/descriptor_budget.cc",
            "engine/dest_root.cc"
          ],
          "cflags!": ["-fno-exceptions", "-O3"],
          "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20", "-O3"],
          "cflags_cc": [
            "-std=c++17", "-O2", "-fexceptions", "-Wall", "-Wextra", "-Werror",
            "-include", "<(module_root_dir)/musl_compat.h",
            "-include", "<(module_root_dir)/glibc_compat.h"
          ]
        }]
      ]
    }
  ]
}
