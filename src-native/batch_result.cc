#include "batch_result.h"

#include <vector>

#include "binding_util.h"
#include "engine/method.h"

namespace cowcopy_napi {
namespace {

// An array with one object per item, filled in by `fill`.
template <class T, class Fill>
Napi::Array rows(Napi::Env env, const std::vector<T>& items, Fill fill) {
  Napi::Array out = Napi::Array::New(env, items.size());
  for (uint32_t i = 0; i < items.size(); ++i) {
    Napi::Object row = Napi::Object::New(env);
    fill(row, items[i]);
    out.Set(i, row);
  }
  return out;
}

}  // namespace

Napi::Object batch_result(Napi::Env env, const cowcopy::BatchResult& r, bool list_files, bool paths_as_buffers,
                          bool existing) {
  const bool bufs = paths_as_buffers;
  using cowcopy::Method;
  using cowcopy::method_name;
  Napi::Object o = Napi::Object::New(env);
  o.Set("files", static_cast<double>(r.files));
  o.Set("bytes", static_cast<double>(r.bytes));
  o.Set("dirs", static_cast<double>(r.dirs));
  o.Set("symlinks", static_cast<double>(r.symlinks));
  o.Set("threads", r.threads);
  if (existing) o.Set("existing", static_cast<double>(r.existing));
  Napi::Object methods = Napi::Object::New(env);
  for (int i = 1; i < cowcopy::kMethodCount; ++i) {
    methods.Set(method_name(static_cast<Method>(i)), static_cast<double>(r.methods[i]));
  }
  methods.Set(method_name(Method::kNone), static_cast<double>(r.methods[0]));
  o.Set("methods", methods);
  o.Set("overlayLinks", static_cast<double>(r.overlay_links));
  o.Set("errors", rows(env, r.errors, [&](Napi::Object row, const auto& e) {
    row.Set("src", path_value(env, e.src, bufs));
    row.Set("dest", path_value(env, e.dest, bufs));
    // The error's own path/dest: strings where that loses nothing, as fs gives them.
    row.Set("error", make_error(env, e.err, e.reason, e.src, e.dest));
  }));
  o.Set("skipped", rows(env, r.skipped, [&](Napi::Object row, const auto& k) {
    row.Set("path", path_value(env, k.path, bufs));
    row.Set("type", k.type);
  }));
  if (list_files) {
    o.Set("copied", rows(env, r.copied, [&](Napi::Object row, const auto& c) {
      row.Set("src", path_value(env, c.src, bufs));
      row.Set("dest", path_value(env, c.dest, bufs));
      row.Set("method", method_name(c.method));
      row.Set("bytes", static_cast<double>(c.bytes));
    }));
  }
  return o;
}

}  // namespace cowcopy_napi
