/*
 * The one I2C ioctl i2c-bus does not offer: I2C_RDWR, a write and a read as one transaction with a
 * repeated start between them (what most sensors expect for "set the register pointer, read it").
 * Also I2C_FUNCS, so the caller can tell an adapter that speaks plain I2C from an SMBus-only one
 * (the kernel's i2c-stub) before trying. N-API (C), so it builds against any Node >= 20 unchanged.
 *
 *   funcs(fd) -> number                       the adapter's I2C_FUNC_* bits
 *   rdwr(fd, address, data, readLen) -> Buffer  write data (may be empty), then read readLen bytes
 *
 * Errors are thrown as Error objects with `code` ('ENXIO', ...) and `errno` set, as Node's fs does.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/i2c.h>
#include <linux/i2c-dev.h>
#include <node_api.h>

#define MAX_LEN 8192

static const char *errno_code(int err) {
  switch (err) {
    case ENXIO: return "ENXIO";
    case EREMOTEIO: return "EREMOTEIO";
    case ENODEV: return "ENODEV";
    case EIO: return "EIO";
    case EINVAL: return "EINVAL";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EAGAIN: return "EAGAIN";
    case EBADF: return "EBADF";
    case EBUSY: return "EBUSY";
    case ENOTTY: return "ENOTTY";
    case EPROTO: return "EPROTO";
    case ENOMEM: return "ENOMEM";
    default: return "EUNKNOWN";
  }
}

static napi_value throw_errno(napi_env env, int err, const char *what) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s, %s: %s", errno_code(err), what, strerror(err));
  napi_value code, text, error, num;
  napi_create_string_utf8(env, errno_code(err), NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text);
  napi_create_error(env, code, text, &error);
  napi_create_int32(env, err, &num);
  napi_set_named_property(env, error, "errno", num);
  napi_throw(env, error);
  return NULL;
}

static int arg_int(napi_env env, napi_value v, int32_t *out, const char *name) {
  if (napi_get_value_int32(env, v, out) != napi_ok) {
    char msg[64];
    snprintf(msg, sizeof msg, "%s must be an integer", name);
    napi_throw_type_error(env, NULL, msg);
    return 0;
  }
  return 1;
}

static napi_value funcs(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  if (argc < 1 || !arg_int(env, argv[0], &fd, "fd")) return NULL;
  unsigned long bits = 0;
  if (ioctl(fd, I2C_FUNCS, &bits) < 0) return throw_errno(env, errno, "ioctl I2C_FUNCS");
  napi_value out;
  napi_create_double(env, (double)(uint32_t)bits, &out);
  return out;
}

static napi_value rdwr(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd, addr, read_len;
  if (argc < 4) {
    napi_throw_type_error(env, NULL, "rdwr(fd, address, data, readLen)");
    return NULL;
  }
  if (!arg_int(env, argv[0], &fd, "fd") || !arg_int(env, argv[1], &addr, "address") || !arg_int(env, argv[3], &read_len, "readLen")) return NULL;
  bool is_ta = false;
  napi_is_typedarray(env, argv[2], &is_ta);
  if (!is_ta) {
    napi_throw_type_error(env, NULL, "data must be a Uint8Array");
    return NULL;
  }
  napi_typedarray_type type;
  size_t write_len = 0;
  void *write_data = NULL;
  napi_get_typedarray_info(env, argv[2], &type, &write_len, &write_data, NULL, NULL);
  if (type != napi_uint8_array && type != napi_uint8_clamped_array) {
    napi_throw_type_error(env, NULL, "data must be a Uint8Array");
    return NULL;
  }
  if (addr < 0 || addr > 0x7f || read_len < 0 || read_len > MAX_LEN || write_len > MAX_LEN) {
    napi_throw_range_error(env, NULL, "address 0-0x7f, data and readLen at most 8192 bytes");
    return NULL;
  }
  napi_value result;
  void *read_data = NULL;
  napi_create_buffer(env, (size_t)read_len, &read_data, &result);

  struct i2c_msg msgs[2];
  int n = 0;
  /* An empty write with no read is still one message: the address phase alone (a probe). */
  if (write_len > 0 || read_len == 0) {
    msgs[n].addr = (uint16_t)addr;
    msgs[n].flags = 0;
    msgs[n].len = (uint16_t)write_len;
    msgs[n].buf = (uint8_t *)write_data;
    n++;
  }
  if (read_len > 0) {
    msgs[n].addr = (uint16_t)addr;
    msgs[n].flags = I2C_M_RD;
    msgs[n].len = (uint16_t)read_len;
    msgs[n].buf = (uint8_t *)read_data;
    n++;
  }
  struct i2c_rdwr_ioctl_data xfer = { msgs, (uint32_t)n };
  if (ioctl(fd, I2C_RDWR, &xfer) < 0) return throw_errno(env, errno, "ioctl I2C_RDWR");
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "funcs", NULL, funcs, NULL, NULL, NULL, napi_enumerable, NULL },
    { "rdwr", NULL, rdwr, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  napi_define_properties(env, exports, 2, props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
