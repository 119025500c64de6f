/** Parses `tgtadm --op show --mode target` output. Pure. */

export interface ShownTarget {
  tid: number;
  iqn: string;
  luns: { lun: number; backingPath: string; backingType: string; serial: string }[];
  accounts: string[];
  acl: string[];
  sessions: number;
}

export function parseShowTargets(text: string): ShownTarget[] {
  const out: ShownTarget[] = [];
  let cur: ShownTarget | undefined;
  let section = '';
  let lun: ShownTarget['luns'][number] | undefined;
  for (const raw of text.split('\n')) {
    const t = /^Target (\d+): (\S+)$/.exec(raw);
    if (t) {
      cur = { tid: Number(t[1]), iqn: t[2] as string, luns: [], accounts: [], acl: [], sessions: 0 };
      out.push(cur);
      section = '';
      continue;
    }
    if (!cur) continue;
    const line = raw.trim();
    if (/^(System|I_T nexus|LUN|Account|ACL) information:$/.test(line)) {
      section = line.split(' ')[0] as string;
      continue;
    }
    if (section === 'I_T' && /^I_T nexus: \d+$/.test(line)) cur.sessions++;
    if (section === 'LUN') {
      const l = /^LUN: (\d+)$/.exec(line);
      if (l) {
        lun = { lun: Number(l[1]), backingPath: '', backingType: '', serial: '' };
        cur.luns.push(lun);
      }
      const bt = /^Backing store type: (.*)$/.exec(line);
      if (bt && lun) lun.backingType = bt[1] ?? '';
      const sn = /^SCSI SN: (.*)$/.exec(line);
      if (sn && lun) lun.serial = sn[1] ?? '';
      const bp = /^Backing store path: (.*)$/.exec(line);
      if (bp && lun) lun.backingPath = bp[1] ?? '';
    }
    if (section === 'Account' && line !== '') cur.accounts.push(line.replace(/ \(outgoing\)$/, ''));
    if (section === 'ACL' && line !== '') cur.acl.push(line);
  }
  return out;
}

/** Parses `tgtadm --op show --mode portal` output: the portals' "IP:port". Pure. */
export function parseShowPortals(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^Portal: (\S+?),\d+$/.exec(line.trim());
    if (m) out.push(m[1] as string);
  }
  return out;
}
