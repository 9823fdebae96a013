// Node-RED's credential secret, kept in the data dir. (The editor's and the dashboard's passwords are the user
// store's now; an older install's admin.json and operator.json are read once by nodes/lib/identity/bootstrap.ts.)
// The secret is made once (mode 0600) and never changed behind the user's back: changing it would make
// every stored credential unreadable.
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";

export function credentialSecret(dataDir: string): string {
  const file = path.join(dataDir, "credential-secret");
  fs.mkdirSync(dataDir, { recursive: true });
  try {
    const secret = fs.readFileSync(file, "utf8").trim();
    if (secret) {
      if ((fs.statSync(file).mode & 0o077) !== 0) fs.chmodSync(file, 0o600);
      return secret;
    }
    fs.rmSync(file); // empty (e.g. cut short by a power loss): there is no secret to keep, so make one
  } catch {
    // not made yet
  }
  const secret = crypto.randomBytes(32).toString("hex");
  fs.writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: "wx" });
  return secret;
}
