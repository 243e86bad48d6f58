/*
 * A musl program that loads a cowcopy .node the way Node would, for a machine
 * with no musl Node: it implements the few Node-API calls the addon makes to
 * register itself and to run copyFileSync, over a tiny value model (strings,
 * numbers, objects with named properties, functions, one Float64Array). The
 * rest of Node-API is there only so the dynamic linker finds every symbol;
 * calling one aborts, naming it.
 *
 *   host ADDON SRC DEST FLAGS
 *
 * prints one JSON line: {"api":N,"sourceHash":"...","exports":N,
 * "reason":"..."|null,"out":[errno,method,bytes]}. Exit status 0 when the
 * call returned (whatever out[0] says), 1 when loading or calling failed.
 * Built by test/platforms/musl.test.mjs with -rdynamic (the addon resolves napi_*
 * against this executable, as against node).
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { V_UNDEFINED, V_STRING, V_NUMBER, V_OBJECT, V_FUNCTION, V_F64ARRAY } kind;
typedef struct value value;
typedef value* (*callback)(void* env, void* info);
typedef struct prop {
  const char* name;
  value* v;
  struct prop* next;
} prop;
struct value {
  kind k;
  double num;      /* V_NUMBER */
  char* str;       /* V_STRING (NUL-terminated copy) */
  prop* props;     /* V_OBJECT, V_FUNCTION */
  callback cb;     /* V_FUNCTION */
  void* data;      /* V_FUNCTION: the addon's data pointer */
  double* f64;     /* V_F64ARRAY */
  size_t len;      /* V_STRING, V_F64ARRAY */
};
/* The arguments of the one call in flight (napi_callback_info points here). */
typedef struct {
  value** argv;
  size_t argc;
  void* data;
} call_info;

/* napi_status, napi_valuetype and napi_typedarray_type values from node_api_types.h. */
enum { OK = 0, INVALID_ARG = 1, NUMBER_EXPECTED = 6, STRING_EXPECTED = 3, PENDING_EXCEPTION = 10 };
enum { T_UNDEFINED = 0, T_NUMBER = 3, T_STRING = 4, T_OBJECT = 6, T_FUNCTION = 7 };
enum { FLOAT64_ARRAY = 8 };

static int env_dummy;  /* napi_env: the addon only passes it back */
static value undefined = {.k = V_UNDEFINED};
static value* thrown;  /* a pending exception, if any */
static void* instance_data;

static value* new_value(kind k) {
  value* v = calloc(1, sizeof *v);
  if (!v) abort();
  v->k = k;
  return v;
}
static value* string(const char* s) {
  value* v = new_value(V_STRING);
  v->str = strdup(s);
  v->len = strlen(s);
  return v;
}
static value* get(value* o, const char* name) {
  for (prop* p = o->props; p; p = p->next)
    if (strcmp(p->name, name) == 0) return p->v;
  return &undefined;
}

/* ---- the calls registration and copyFileSync make ---- */

int napi_get_undefined(void* env, value** out) { (void)env; *out = &undefined; return OK; }
int napi_create_string_utf8(void* env, const char* s, size_t len, value** out) {
  (void)env;
  value* v = new_value(V_STRING);
  if (len == (size_t)-1) len = strlen(s); /* NAPI_AUTO_LENGTH */
  v->str = strndup(s, len);
  v->len = len;
  *out = v;
  return OK;
}
int napi_create_double(void* env, double d, value** out) { (void)env; *out = new_value(V_NUMBER); (*out)->num = d; return OK; }
int napi_create_object(void* env, value** out) { (void)env; *out = new_value(V_OBJECT); return OK; }
int napi_create_function(void* env, const char* name, size_t len, callback cb, void* data, value** out) {
  (void)env; (void)name; (void)len;
  value* v = new_value(V_FUNCTION);
  v->cb = cb;
  v->data = data;
  *out = v;
  return OK;
}
/* Finalizers never run: the process ends first. */
int napi_add_finalizer(void* env, value* obj, void* data, void* cb, void* hint, void* ref) {
  (void)env; (void)obj; (void)data; (void)cb; (void)hint; (void)ref;
  return OK;
}
int napi_set_named_property(void* env, value* obj, const char* name, value* v) {
  (void)env;
  if (obj->k != V_OBJECT && obj->k != V_FUNCTION) return INVALID_ARG;
  prop* p = malloc(sizeof *p);
  if (!p) abort();
  *p = (prop){strdup(name), v, obj->props};
  obj->props = p;
  return OK;
}
int napi_set_instance_data(void* env, void* data, void* fin, void* hint) {
  (void)env; (void)fin; (void)hint;
  instance_data = data;
  return OK;
}
int napi_get_instance_data(void* env, void** data) { (void)env; *data = instance_data; return OK; }
int napi_get_cb_info(void* env, call_info* info, size_t* argc, value** argv, value** this_arg, void** data) {
  (void)env;
  if (argv)
    for (size_t i = 0; i < *argc; i++) argv[i] = i < info->argc ? info->argv[i] : &undefined;
  if (argc) *argc = info->argc;
  if (this_arg) *this_arg = &undefined;
  if (data) *data = info->data;
  return OK;
}
int napi_typeof(void* env, value* v, int* out) {
  (void)env;
  static const int types[] = {T_UNDEFINED, T_STRING, T_NUMBER, T_OBJECT, T_FUNCTION, T_OBJECT};
  *out = types[v->k];
  return OK;
}
int napi_is_buffer(void* env, value* v, int* out) { (void)env; (void)v; *out = 0; return OK; }
int napi_is_typedarray(void* env, value* v, int* out) { (void)env; *out = v->k == V_F64ARRAY; return OK; }
int napi_get_typedarray_info(void* env, value* v, int* type, size_t* len, void** data, value** buf, size_t* off) {
  (void)env;
  if (v->k != V_F64ARRAY) return INVALID_ARG;
  if (type) *type = FLOAT64_ARRAY;
  if (len) *len = v->len;
  if (data) *data = v->f64;
  if (buf) *buf = &undefined;
  if (off) *off = 0;
  return OK;
}
int napi_get_value_string_utf8(void* env, value* v, char* buf, size_t size, size_t* out) {
  (void)env;
  if (v->k != V_STRING) return STRING_EXPECTED;
  if (!buf) {
    *out = v->len;
    return OK;
  }
  size_t n = size ? (v->len < size - 1 ? v->len : size - 1) : 0;
  memcpy(buf, v->str, n);
  if (size) buf[n] = 0;
  if (out) *out = n;
  return OK;
}
int napi_get_value_uint32(void* env, value* v, uint32_t* out) {
  (void)env;
  if (v->k != V_NUMBER) return NUMBER_EXPECTED;
  *out = (uint32_t)v->num;
  return OK;
}
int napi_get_value_double(void* env, value* v, double* out) {
  (void)env;
  if (v->k != V_NUMBER) return NUMBER_EXPECTED;
  *out = v->num;
  return OK;
}
/* A thrown TypeError or Error: kept as its message, reported by main. */
static int make_error(value* msg, value** out) {
  *out = new_value(V_OBJECT);
  napi_set_named_property(0, *out, "message", msg);
  return OK;
}
int napi_create_error(void* env, value* code, value* msg, value** out) { (void)env; (void)code; return make_error(msg, out); }
int napi_create_type_error(void* env, value* code, value* msg, value** out) { (void)env; (void)code; return make_error(msg, out); }
int napi_create_range_error(void* env, value* code, value* msg, value** out) { (void)env; (void)code; return make_error(msg, out); }
int napi_throw(void* env, value* error) { (void)env; thrown = error; return OK; }
int napi_is_exception_pending(void* env, int* out) { (void)env; *out = thrown != NULL; return OK; }
int napi_get_and_clear_last_exception(void* env, value** out) {
  (void)env;
  *out = thrown ? thrown : &undefined;
  thrown = NULL;
  return OK;
}
int napi_open_handle_scope(void* env, void** out) { (void)env; *out = &env_dummy; return OK; }
int napi_close_handle_scope(void* env, void* scope) { (void)env; (void)scope; return OK; }
void napi_fatal_error(const char* where, size_t wlen, const char* msg, size_t mlen) {
  fprintf(stderr, "napi_fatal_error: %.*s: %.*s\n", (int)wlen, where, (int)mlen, msg);
  abort();
}

/* ---- linked, never called on this path ---- */
#define UNUSED(name)                                                     \
  void name(void) {                                                      \
    fprintf(stderr, "host: %s is not implemented by this host\n", #name); \
    abort();                                                             \
  }
UNUSED(napi_call_function) UNUSED(napi_call_threadsafe_function) UNUSED(napi_close_escapable_handle_scope)
UNUSED(napi_coerce_to_bool) UNUSED(napi_create_array_with_length) UNUSED(napi_create_async_work)
UNUSED(napi_create_bigint_uint64) UNUSED(napi_create_buffer_copy) UNUSED(napi_create_promise)
UNUSED(napi_create_reference) UNUSED(napi_create_threadsafe_function) UNUSED(napi_define_properties)
UNUSED(napi_delete_async_work) UNUSED(napi_delete_reference) UNUSED(napi_escape_handle)
UNUSED(napi_get_array_length) UNUSED(napi_get_boolean) UNUSED(napi_get_element)
UNUSED(napi_get_last_error_info) UNUSED(napi_get_named_property) UNUSED(napi_get_property)
UNUSED(napi_get_reference_value) UNUSED(napi_get_value_bigint_uint64) UNUSED(napi_get_value_bool)
UNUSED(napi_get_value_int32) UNUSED(napi_get_value_int64) UNUSED(napi_has_property) UNUSED(napi_is_array)
UNUSED(napi_open_escapable_handle_scope) UNUSED(napi_queue_async_work) UNUSED(napi_reject_deferred)
UNUSED(napi_release_threadsafe_function) UNUSED(napi_resolve_deferred) UNUSED(napi_set_element)
UNUSED(napi_throw_error) UNUSED(napi_create_int32) UNUSED(napi_create_uint32) UNUSED(napi_create_int64)

static void print_string(const value* v) {
  putchar('"');
  for (size_t i = 0; i < v->len; i++) {
    unsigned char c = (unsigned char)v->str[i];
    if (c == '"' || c == '\\') printf("\\%c", c);
    else if (c < 0x20) printf("\\u%04x", c);
    else putchar(c);
  }
  putchar('"');
}

int main(int argc, char** argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: host ADDON SRC DEST FLAGS\n");
    return 2;
  }
  /* RTLD_NOW: every import must resolve here, as it must in a musl Node. */
  void* lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    fprintf(stderr, "dlopen: %s\n", dlerror());
    return 1;
  }
  value* (*reg)(void*, value*) = (value * (*)(void*, value*)) dlsym(lib, "napi_register_module_v1");
  int32_t (*api)(void) = (int32_t(*)(void))dlsym(lib, "node_api_module_get_api_version_v1");
  if (!reg) {
    fprintf(stderr, "no napi_register_module_v1: %s\n", dlerror());
    return 1;
  }
  value* exports = new_value(V_OBJECT);
  value* mod = reg(&env_dummy, exports);
  value* fn = mod ? get(mod, "copyFileSync") : &undefined;
  if (thrown || fn->k != V_FUNCTION) {
    fprintf(stderr, "registration failed%s\n", thrown ? " (threw)" : ": no copyFileSync");
    return 1;
  }
  int count = 0;
  for (prop* p = mod->props; p; p = p->next) count++;

  /* copyFileSync(src, dest, flags, out): out is a Float64Array(3). */
  value* out = new_value(V_F64ARRAY);
  double slots[3] = {-1, -1, -1};
  out->f64 = slots;
  out->len = 3;
  value* flags = new_value(V_NUMBER);
  flags->num = atof(argv[4]);
  value* args[] = {string(argv[2]), string(argv[3]), flags, out};
  call_info info = {args, 4, fn->data};
  value* ret = fn->cb(&env_dummy, &info);
  if (thrown) {
    value* msg = get(thrown, "message");
    fprintf(stderr, "copyFileSync threw: %s\n", msg->k == V_STRING ? msg->str : "?");
    return 1;
  }
  printf("{\"api\":%d,\"sourceHash\":", api ? (int)api() : -1);
  value* hash = get(mod, "sourceHash");
  if (hash->k == V_STRING) print_string(hash);
  else printf("null");
  printf(",\"exports\":%d,\"reason\":", count);
  if (ret && ret->k == V_STRING) print_string(ret);
  else printf("null");
  printf(",\"out\":[%.0f,%.0f,%.0f]}\n", slots[0], slots[1], slots[2]);
  return 0;
}
