{
  "targets": [
    {
      "target_name": "cowcopy",
      "sources": [
        "src-native/binding.cc",
        "src-native/binding_util.cc",
        "src-native/batch_binding.cc",
        "src-native/range_binding.cc",
        "src-native/engine/copy_file.cc",
        "src-native/engine/open_path.cc",
        "src-native/engine/copy_data.cc",
        "src-native/engine/fallback.cc",
        "src-native/engine/sparse.cc",
        "src-native/engine/preserve.cc",
        "src-native/engine/atomic_dest.cc",
        "src-native/engine/batch.cc",
        "src-native/engine/tree.cc",
        "src-native/engine/threads.cc",
        "src-native/engine/range.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "NODE_ADDON_API_CPP_EXCEPTIONS_ALL",
        "_FILE_OFFSET_BITS=64",
        "COWCOPY_SOURCE_HASH=<!(node src-native/source-hash.js)"
      ],
      "cflags!": ["-fno-exceptions", "-O3"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20", "-O3"],
      "cflags_cc": [
        "-std=c++17", "-O2", "-fexceptions", "-Wall", "-Wextra", "-Werror",
        "-include", "<(module_root_dir)/src-native/glibc_compat.h"
      ]
    }
  ]
}
