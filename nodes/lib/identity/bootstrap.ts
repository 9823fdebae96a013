// The first people of an install (issue 12): one user store for the dashboard, the editor and the API, so a runtime
// must never start with nobody able to sign in, and an upgraded install keeps the passwords it had.
// - "admin" (role admin): PIFOG_ADMIN_PASSWORD sets its password (made, or changed when it differs); otherwise, when
//   the store has no admin at all, it is made from the old editor login's hash (<data dir>/admin.json), else with a
//   generated password, printed once (only the hash is kept).
// - "operator" (role operator): the same with PIFOG_OPERATOR_PASSWORD and the old dashboard operator's hash
//   (<data dir>/operator.json), when the store has no operator.
// A user of that name with another role keeps it (an admin changed it on purpose); a device of that name is left be.
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { checkPassword, hashPassword } from "../security/passwords";
import { withLock, writeFileAtomic } from "./files";
import { identityPaths } from "./paths";
import { readIdentities, serialiseIdentities } from "./records";
import type { UserRole } from "./types";

export interface BootstrapOptions {
  /** PIFOG_ADMIN_PASSWORD */
  adminPassword?: string;
  /** PIFOG_OPERATOR_PASSWORD */
  operatorPassword?: string;
  now?: Date;
}

/** What happened, for the log: `shown` lines carry a generated password and are printed once. */
export interface BootstrapReport {
  lines: string[];
}

interface Seat {
  name: string;
  role: UserRole;
  password?: string;
  /** The old single-account file whose hash an upgraded install keeps. */
  legacyFile: string;
  /** What the person signs in to, for the printed line. */
  purpose: string;
  envName: string;
}

const BCRYPT = /^\$2[abxy]\$\d{2}\$[./A-Za-z0-9]{53}$/;

function legacyHash(file: string): string | null {
  try {
    const stored = JSON.parse(fs.readFileSync(file, "utf8")) as { hash?: unknown };
    return typeof stored.hash === "string" && BCRYPT.test(stored.hash) ? stored.hash : null;
  } catch {
    return null; // none, or cut short by a power loss
  }
}

export async function bootstrapPeople(dataDir: string, options: BootstrapOptions = {}): Promise<BootstrapReport> {
  const seats: Seat[] = [
    {
      name: "admin",
      role: "admin",
      password: options.adminPassword,
      legacyFile: path.join(dataDir, "admin.json"),
      purpose: "the dashboard and the editor",
      envName: "PIFOG_ADMIN_PASSWORD",
    },
    {
      name: "operator",
      role: "operator",
      password: options.operatorPassword,
      legacyFile: path.join(dataDir, "operator.json"),
      purpose: "the dashboard (operator)",
      envName: "PIFOG_OPERATOR_PASSWORD",
    },
  ];
  const lines: string[] = [];
  // the hashes are made before the lock is taken (bcrypt takes a while); what is written is decided under it
  const paths = identityPaths(dataDir);
  for (const seat of seats) {
    const before = readIdentities(paths.identities);
    const existing = before.users.find((u) => u.name === seat.name);
    let hash: string | null = null;
    let generated: string | undefined;
    if (seat.password) {
      if (existing && (await checkPassword(seat.password, existing.passwordHash))) continue;
      hash = await hashPassword(seat.password);
    } else {
      if (existing || before.users.some((u) => u.role === seat.role)) continue;
      hash = legacyHash(seat.legacyFile);
      if (!hash) {
        generated = crypto.randomBytes(12).toString("base64url");
        hash = await hashPassword(generated);
      }
    }
    const made = await withLock(paths.lock, () => {
      const file = readIdentities(paths.identities);
      if (file.devices.some((d) => d.id === seat.name)) {
        lines.push(`PiFog: "${seat.name}" is a device's id, so no user "${seat.name}" is made; add an ${seat.role} with \`pifog user add\``);
        return false;
      }
      const user = file.users.find((u) => u.name === seat.name);
      if (user) {
        if (!seat.password) return false; // made meanwhile (another process): theirs stands
        user.passwordHash = hash!;
      } else {
        if (!seat.password && file.users.some((u) => u.role === seat.role)) return false;
        file.users.push({ name: seat.name, role: seat.role, createdAt: (options.now ?? new Date()).toISOString(), passwordHash: hash! });
      }
      writeFileAtomic(paths.identities, serialiseIdentities(file), 0o600);
      return true;
    });
    if (!made) continue;
    if (generated) {
      lines.push(
        `\nPiFog sign-in for ${seat.purpose} (shown once): user "${seat.name}", password "${generated}"\n` +
          `  (set ${seat.envName} to choose it, or \`pifog user passwd ${seat.name}\`; only its hash is kept)\n`,
      );
    } else if (!seat.password) {
      lines.push(`PiFog: user "${seat.name}" (${seat.role}) made from ${seat.legacyFile}: the password stays as it was`);
    }
  }
  return { lines };
}
