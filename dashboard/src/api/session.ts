// Who is logged in, and a fetch that carries it.
//
// The access token (15 minutes) lives in memory only; the refresh token in sessionStorage, so a
// reload of the tab stays logged in but closing it (or another tab) does not share the session.
// A request answered 401 triggers one refresh (shared by every request that failed meanwhile:
// refresh tokens are single use, and presenting a used one again revokes the whole session) and is
// retried once; when the refresh fails, the session ends and listeners are told.

export const REFRESH_KEY = "reos.refresh";
const LOGIN = "/api/v1/auth/login";
const REFRESH = "/api/v1/auth/refresh";
const LOGOUT = "/api/v1/auth/logout";

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  expires_in: number;
  tenant_id: string;
  role?: string | null;
}

export class ApiError extends Error {
  constructor(readonly status: number, readonly title: string, readonly detail: string | null,
    readonly code: string | null = null) {
    super(detail || title);
  }
}

// `code`: a refusal the client acts on (the login's email_not_verified offers a new link).
interface ProblemBody { title?: string; detail?: unknown; code?: unknown; errors?: { loc?: unknown[]; msg?: string }[] }

/** An RFC 9457 problem body (already parsed, or anything else) as an ApiError with a readable message. */
export function problemError(status: number, statusText: string, body: unknown): ApiError {
  const p = (body && typeof body === "object" ? body : {}) as ProblemBody;
  let detail = typeof p.detail === "string" ? p.detail : null;
  if (p.errors?.length) detail = p.errors.map((e) => `${(e.loc ?? []).slice(1).join(".")}: ${e.msg}`).join("; ");
  return new ApiError(status, p.title ?? (statusText || `HTTP ${status}`), detail,
    typeof p.code === "string" ? p.code : null);
}

export async function problem(response: Response): Promise<ApiError> {
  const body: unknown = await response.json().catch(() => null);
  return problemError(response.status, response.statusText, body);
}

type Fetch = (input: Request) => Promise<Response>;
type Listener = (loggedIn: boolean) => void;

export interface SessionOptions {
  fetch?: Fetch;
  storage?: Pick<Storage, "getItem" | "setItem" | "removeItem">;
  baseUrl?: string; // "" in the browser (same origin); absolute in tests
}

export class Session {
  private access: string | null = null;
  private refreshing: Promise<boolean> | null = null;
  private listeners = new Set<Listener>();
  private readonly base: Fetch;
  private readonly storage: Pick<Storage, "getItem" | "setItem" | "removeItem">;
  readonly baseUrl: string;

  constructor(options: SessionOptions = {}) {
    this.base = options.fetch ?? ((input) => fetch(input));
    this.storage = options.storage ?? sessionStorage;
    this.baseUrl = options.baseUrl ?? "";
  }

  /** Logged in, or able to become so without a password (a refresh token in this tab). */
  get active(): boolean {
    return this.access !== null || this.storage.getItem(REFRESH_KEY) !== null;
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private store(pair: TokenPair | null): void {
    const was = this.active;
    this.access = pair?.access_token ?? null;
    if (pair) this.storage.setItem(REFRESH_KEY, pair.refresh_token);
    else this.storage.removeItem(REFRESH_KEY);
    if (was !== this.active) this.listeners.forEach((l) => l(this.active));
  }

  private post(path: string, body: unknown): Promise<Response> {
    return this.base(new Request(this.baseUrl + path, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    }));
  }

  async login(email: string, password: string, tenantId?: string): Promise<TokenPair> {
    const response = await this.post(LOGIN, { email, password, tenant_id: tenantId || null });
    if (!response.ok) throw await problem(response);
    const pair = (await response.json()) as TokenPair;
    this.store(pair);
    return pair;
  }

  async logout(): Promise<void> {
    const token = this.storage.getItem(REFRESH_KEY);
    this.store(null);
    if (token) await this.post(LOGOUT, { refresh_token: token }).catch(() => undefined);
  }

  /** After a reload (a refresh token, no access token): start the refresh now, while the screen's
   * code is still loading, instead of when its first request needs it (issue #12's first load:
   * the refresh no longer waits for the lazy screen chunk; requests made meanwhile share it). */
  resume(): void {
    if (!this.access && this.storage.getItem(REFRESH_KEY)) void this.refresh();
  }

  /** One refresh at a time: concurrent callers share it. False (and logged out) when it fails. */
  refresh(): Promise<boolean> {
    if (!this.refreshing) {
      this.refreshing = this.doRefresh().finally(() => { this.refreshing = null; });
    }
    return this.refreshing;
  }

  private async doRefresh(): Promise<boolean> {
    const token = this.storage.getItem(REFRESH_KEY);
    if (!token) return false;
    let response: Response;
    try {
      response = await this.post(REFRESH, { refresh_token: token });
    } catch {
      return false; // network: keep the token, the next request tries again
    }
    if (!response.ok) {
      this.store(null);
      return false;
    }
    this.store((await response.json()) as TokenPair);
    return true;
  }

  private authorized(request: Request): Request {
    if (this.access) request.headers.set("Authorization", `Bearer ${this.access}`);
    return request;
  }

  /** fetch for the typed client: bearer token, one refresh and one retry on 401. */
  fetch = async (input: Request): Promise<Response> => {
    if (!this.access && this.storage.getItem(REFRESH_KEY)) await this.refresh(); // after a reload
    const retry = input.clone(); // a body can be read once: keep a copy for the retry
    const used = this.access;
    const response = await this.base(this.authorized(input));
    if (response.status !== 401 || !this.storage.getItem(REFRESH_KEY)) return response;
    // Another request may have refreshed while this one was in flight: its new token is enough.
    const ok = this.access !== null && this.access !== used ? true : await this.refresh();
    return ok ? this.base(this.authorized(retry)) : response;
  };

  /** The access token for a WebSocket's first message (which carries no header), refreshed when missing. */
  async accessToken(): Promise<string | null> {
    if (!this.access && this.storage.getItem(REFRESH_KEY)) await this.refresh();
    return this.access;
  }

  /** A GET through the session, for what the typed client does not stream (CSV downloads). */
  get(path: string): Promise<Response> {
    return this.fetch(new Request(this.baseUrl + path));
  }
}
