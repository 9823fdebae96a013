// The dashboard operator's password (the Front door tab's own sign-in, until it goes) and Node-RED's credential
// secret, both kept in the data dir. (The editor's password is user "admin"'s in the user store now; an older
// install's admin.json is read once by nodes/lib/identity/bootstrap.ts.)
// The secret is made once (mode 0600) and never changed behind the user's back: changing it would make
// every stored credential unreadable.
import { hashSync as bcryptHashSync, verifySync as bcryptVerifySync } from "@node-rs/bcrypt";
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

export interface OperatorAccount {
  username: string;
  hash: string;
  /** Set only when the password was generated now: to be printed once. */
  generatedPassword?: string;
}

/** The dashboard's operator (the Front door tab's sign-in): its own password, never the editor's, so a password
 * typed into the dashboard (a page any browser on the network can load) cannot unlock the editor.
 * PIFOG_OPERATOR_PASSWORD sets it; otherwise the stored hash, or a new password made once. Only the bcrypt hash
 * is kept, in `<data dir>/operator.json` (0600). */
export function operatorAccount(dataDir: string, password?: string): OperatorAccount {
  return passwordAccount(path.join(dataDir, "operator.json"), "operator", password);
}

function passwordAccount(file: string, username: string, password?: string): OperatorAccount {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const stored = (): { username: string; hash: string } | null => {
    try {
      const s = JSON.parse(fs.readFileSync(file, "utf8")) as { username?: unknown; hash?: unknown };
      return typeof s.username === "string" && typeof s.hash === "string" && s.username && s.hash ? { username: s.username, hash: s.hash } : null;
    } catch {
      return null; // none stored yet, or cut short by a power loss: make it again
    }
  };
  const store = (account: { username: string; hash: string }) => {
    fs.writeFileSync(file, JSON.stringify(account, null, 2), { mode: 0o600 });
    fs.chmodSync(file, 0o600); // `mode` applies only when the file is made
  };
  const current = stored();
  if (password) {
    if (current && current.username === username && safeVerify(password, current.hash)) return current;
    const account = { username, hash: bcryptHashSync(password, 10) };
    store(account);
    return account;
  }
  if (current) return current;
  const generatedPassword = crypto.randomBytes(12).toString("base64url");
  const account = { username, hash: bcryptHashSync(generatedPassword, 10) };
  store(account);
  return { ...account, generatedPassword };
}

function safeVerify(password: string, hash: string): boolean {
  try {
    return bcryptVerifySync(password, hash);
  } catch {
    return false; // not a bcrypt hash: set it again
  }
}
