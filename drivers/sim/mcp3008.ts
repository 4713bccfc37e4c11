import type { SimSpiDevice } from '../bus/types.js';

/**
 * Microchip MCP3008, 8-channel 10-bit ADC, as its datasheet's 3-byte exchange (section 6.1):
 * byte 0 carries the start bit (bit 0), byte 1 the mode (bit 7: 1 single-ended, 0 differential)
 * and the channel (bits 6-4); the device answers with a null bit and the 10-bit result in the last
 * 10 bits of the 3 bytes (byte 1 bits 1-0: B9 B8, byte 2: B7-B0). Differential pairs (CH0-CH1, ...)
 * give IN+ minus IN-, 0 when negative.
 */
export class Mcp3008 implements SimSpiDevice {
  readonly channels: number[];
  constructor(channels: readonly number[]) {
    this.channels = Array.from({ length: 8 }, (_, i) => Math.max(0, Math.min(1023, Math.round(channels[i] ?? 0))));
  }

  transfer(data: Uint8Array): Uint8Array {
    const out = new Uint8Array(data.length);
    // The usual byte-aligned framing (start bit in bit 0 of byte 0); without a start bit the
    // device stays idle and its output is high impedance (read as zeros).
    if (data.length < 3 || (data[0]! & 0x01) === 0) return out;
    const single = (data[1]! & 0x80) !== 0;
    const ch = (data[1]! >> 4) & 0x07;
    const pair = ch & ~1;
    // Differential: D0 selects polarity, 0 → CH(2k)+ CH(2k+1)-, 1 → CH(2k+1)+ CH(2k)-.
    const value = single
      ? this.channels[ch]!
      : Math.max(0, (ch & 1) === 0 ? this.channels[pair]! - this.channels[pair + 1]! : this.channels[pair + 1]! - this.channels[pair]!);
    out[1] = (value >> 8) & 0x03;
    out[2] = value & 0xff;
    return out;
  }
}
