{
  "targets": [
    {
      "target_name": "segstream_native",
      "sources": ["binding.c", "copyTurnedTile.c", "decodeJpeg.c", "mallocThresholds.c"],
      "libraries": ["-ljpeg"],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "ldflags": ["-Wl,-rpath,'$$ORIGIN'"]
    }
  ]
}
