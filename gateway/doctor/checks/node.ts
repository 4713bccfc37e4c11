import type { Check } from '../types.js';

export const MIN_NODE_MAJOR = 20;

export const checkNode: Check = async (ctx) => {
  const major = Number(/^v?(\d+)\./.exec(ctx.nodeVersion)?.[1] ?? NaN);
  if (major >= MIN_NODE_MAJOR) return { name: 'node', status: 'ok', detail: `Node ${ctx.nodeVersion}` };
  return {
    name: 'node',
    status: 'fail',
    detail: `Node ${ctx.nodeVersion} is too old; the gateway needs ${MIN_NODE_MAJOR} or newer (Debian Bookworm's own nodejs is 18)`,
    fix: 'install Node 20 from NodeSource (curl -fsSL https://deb.nodesource.com/setup_20.x | sudo -E bash - && sudo apt-get install -y nodejs) or the official tarball; see docs/raspberry-pi.md',
  };
};
