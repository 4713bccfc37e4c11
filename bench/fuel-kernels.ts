/**
 * Compute kernels written in WAT, used by bench/fuel.bench.ts to measure fuel-metering overhead and
 * by test/instrument to check that metering does not change results. Each kernel has a `prepare`
 * that fills its memory through the exports and a `run` that does one operation (one sample block).
 */

export interface Kernel {
  name: string;
  /** What one operation is, for the table. */
  op: string;
  wat: string;
  prepare(exports: Record<string, any>): void;
  /** One operation; returns something derived from the result so the work cannot be skipped. */
  run(exports: Record<string, any>): number;
}

const FIR_SAMPLES = 1024;
const FIR_TAPS = 32;

/** y[i] = sum_k x[i+k] * h[k], f32. x at 0, h at 65536, y at 131072. */
export const fir: Kernel = {
  name: 'FIR filter (f32)',
  op: `${FIR_SAMPLES} samples x ${FIR_TAPS} taps`,
  wat: `(module
  (memory (export "memory") 4)
  (func (export "fir") (param $n i32) (param $taps i32) (result f32)
    (local $i i32) (local $k i32) (local $acc f32) (local $xp i32) (local $sum f32)
    (loop $outer
      (local.set $acc (f32.const 0))
      (local.set $k (i32.const 0))
      (local.set $xp (i32.shl (local.get $i) (i32.const 2)))
      (loop $inner
        (local.set $acc (f32.add (local.get $acc)
          (f32.mul (f32.load (i32.add (local.get $xp) (i32.shl (local.get $k) (i32.const 2))))
                   (f32.load offset=65536 (i32.shl (local.get $k) (i32.const 2))))))
        (br_if $inner (i32.lt_u (local.tee $k (i32.add (local.get $k) (i32.const 1))) (local.get $taps))))
      (f32.store offset=131072 (i32.shl (local.get $i) (i32.const 2)) (local.get $acc))
      (local.set $sum (f32.add (local.get $sum) (local.get $acc)))
      (br_if $outer (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n))))
    (local.get $sum)))`,
  prepare(e) {
    const f = new Float32Array(e.memory.buffer);
    for (let i = 0; i < FIR_SAMPLES + FIR_TAPS; i++) f[i] = Math.sin(i * 0.05) + 0.25 * Math.sin(i * 1.3);
    for (let k = 0; k < FIR_TAPS; k++) f[65536 / 4 + k] = 1 / FIR_TAPS;
  },
  run: (e) => e.fir(FIR_SAMPLES, FIR_TAPS),
};

const CRC_BYTES = 4096;

/** Table-driven CRC-32 (IEEE). Table at 0 (built by `init`), data at 1024. */
export const crc32: Kernel = {
  name: 'CRC-32 (table)',
  op: `${CRC_BYTES} bytes`,
  wat: `(module
  (memory (export "memory") 1)
  (func (export "init") (local $n i32) (local $c i32) (local $k i32)
    (loop $entries
      (local.set $c (local.get $n))
      (local.set $k (i32.const 8))
      (loop $bits
        (local.set $c (if (result i32) (i32.and (local.get $c) (i32.const 1))
          (then (i32.xor (i32.const 0xEDB88320) (i32.shr_u (local.get $c) (i32.const 1))))
          (else (i32.shr_u (local.get $c) (i32.const 1)))))
        (br_if $bits (local.tee $k (i32.sub (local.get $k) (i32.const 1)))))
      (i32.store (i32.shl (local.get $n) (i32.const 2)) (local.get $c))
      (br_if $entries (i32.lt_u (local.tee $n (i32.add (local.get $n) (i32.const 1))) (i32.const 256)))))
  (func (export "crc") (param $len i32) (result i32) (local $c i32) (local $p i32) (local $end i32)
    (local.set $c (i32.const -1))
    (local.set $p (i32.const 1024))
    (local.set $end (i32.add (i32.const 1024) (local.get $len)))
    (loop $l
      (local.set $c (i32.xor
        (i32.load (i32.shl (i32.and (i32.xor (local.get $c) (i32.load8_u (local.get $p))) (i32.const 255)) (i32.const 2)))
        (i32.shr_u (local.get $c) (i32.const 8))))
      (br_if $l (i32.lt_u (local.tee $p (i32.add (local.get $p) (i32.const 1))) (local.get $end))))
    (i32.xor (local.get $c) (i32.const -1))))`,
  prepare(e) {
    e.init();
    const b = new Uint8Array(e.memory.buffer);
    for (let i = 0; i < CRC_BYTES; i++) b[1024 + i] = (i * 31 + 7) & 0xff;
  },
  run: (e) => e.crc(CRC_BYTES),
};

const FFT_N = 1024;

/**
 * Iterative radix-2 complex FFT, f64, in place. re at 0, im at 8192, cos table at 16384, -sin
 * table at 24576, the pristine input at 32768 (copied in with memory.copy before each transform).
 */
export const fft: Kernel = {
  name: 'FFT radix-2 (f64)',
  op: `${FFT_N}-point complex`,
  wat: `(module
  (memory (export "memory") 1)
  (func (export "fft") (param $n i32) (result f64)
    (local $i i32) (local $j i32) (local $k i32) (local $bit i32) (local $len i32) (local $half i32)
    (local $step i32) (local $tw i32) (local $a i32) (local $b i32)
    (local $tr f64) (local $ti f64) (local $ur f64) (local $ui f64) (local $wr f64) (local $wi f64) (local $tmp f64)
    (memory.copy (i32.const 0) (i32.const 32768) (i32.shl (local.get $n) (i32.const 4)))
    ;; bit-reversal permutation
    (loop $perm
      (if (i32.lt_u (local.get $i) (local.get $j))
        (then
          (local.set $a (i32.shl (local.get $i) (i32.const 3)))
          (local.set $b (i32.shl (local.get $j) (i32.const 3)))
          (local.set $tmp (f64.load (local.get $a)))
          (f64.store (local.get $a) (f64.load (local.get $b)))
          (f64.store (local.get $b) (local.get $tmp))
          (local.set $tmp (f64.load offset=8192 (local.get $a)))
          (f64.store offset=8192 (local.get $a) (f64.load offset=8192 (local.get $b)))
          (f64.store offset=8192 (local.get $b) (local.get $tmp))))
      (local.set $bit (i32.shr_u (local.get $n) (i32.const 1)))
      (block $done
        (loop $carry
          (br_if $done (i32.eqz (i32.and (local.get $j) (local.get $bit))))
          (local.set $j (i32.xor (local.get $j) (local.get $bit)))
          (local.set $bit (i32.shr_u (local.get $bit) (i32.const 1)))
          (br $carry)))
      (local.set $j (i32.xor (local.get $j) (local.get $bit)))
      (br_if $perm (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n))))
    ;; butterflies
    (local.set $len (i32.const 2))
    (loop $stage
      (local.set $half (i32.shr_u (local.get $len) (i32.const 1)))
      (local.set $step (i32.div_u (local.get $n) (local.get $len)))
      (local.set $i (i32.const 0))
      (loop $group
        (local.set $k (i32.const 0))
        (loop $bfly
          (local.set $tw (i32.shl (i32.mul (local.get $k) (local.get $step)) (i32.const 3)))
          (local.set $wr (f64.load offset=16384 (local.get $tw)))
          (local.set $wi (f64.load offset=24576 (local.get $tw)))
          (local.set $a (i32.shl (i32.add (local.get $i) (local.get $k)) (i32.const 3)))
          (local.set $b (i32.add (local.get $a) (i32.shl (local.get $half) (i32.const 3))))
          (local.set $tr (f64.sub (f64.mul (local.get $wr) (f64.load (local.get $b)))
                                  (f64.mul (local.get $wi) (f64.load offset=8192 (local.get $b)))))
          (local.set $ti (f64.add (f64.mul (local.get $wr) (f64.load offset=8192 (local.get $b)))
                                  (f64.mul (local.get $wi) (f64.load (local.get $b)))))
          (local.set $ur (f64.load (local.get $a)))
          (local.set $ui (f64.load offset=8192 (local.get $a)))
          (f64.store (local.get $a) (f64.add (local.get $ur) (local.get $tr)))
          (f64.store offset=8192 (local.get $a) (f64.add (local.get $ui) (local.get $ti)))
          (f64.store (local.get $b) (f64.sub (local.get $ur) (local.get $tr)))
          (f64.store offset=8192 (local.get $b) (f64.sub (local.get $ui) (local.get $ti)))
          (br_if $bfly (i32.lt_u (local.tee $k (i32.add (local.get $k) (i32.const 1))) (local.get $half))))
        (br_if $group (i32.lt_u (local.tee $i (i32.add (local.get $i) (local.get $len))) (local.get $n))))
      (br_if $stage (i32.le_u (local.tee $len (i32.shl (local.get $len) (i32.const 1))) (local.get $n))))
    ;; a checksum of the spectrum: sum of |X[k]|^2 over the first 8 bins
    (local.set $tmp (f64.const 0))
    (local.set $i (i32.const 0))
    (loop $sum
      (local.set $a (i32.shl (local.get $i) (i32.const 3)))
      (local.set $tmp (f64.add (local.get $tmp)
        (f64.add (f64.mul (f64.load (local.get $a)) (f64.load (local.get $a)))
                 (f64.mul (f64.load offset=8192 (local.get $a)) (f64.load offset=8192 (local.get $a))))))
      (br_if $sum (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 8))))
    (local.get $tmp)))`,
  prepare(e) {
    const f = new Float64Array(e.memory.buffer);
    for (let k = 0; k < FFT_N / 2; k++) {
      f[16384 / 8 + k] = Math.cos((2 * Math.PI * k) / FFT_N);
      f[24576 / 8 + k] = -Math.sin((2 * Math.PI * k) / FFT_N);
    }
    for (let i = 0; i < FFT_N; i++) {
      f[32768 / 8 + i] = Math.sin((2 * Math.PI * 3 * i) / FFT_N) + 0.5 * Math.cos((2 * Math.PI * 5 * i) / FFT_N);
      f[32768 / 8 + FFT_N + i] = 0;
    }
  },
  run: (e) => e.fft(FFT_N),
};

const SPIN = 100_000;

/** The worst case for per-loop metering: a loop whose body is a decrement and a branch. */
export const tightLoop: Kernel = {
  name: 'tight loop (worst case)',
  op: `${SPIN / 1000}k iterations`,
  wat: `(module
  (func (export "spin") (param $n i32) (result i32)
    (loop $l (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
    (local.get $n)))`,
  prepare() {},
  run: (e) => e.spin(SPIN),
};

export const kernels: Kernel[] = [fir, crc32, fft, tightLoop];
