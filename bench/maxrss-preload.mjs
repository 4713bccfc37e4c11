// Loaded with `node --import` by bench/fleet.bench.ts: reports the process's peak RSS on stderr at exit.
process.on('exit', () => process.stderr.write(`\nmaxrss-kb ${process.resourceUsage().maxRSS}\n`));
