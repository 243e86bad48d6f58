// A BatchResult as the JavaScript object copyFiles, copyDir and importFiles
// resolve with (lib/native.ts NativeBatchResult).
#pragma once

#include <napi.h>

#include "engine/batch.h"

namespace cowcopy_napi {

// paths_as_buffers: paths as Buffers (the caller passed Buffers); existing:
// with importFiles' count of files already in place.
Napi::Object batch_result(Napi::Env env, const cowcopy::BatchResult& r, bool list_files, bool paths_as_buffers,
                          bool existing);

}  // namespace cowcopy_napi
