// The editor login guard: which requests it takes (every spelling of the token path Node-RED's router answers, so
// none slips past it into Node-RED's own lock) and which editor users it checks passwords against.
import assert from "node:assert/strict";
import { editorUsersOf, isTokenPath } from "../../nodes/lib/security/editor-login";

describe("editor login guard", () => {
  it("recognises the token path in every spelling Node-RED's router accepts", () => {
    for (const p of ["/auth/token", "/auth/token/", "//auth/token", "/Auth/Token", "/./auth/token", "/auth//token", "/x/../auth/token"]) assert.ok(isTokenPath(p), p);
    for (const p of ["/auth/revoke", "/auth/tokens", "/", "/auth/token/x", "/flows"]) assert.equal(isTokenPath(p), false, p);
  });

  it("reads the editor's users from adminAuth (a credentials list only)", () => {
    const admin = { username: "admin", password: "$2b$10$hash", permissions: "*" };
    assert.deepEqual(editorUsersOf({ adminAuth: { type: "credentials", users: [admin, { username: 1 }] } }), [admin]);
    assert.deepEqual(editorUsersOf({ adminAuth: { type: "credentials", users: admin } }), [admin]);
    // users only Node-RED can look up: the guard leaves those sign-ins to it
    assert.equal(editorUsersOf({ adminAuth: { type: "strategy", users: [admin] } }), null);
    assert.equal(editorUsersOf({ adminAuth: { type: "credentials", users: () => admin } }), null);
    assert.equal(editorUsersOf({}), null);
  });
});
