{
  "targets": [
    {
      "target_name": "airssys_i2c",
      "sources": ["i2c_rdwr.c"],
      "cflags": ["-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
