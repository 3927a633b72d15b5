// The functions of segstream's native binding, one per file, exported by binding.c.
#include <node_api.h>

napi_value copy_turned_tile(napi_env env, napi_callback_info call);
napi_value decode_jpeg(napi_env env, napi_callback_info call);
napi_value set_malloc_thresholds(napi_env env, napi_callback_info call);
