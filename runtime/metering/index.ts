export { FuelMeter, FUEL_SLICE } from './fuel-meter.js';
export { chargeHostCalls, hostCallBase, HOST_CALL_BASE_FUEL, HOST_CALL_BYTE_FUEL, HOST_CALL_SINK_FUEL } from './host-charge.js';
