/** Log levels of the WIT `log-level` enum, in declaration order (the worker channel sends the index). */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
