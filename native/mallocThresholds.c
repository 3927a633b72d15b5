// setMallocThresholds(mmapThreshold, trimThreshold): glibc's M_MMAP_THRESHOLD and M_TRIM_THRESHOLD for this
// process, as GLIBC_TUNABLES would set them at start-up, but settable by the process itself. Image and tile
// buffers of a few MiB are then served from the heap and reused after they are freed, instead of being
// mapped afresh for every image (each new page costs a fault, about 12 us on the project's VMs). Returns
// false where the C library is not glibc.
#include "functions.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

napi_value set_malloc_thresholds(napi_env env, napi_callback_info call) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, call, &argc, argv, NULL, NULL);
  int64_t mmap_threshold = 0, trim_threshold = 0;
  if (argc < 2 || napi_get_value_int64(env, argv[0], &mmap_threshold) != napi_ok ||
      napi_get_value_int64(env, argv[1], &trim_threshold) != napi_ok || mmap_threshold <= 0 ||
      trim_threshold <= 0 || mmap_threshold > (1 << 30) || trim_threshold > (1 << 30)) {
    napi_throw_range_error(env, NULL, "setMallocThresholds: two byte counts from 1 to 2^30");
    return NULL;
  }
  bool applied = false;
#ifdef __GLIBC__
  applied = mallopt(M_MMAP_THRESHOLD, (int)mmap_threshold) == 1 &&
            mallopt(M_TRIM_THRESHOLD, (int)trim_threshold) == 1;
#endif
  napi_value result;
  napi_get_boolean(env, applied, &result);
  return result;
}
