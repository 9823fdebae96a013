// A real OpenID Connect provider for the tests (the `oidc-provider` package) on a free loopback port: clients
// registered up front, accounts with e-mail and role claims, and its own minimal login page (a form Chromium fills
// in; consent is given with the login). What a test may turn: the ID token's lifetime (a negative one is what a
// provider whose clock runs behind sends), and a hook that re-signs the ID token with the provider's own key after
// changing its claims (a provider issuing a token for another audience).
import { createSign, generateKeyPairSync, randomBytes, type KeyObject } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import Provider from "oidc-provider";

export interface TestAccount {
  /** The login name typed on the provider's page; also the subject. */
  id: string;
  email?: string;
  email_verified?: boolean;
  name?: string;
  /** The role claim (`pifog_role`): a role, a list of roles and groups, or absent. */
  pifog_role?: string | string[];
}

export interface TestClient {
  client_id: string;
  client_secret: string;
  redirect_uris: string[];
}

export interface TestProvider {
  issuer: string;
  /** Seconds from issue to expiry of the next ID tokens (default one hour). */
  idTokenTtlSeconds: number;
  /** Changes the next ID tokens' claims; the token is signed again with the provider's key. */
  rewriteIdToken: ((claims: Record<string, unknown>) => Record<string, unknown>) | null;
  /** Shows the redirect back to the client as a link (`#back`) instead of sending the browser there, so a test
   * can take the callback URL and use it (or an altered copy) as it likes. */
  holdRedirectBack: boolean;
  /** How many ID tokens the token endpoint gave. */
  readonly tokensIssued: number;
  close(): Promise<void>;
}

const b64 = (data: string | Buffer) => Buffer.from(data).toString("base64url");

function resign(jwt: string, key: KeyObject, change: (claims: Record<string, unknown>) => Record<string, unknown>): string {
  const [header, payload] = jwt.split(".");
  const claims = change(JSON.parse(Buffer.from(payload!, "base64url").toString("utf8")) as Record<string, unknown>);
  const input = `${header}.${b64(JSON.stringify(claims))}`;
  const signature = createSign("RSA-SHA256").update(input).sign(key);
  return `${input}.${b64(signature)}`;
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function readForm(req: http.IncomingMessage): Promise<URLSearchParams> {
  return new Promise((resolve, reject) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (d: string) => (body += d));
    req.on("end", () => resolve(new URLSearchParams(body)));
    req.on("error", reject);
  });
}

/** The provider's stored sessions, grants and codes, in memory for this provider only (its own dev adapter says so
 * loudly on every start). */
function memoryAdapter() {
  const store = new Map<string, Record<string, unknown>>();
  return class MemoryAdapter {
    constructor(private readonly model: string) {}
    private key(id: string) {
      return `${this.model}:${id}`;
    }
    async upsert(id: string, payload: Record<string, unknown>) {
      store.set(this.key(id), payload);
    }
    async find(id: string) {
      return store.get(this.key(id));
    }
    async findByUid(uid: string) {
      return [...store.entries()].find(([k, v]) => k.startsWith(`${this.model}:`) && v.uid === uid)?.[1];
    }
    async findByUserCode(userCode: string) {
      return [...store.entries()].find(([k, v]) => k.startsWith(`${this.model}:`) && v.userCode === userCode)?.[1];
    }
    async consume(id: string) {
      const v = store.get(this.key(id));
      if (v) v.consumed = Math.floor(Date.now() / 1000);
    }
    async destroy(id: string) {
      store.delete(this.key(id));
    }
    async revokeByGrantId(grantId: string) {
      for (const [k, v] of store) if (v.grantId === grantId) store.delete(k);
    }
  };
}

/** `port`: a given loopback port (a test that starts the provider where a PiFog already expects it); default free. */
export async function startOidcProvider(o: { clients: TestClient[]; accounts: TestAccount[]; port?: number }): Promise<TestProvider> {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: "jwk" }), kid: "test-key", alg: "RS256", use: "sig" };
  const accounts = new Map(o.accounts.map((a) => [a.id, a]));
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(o.port ?? 0, "127.0.0.1", resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let tokensIssued = 0;
  const control: TestProvider = {
    issuer,
    idTokenTtlSeconds: 3600,
    rewriteIdToken: null,
    holdRedirectBack: false,
    get tokensIssued() {
      return tokensIssued;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };

  const provider = new Provider(issuer, {
    adapter: memoryAdapter(),
    clients: o.clients.map((c) => ({ ...c, grant_types: ["authorization_code"], response_types: ["code"], token_endpoint_auth_method: "client_secret_basic" })),
    jwks: { keys: [jwk] },
    cookies: { keys: [randomBytes(16).toString("hex")] },
    // the claims of the scopes PiFog asks for go in the ID token (as Google and most providers do)
    conformIdTokenClaims: false,
    claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name", "pifog_role"] },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    pkce: { required: () => true },
    ttl: { IdToken: () => control.idTokenTtlSeconds, AccessToken: 600, AuthorizationCode: 60, Interaction: 600, Session: 600, Grant: 600 },
    findAccount: (_ctx: unknown, id: string) => {
      const account = accounts.get(id);
      if (!account) return undefined;
      return {
        accountId: id,
        claims: () => {
          const { id: sub, ...claims } = account;
          return { sub, ...claims };
        },
      };
    },
  });
  provider.on("server_error", (_ctx, err) => console.error("test OIDC provider:", err));
  const redirectUris = o.clients.flatMap((c) => c.redirect_uris);
  provider.use(async (ctx, next) => {
    await next();
    const location = ctx.status >= 300 && ctx.status < 400 ? ctx.response.get("Location") : "";
    if (control.holdRedirectBack && location && redirectUris.some((u) => location.startsWith(`${u}?`))) {
      ctx.remove("Location");
      ctx.status = 200;
      ctx.type = "html";
      ctx.body = `<!doctype html><title>Back to the client</title><a id="back" href="${escapeHtml(location)}">back</a>`;
      return;
    }
    if (ctx.path !== "/token" || !ctx.body || typeof ctx.body !== "object") return;
    const body = ctx.body as { id_token?: string };
    if (!body.id_token) return;
    tokensIssued++;
    if (control.rewriteIdToken) body.id_token = resign(body.id_token, privateKey, control.rewriteIdToken);
  });

  const callback = provider.callback();
  server.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
    const m = /^\/interaction\/([\w-]+)(\/login)?$/.exec((req.url ?? "").split("?")[0]!);
    if (!m) return callback(req, res);
    void (async () => {
      try {
        const details = await provider.interactionDetails(req, res);
        if (req.method === "GET") {
          res.setHeader("content-type", "text/html; charset=utf-8");
          res.end(`<!doctype html><title>Test provider: sign in</title><h1>Test provider</h1>
<form method="post" action="/interaction/${escapeHtml(details.uid)}/login">
<label>Login <input name="login" autofocus></label> <button type="submit">Sign in</button></form>`);
          return;
        }
        const login = (await readForm(req)).get("login") ?? "";
        if (!accounts.has(login)) {
          res.statusCode = 400;
          res.end(`no such test account: ${login}`);
          return;
        }
        // consent with the login: the grant covers what PiFog asked for
        const grant = new provider.Grant({ accountId: login, clientId: details.params.client_id });
        grant.addOIDCScope(details.params.scope ?? "openid");
        const grantId = await grant.save();
        await provider.interactionFinished(req, res, { login: { accountId: login }, consent: { grantId } }, { mergeWithLastSubmission: false });
      } catch (err) {
        res.statusCode = 500;
        res.end(`test provider: ${(err as Error).message}`);
      }
    })();
  });
  return control;
}
