// How outputs are told apart on screen (progress lines, logs): by their user, and where one user has several
// outputs (sessions, segments) by the session's first characters or a number; a composite by its channel.
export interface Labelled {
  id: string;
  uid: string | null;
  sid: string | null;
  cname: string;
}

export function outputLabels(outputs: Labelled[]): Map<string, string> {
  const byWho = new Map<string, Labelled[]>();
  for (const o of outputs) {
    const who = o.uid === null ? `composite ${o.cname}` : `uid ${o.uid}`;
    byWho.set(who, [...(byWho.get(who) ?? []), o]);
  }
  const labels = new Map<string, string>();
  for (const [who, mine] of byWho) {
    const sids = new Set(mine.map((o) => o.sid));
    mine.forEach((o, i) => {
      let extra = '';
      if (mine.length > 1) {
        const sameSid = mine.filter((x) => x.sid === o.sid);
        if (sids.size > 1) extra += ` @${(o.sid ?? 'joined').slice(0, 4)}`;
        if (sameSid.length > 1) extra += ` #${sameSid.indexOf(o) + 1}`;
        if (!extra) extra = ` #${i + 1}`;
      }
      labels.set(o.id, `${who}${extra}`);
    });
  }
  return labels;
}
