export { FuelMeter, FUEL_SLICE } from './fuel-meter.js';
export { chargeHostCalls, HOST_CALL_BASE_FUEL, HOST_CALL_BYTE_FUEL } from './host-charge.js';
