{
  "targets": [
    {
      "target_name": "decode_jpeg",
      "sources": ["decodeJpeg.c"],
      "libraries": ["-ljpeg"],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "ldflags": ["-Wl,-rpath,'$$ORIGIN'"]
    }
  ]
}
