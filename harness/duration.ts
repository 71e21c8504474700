// Go durations, as Istio reads them (SECRET_TTL) and as meshproof's flags take them.

/** A Go duration as Istio reads SECRET_TTL: `24h`, `10m`, `1h30m`, `90s`, `500ms`. */
export function parseGoDuration(s: string): number | undefined {
  const re = /(\d+(?:\.\d+)?)(h|ms|m|s)/gy;
  let ms = 0;
  let used = 0;
  const unit = { h: 3_600_000, m: 60_000, s: 1_000, ms: 1 } as const;
  for (let m = re.exec(s); m !== null; m = re.exec(s)) {
    ms += Number(m[1]) * unit[m[2] as keyof typeof unit];
    used = re.lastIndex;
  }
  return used === s.length && s.length > 0 ? ms : undefined;
}
