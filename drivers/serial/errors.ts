import { GatewayError } from '../../runtime/errors.js';

/** Turns an open failure into one line naming the port and the fix. */
export function openError(port: string, baud: number, err: unknown): GatewayError {
  const msg = err instanceof Error ? err.message : String(err);
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT' || /no such file|ENOENT|does not exist/i.test(msg)) {
    return new GatewayError('SERIAL_PORT_NOT_FOUND', `serial port ${port} does not exist; plug the device in or correct the port in the manifest`, { cause: err });
  }
  if (/baud/i.test(msg) || code === 'EINVAL') {
    return new GatewayError('SERIAL_BAUD_REFUSED', `serial port ${port} refused baud ${baud} (${msg}); use a rate the device supports, e.g. 9600 or 115200`, { cause: err });
  }
  if (code === 'EACCES' || /permission denied|EACCES/i.test(msg)) {
    return new GatewayError('SERIAL_PERMISSION', `no permission to open ${port}; add the gateway user to the dialout group`, { cause: err });
  }
  if (code === 'EBUSY' || /busy|lock/i.test(msg)) {
    return new GatewayError('SERIAL_PORT_BUSY', `serial port ${port} is in use by another process; stop it or pick another port`, { cause: err });
  }
  return new GatewayError('SERIAL_OPEN_FAILED', `cannot open serial port ${port} at ${baud} baud: ${msg}; check the device and cable`, { cause: err });
}

export function busyError(port: string): GatewayError {
  return new GatewayError('SERIAL_PORT_BUSY', `serial port ${port} is already open on this gateway; grant each port to one component only`);
}
