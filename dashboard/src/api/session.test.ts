import { describe, expect, it } from "vitest";
import { REFRESH_KEY, Session, problemError } from "./session";

class MemoryStorage {
  items = new Map<string, string>();
  getItem(k: string) { return this.items.get(k) ?? null; }
  setItem(k: string, v: string) { this.items.set(k, v); }
  removeItem(k: string) { this.items.delete(k); }
}

const BASE = "http://api.test";
const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
const pair = (n: number) => ({ access_token: `access-${n}`, refresh_token: `refresh-${n}`, expires_in: 900, tenant_id: "t", role: "analyst" });

/** A fake API: access tokens in `valid` pass; each refresh token works once. */
function fakeApi() {
  const calls: { url: string; auth: string | null; body: string | null }[] = [];
  const valid = new Set<string>(["access-1"]);
  const refreshable = new Set<string>(["refresh-1"]);
  let issued = 1;
  const fetch = async (request: Request) => {
    const body = request.method === "GET" ? null : await request.text();
    const url = request.url.slice(BASE.length);
    calls.push({ url, auth: request.headers.get("Authorization"), body });
    if (url === "/api/v1/auth/login") return json(200, pair(1));
    if (url === "/api/v1/auth/refresh") {
      const token = (JSON.parse(body!) as { refresh_token: string }).refresh_token;
      if (!refreshable.delete(token)) return json(401, { title: "Unauthorized", status: 401 });
      issued += 1;
      valid.add(`access-${issued}`);
      refreshable.add(`refresh-${issued}`);
      return json(200, pair(issued));
    }
    const token = request.headers.get("Authorization")?.replace("Bearer ", "") ?? "";
    return valid.has(token) ? json(200, { ok: true, body }) : json(401, { title: "Unauthorized", status: 401 });
  };
  return { fetch, calls, valid, refreshable };
}

describe("Session", () => {
  it("keeps the access token in memory and the refresh token in storage", async () => {
    const storage = new MemoryStorage();
    const api = fakeApi();
    const session = new Session({ fetch: api.fetch, storage, baseUrl: BASE });
    await session.login("a@example.com", "pw");
    expect(storage.getItem(REFRESH_KEY)).toBe("refresh-1");
    expect([...storage.items.values()]).not.toContain("access-1");
    const response = await session.fetch(new Request(`${BASE}/api/v1/me`));
    expect(response.status).toBe(200);
    expect(api.calls.at(-1)!.auth).toBe("Bearer access-1");
  });

  it("refreshes once on 401 and retries the request with its body", async () => {
    const api = fakeApi();
    const session = new Session({ fetch: api.fetch, storage: new MemoryStorage(), baseUrl: BASE });
    await session.login("a@example.com", "pw");
    api.valid.delete("access-1"); // expired
    const response = await session.fetch(new Request(`${BASE}/api/v1/notes`, { method: "POST", body: '{"body":"hi"}' }));
    expect(response.status).toBe(200);
    expect(((await response.json()) as { body: string }).body).toBe('{"body":"hi"}');
    expect(api.calls.map((c) => c.url)).toEqual(["/api/v1/auth/login", "/api/v1/notes", "/api/v1/auth/refresh", "/api/v1/notes"]);
    expect(api.calls.at(-1)!.auth).toBe("Bearer access-2");
  });

  it("shares one refresh between concurrent 401s (refresh tokens are single use)", async () => {
    const api = fakeApi();
    const session = new Session({ fetch: api.fetch, storage: new MemoryStorage(), baseUrl: BASE });
    await session.login("a@example.com", "pw");
    api.valid.delete("access-1");
    const answers = await Promise.all([1, 2, 3].map(() => session.fetch(new Request(`${BASE}/api/v1/me`))));
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(api.calls.filter((c) => c.url === "/api/v1/auth/refresh")).toHaveLength(1);
  });

  it("retries only once, and a failed refresh logs out", async () => {
    const api = fakeApi();
    const storage = new MemoryStorage();
    const session = new Session({ fetch: api.fetch, storage, baseUrl: BASE });
    const seen: boolean[] = [];
    session.subscribe((loggedIn) => seen.push(loggedIn));
    await session.login("a@example.com", "pw");
    api.valid.clear();
    api.refreshable.clear(); // the session was revoked
    const response = await session.fetch(new Request(`${BASE}/api/v1/me`));
    expect(response.status).toBe(401);
    expect(api.calls.filter((c) => c.url === "/api/v1/me")).toHaveLength(1);
    expect(storage.getItem(REFRESH_KEY)).toBeNull();
    expect(session.active).toBe(false);
    expect(seen).toEqual([true, false]);
  });

  it("after a reload (refresh token only) refreshes before the first request", async () => {
    const api = fakeApi();
    const storage = new MemoryStorage();
    storage.setItem(REFRESH_KEY, "refresh-1");
    const session = new Session({ fetch: api.fetch, storage, baseUrl: BASE });
    expect(session.active).toBe(true);
    const response = await session.fetch(new Request(`${BASE}/api/v1/me`));
    expect(response.status).toBe(200);
    expect(api.calls.map((c) => c.url)).toEqual(["/api/v1/auth/refresh", "/api/v1/me"]);
  });

  it("resume starts the refresh at once, and the first request shares it", async () => {
    const api = fakeApi();
    const storage = new MemoryStorage();
    storage.setItem(REFRESH_KEY, "refresh-1");
    let sent = 0;
    const counted = (request: Request) => { sent += 1; return api.fetch(request); };
    const session = new Session({ fetch: counted, storage, baseUrl: BASE });
    session.resume();
    expect(sent).toBe(1); // the refresh is on its way before any request
    const response = await session.fetch(new Request(`${BASE}/api/v1/me`));
    expect(response.status).toBe(200);
    expect(api.calls.map((c) => c.url)).toEqual(["/api/v1/auth/refresh", "/api/v1/me"]);
    session.resume(); // logged in: nothing to do
    expect(sent).toBe(2);
  });

  it("logout forgets the tokens and revokes the session", async () => {
    const api = fakeApi();
    const storage = new MemoryStorage();
    const session = new Session({ fetch: api.fetch, storage, baseUrl: BASE });
    await session.login("a@example.com", "pw");
    await session.logout();
    expect(session.active).toBe(false);
    expect(api.calls.at(-1)).toMatchObject({ url: "/api/v1/auth/logout", body: '{"refresh_token":"refresh-1"}' });
  });
});

describe("problemError", () => {
  it("keeps the code a client acts on (a login refused until the address is verified)", () => {
    const error = problemError(403, "Forbidden", {
      type: "https://reos.dev/problems/email-not-verified", title: "Forbidden", status: 403,
      detail: "the address a@example.com is not verified yet", code: "email_not_verified" });
    expect(error.code).toBe("email_not_verified");
    expect(error.message).toContain("not verified yet");
    expect(problemError(401, "Unauthorized", { title: "Unauthorized" }).code).toBeNull();
  });
});
