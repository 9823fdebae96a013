// A certificate's subject fields (CN, OU) read with node's own X509Certificate, so signing, verifying and a Pi's
// start-up need no ASN.1 library (@peculiar/x509 and its schemas cost a Pi ~15 MiB; it is loaded only where
// certificates are made and revocation lists are read: ca.ts, revocation-list.ts).
//
// node prints the subject as OpenSSL's multi-line form (X509_NAME_print_ex, RFC 2253 escaping plus control
// characters): one RDN per line, the attributes of a multi-valued RDN joined by " + ", special characters
// (`,+"\<>;=`, a leading `#` or space) escaped with a backslash and control characters as `\XX`. A value can thus
// never contain an unescaped newline or " + ", and a crafted CN cannot pose as an OU.
import type { X509Certificate } from "node:crypto";

/** The subject's attributes in order, each [short name, value] with the escapes undone. */
export function subjectAttributes(subject: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const line of subject.split("\n")) {
    let i = 0;
    while (i < line.length) {
      const eq = line.indexOf("=", i);
      if (eq < 0) break;
      const name = line.slice(i, eq);
      let value = "";
      let j = eq + 1;
      for (; j < line.length; j++) {
        const c = line[j]!;
        if (c === "\\" && j + 1 < line.length) {
          const hex = line.slice(j + 1, j + 3);
          if (/^[0-9A-Fa-f]{2}$/.test(hex)) {
            value += String.fromCharCode(parseInt(hex, 16));
            j += 2;
          } else {
            value += line[j + 1];
            j += 1;
          }
        } else if (c === " " && line.startsWith(" + ", j)) {
          break;
        } else {
          value += c;
        }
      }
      out.push([name, value]);
      i = j + 3; // past " + " (or beyond the end)
    }
  }
  return out;
}

/** The first value of attribute `name` (e.g. "CN", "OU") in the certificate's subject, or null. */
export function subjectField(cert: Pick<X509Certificate, "subject">, name: string): string | null {
  for (const [n, v] of subjectAttributes(cert.subject)) if (n === name) return v;
  return null;
}
