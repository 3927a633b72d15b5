// decodeJpeg(bytes, into?): a JPEG file's bytes decoded by the system's libjpeg-turbo into 8-bit RGB, with its
// default (accurate integer) DCT and fancy upsampling, so the pixels equal sharp's and OpenCV's. Writes into
// `into` when it is large enough (a buffer the caller reuses: no fresh pages per image), else into a new
// buffer. Returns { width, height, data }, or null for what sharp must decode instead: colour spaces other than
// gray, RGB and YCbCr (CMYK, YCCK), embedded ICC profiles (sharp converts them to sRGB), and files that libjpeg
// only warns about (truncated data), which sharp judges by its own rules. Throws libjpeg's message for a file
// it cannot decode at all.
// jpeglib.h needs size_t and FILE declared before it.
#include <stddef.h>
#include <stdio.h>

#include <jpeglib.h>
#include <node_api.h>
#include <setjmp.h>
#include <string.h>

#include "functions.h"

struct failure {
  struct jpeg_error_mgr manager;
  jmp_buf escape;
  int warned;
  char message[JMSG_LENGTH_MAX];
};

static void on_error(j_common_ptr info) {
  struct failure *failure = (struct failure *)info->err;
  info->err->format_message(info, failure->message);
  longjmp(failure->escape, 1);
}

static void on_message(j_common_ptr info, int level) {
  if (level < 0) ((struct failure *)info->err)->warned = 1;
}

static int has_icc_profile(j_decompress_ptr info) {
  for (jpeg_saved_marker_ptr marker = info->marker_list; marker; marker = marker->next)
    if (marker->marker == JPEG_APP0 + 2 && marker->data_length >= 12 &&
        memcmp(marker->data, "ICC_PROFILE", 12) == 0)
      return 1;
  return 0;
}

// The output array: a view of `into` when it holds `size` bytes, else a new array.
static unsigned char *output_array(napi_env env, napi_value into, size_t size, napi_value *array) {
  napi_valuetype type = napi_undefined;
  if (into) napi_typeof(env, into, &type);
  if (type == napi_object) {
    void *data;
    size_t length, offset;
    napi_value buffer;
    napi_typedarray_type kind;
    if (napi_get_typedarray_info(env, into, &kind, &length, &data, &buffer, &offset) == napi_ok &&
        kind == napi_uint8_array && length >= size) {
      napi_create_typedarray(env, napi_uint8_array, size, buffer, offset, array);
      return data;
    }
  }
  void *data;
  napi_value buffer;
  if (napi_create_arraybuffer(env, size, &data, &buffer) != napi_ok) return NULL;
  napi_create_typedarray(env, napi_uint8_array, size, buffer, 0, array);
  return data;
}

napi_value decode_jpeg(napi_env env, napi_callback_info call) {
  size_t argc = 2;
  napi_value argv[2] = {NULL, NULL};
  napi_get_cb_info(env, call, &argc, argv, NULL, NULL);
  void *bytes;
  size_t length;
  napi_typedarray_type kind;
  if (argc < 1 || napi_get_typedarray_info(env, argv[0], &kind, &length, &bytes, NULL, NULL) != napi_ok ||
      kind != napi_uint8_array) {
    napi_throw_type_error(env, NULL, "decodeJpeg: bytes must be a Uint8Array");
    return NULL;
  }
  napi_value nothing;
  napi_get_null(env, &nothing);

  struct jpeg_decompress_struct info;
  struct failure failure;
  memset(&failure, 0, sizeof failure);
  info.err = jpeg_std_error(&failure.manager);
  failure.manager.error_exit = on_error;
  failure.manager.emit_message = on_message;
  if (setjmp(failure.escape)) {
    jpeg_destroy_decompress(&info);
    napi_throw_error(env, NULL, failure.message);
    return NULL;
  }
  jpeg_create_decompress(&info);
  jpeg_mem_src(&info, bytes, length);
  jpeg_save_markers(&info, JPEG_APP0 + 2, 0xFFFF);
  jpeg_read_header(&info, TRUE);
  J_COLOR_SPACE space = info.jpeg_color_space;
  if ((space != JCS_YCbCr && space != JCS_RGB && space != JCS_GRAYSCALE) || has_icc_profile(&info)) {
    jpeg_destroy_decompress(&info);
    return nothing;
  }
  info.out_color_space = JCS_RGB;
  jpeg_start_decompress(&info);
  const size_t stride = (size_t)info.output_width * 3;
  napi_value array;
  unsigned char *out = output_array(env, argc >= 2 ? argv[1] : NULL, stride * info.output_height, &array);
  if (!out) {
    jpeg_destroy_decompress(&info);
    napi_throw_error(env, NULL, "decodeJpeg: out of memory");
    return NULL;
  }
  JSAMPROW rows[16];
  while (info.output_scanline < info.output_height) {
    JDIMENSION count = 0;
    for (; count < 16 && info.output_scanline + count < info.output_height; count++)
      rows[count] = out + (info.output_scanline + count) * stride;
    jpeg_read_scanlines(&info, rows, count);
  }
  jpeg_finish_decompress(&info);
  const unsigned width = info.output_width, height = info.output_height;
  jpeg_destroy_decompress(&info);
  if (failure.warned) return nothing;

  napi_value result, value;
  napi_create_object(env, &result);
  napi_create_uint32(env, width, &value);
  napi_set_named_property(env, result, "width", value);
  napi_create_uint32(env, height, &value);
  napi_set_named_property(env, result, "height", value);
  napi_set_named_property(env, result, "data", array);
  return result;
}
