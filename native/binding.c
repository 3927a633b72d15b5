// segstream's native binding (segstream_native.node): its functions, one per file, by their JavaScript names.
#include "functions.h"

NAPI_MODULE_INIT() {
  const napi_property_descriptor functions[] = {
      {"copyTurnedTile", NULL, copy_turned_tile, NULL, NULL, NULL, napi_enumerable, NULL},
      {"decodeJpeg", NULL, decode_jpeg, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setMallocThresholds", NULL, set_malloc_thresholds, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions);
  return exports;
}
