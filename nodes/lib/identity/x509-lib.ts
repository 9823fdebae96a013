// @peculiar/x509, ready to use (its schemas need reflect-metadata, its crypto is node's webcrypto). Heavy: with its
// ASN.1 schemas it costs ~15 MiB of a process's memory, so the modules a Pi runs never import it at their top; they
// `require` it inside the functions that read a revocation list (revocation-list.ts). ca.ts, which makes
// certificates, imports the library itself.
import { webcrypto } from "node:crypto";
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto as Crypto);

export { x509 };

/** The library's type, for the modules that load it lazily. */
export type X509Lib = typeof x509;
