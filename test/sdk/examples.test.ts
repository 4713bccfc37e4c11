// The examples' own tests (examples/<name>/<name>.test.ts, written the way a component author
// would) run as part of this suite: vitest only collects test/**.
import '../../examples/thermostat/thermostat.test.js';
import '../../examples/pulse-counter/pulse-counter.test.js';
import '../../examples/vibration/vibration.test.js';
import '../../examples/weather-station/weather-station.test.js';
import '../../examples/soil-probe/soil-probe.test.js';
