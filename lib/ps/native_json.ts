// Reading the JSON text the native PS server produces (stats, restore and drain status). The
// server process reads it in timers, where a throw would kill the process: a parse failure is
// logged once per kind of text and the caller's fallback is used instead.

/** Returns a parser that never throws: bad text logs once per `what` and yields `fallback`. */
export function nativeJsonReader(log: (line: string) => void): <T>(what: string, text: string, fallback: T) => T {
  const logged = new Set<string>();
  return <T>(what: string, text: string, fallback: T): T => {
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      if (!logged.has(what)) {
        logged.add(what);
        log(`unreadable ${what} from the native server (${(err as Error).message}); continuing`);
      }
      return fallback;
    }
  };
}
