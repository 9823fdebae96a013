// Where a camera Pi uploads, and as whom: the runtime's own device listener (hub, all-in-one), else
// PIFOG_HUB_DEVICE_URL, else the bundle's hub.json (written at pairing), else https://<the hub's host>:8443; the
// device's certificate from its bundle, or (paired with a password) its login. Only the bundle's CA is trusted.
import fs from "node:fs";
import { loginFile } from "../identity/pair-client";
import { bundlePaths, deviceBundleDir, type HubFile } from "../identity/paths";
import { identityOf, type PifogServices } from "../services";
import type { UploadTarget } from "./uploader";

export const DEFAULT_DEVICE_HTTPS_PORT = 8443;

function hostOf(url: string | undefined): string | null {
  if (!url) return null;
  try {
    return new URL(url).hostname || null;
  } catch {
    return null;
  }
}

/** The hub's device URL for a device of this runtime (null: none known). */
export function hubDeviceUrl(services: Pick<PifogServices, "config" | "deviceHttps">, hub: HubFile | null): string | null {
  if (services.deviceHttps) return services.deviceHttps.url;
  const { config } = services;
  if (config.hubDeviceUrl) return config.hubDeviceUrl;
  if (hub?.deviceUrl) return hub.deviceUrl;
  const host = hostOf(config.hubUrl) ?? hostOf(hub?.url);
  return host ? `https://${host}:${DEFAULT_DEVICE_HTTPS_PORT}` : null;
}

/** What `device` of this runtime uploads with, or null when it has no identity (yet). */
export function uploadTargetOf(services: Pick<PifogServices, "config" | "deviceHttps" | "broker">, device: string): UploadTarget | null {
  const bundle = identityOf(services, device);
  if (bundle) {
    const url = hubDeviceUrl(services, bundle);
    return url ? { url, ca: bundle.ca, cert: bundle.cert, key: bundle.key } : null;
  }
  // a Pi paired with a password: hub.json, ca.pem and login.json in its bundle dir
  const { config } = services;
  const dir = device === config.deviceId && config.identityDir ? config.identityDir : deviceBundleDir(config.dataDir, device);
  const p = bundlePaths(dir);
  try {
    const hub = JSON.parse(fs.readFileSync(p.hub, "utf8")) as HubFile;
    const login = JSON.parse(fs.readFileSync(loginFile(dir), "utf8")) as { username: string; password: string };
    const url = hubDeviceUrl(services, hub);
    if (!url || typeof login.username !== "string" || typeof login.password !== "string") return null;
    return { url, ca: fs.readFileSync(p.ca, "utf8"), basic: { username: login.username, password: login.password } };
  } catch {
    return null;
  }
}
