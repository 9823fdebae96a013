// The sign-in and sign-out pages (issue 12): small, self-contained HTML (no script, no external resource, inline
// style only, which the pages' Content-Security-Policy allows and nothing else), every value escaped.

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

/** What the pages send besides their HTML: nothing loads from elsewhere, nothing frames them, nothing is cached. */
export const PAGE_HEADERS: Record<string, string> = {
  "Content-Type": "text/html; charset=utf-8",
  "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "X-Frame-Options": "DENY",
  "X-Content-Type-Options": "nosniff",
  "Cache-Control": "no-store",
  "Referrer-Policy": "same-origin",
};

const STYLE = `
body{font-family:system-ui,sans-serif;background:#f3f4f6;margin:0;display:flex;min-height:100vh;align-items:center;justify-content:center}
main{background:#fff;padding:2em;border-radius:8px;box-shadow:0 1px 4px #0003;width:min(22em,90vw)}
h1{font-size:1.4em;margin:0 0 1em}
label{display:block;margin:.8em 0 .3em}
input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:.5em;font-size:1em}
button,.oidc{margin-top:1.2em;width:100%;padding:.6em;font-size:1em;display:block;text-align:center;box-sizing:border-box}
.error{background:#fde8e8;color:#8b1a1a;border:1px solid #f5b5b5;padding:.6em;border-radius:4px}
.note{color:#444}
`;

function page(title: string, inner: string): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · PiFog</title><style>${STYLE}</style></head>
<body><main>${inner}</main></body></html>
`;
}

export interface SignInPageOptions {
  /** Where to go once signed in (already checked to be a path of this site). */
  next: string;
  username?: string;
  /** Shown above the form (a wrong password, a wait). */
  error?: string;
  /** An OpenID Connect provider is set up: a "Sign in with …" link to it. */
  oidc?: { label: string };
}

export function signInPage(o: SignInPageOptions): string {
  const error = o.error ? `<p class="error" role="alert" id="signin-error">${escapeHtml(o.error)}</p>` : "";
  const oidc = o.oidc
    ? `<p><a class="oidc" id="signin-oidc" href="/signin/oidc?next=${escapeHtml(encodeURIComponent(o.next))}">Sign in with ${escapeHtml(o.oidc.label)}</a></p><p class="note">or with your PiFog user name:</p>`
    : "";
  return page(
    "Sign in",
    `<h1>Sign in to PiFog</h1>${error}${oidc}
<form method="post" action="/signin">
<input type="hidden" name="next" value="${escapeHtml(o.next)}">
<label for="username">User name</label><input type="text" id="username" name="username" autocomplete="username" autocapitalize="none" required autofocus value="${escapeHtml(o.username ?? "")}">
<label for="password">Password</label><input type="password" id="password" name="password" autocomplete="current-password" required>
<button type="submit" id="signin-submit">Sign in</button>
</form>`,
  );
}

export function signOutPage(who: string | null): string {
  const text = who ? `You are signed in as <strong>${escapeHtml(who)}</strong>.` : "You are not signed in.";
  return page(
    "Sign out",
    `<h1>Sign out of PiFog</h1><p class="note">${text}</p>
<form method="post" action="/signout"><button type="submit" id="signout-submit">Sign out</button></form>`,
  );
}
