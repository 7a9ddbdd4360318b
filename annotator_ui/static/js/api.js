// REST client of the pages: bearer token from the same-origin session endpoint.
// The token is fetched once per page (GET /session/token, never cached) and kept in memory.

export const API = "/api/v1";

export class ApiError extends Error {
  constructor(status, detail, { network = false } = {}) {
    super(detail);
    this.status = status;
    this.detail = detail;
    this.network = network;
  }
  // Worth retrying: the request may not have reached the server, or it was overloaded.
  get transient() {
    return this.network || this.status >= 500 || this.status === 408 || this.status === 429;
  }
}

let tokenPromise = null;

function toSignIn() {
  const next = location.pathname + location.search;
  location.assign("/?next=" + encodeURIComponent(next));
}

export function getToken() {
  if (!tokenPromise) {
    tokenPromise = fetch("/session/token", { credentials: "same-origin", cache: "no-store" })
      .then(async (r) => {
        if (r.status === 401) {
          toSignIn();
          throw new ApiError(401, "signed out");
        }
        if (!r.ok) throw new ApiError(r.status, "could not read the session");
        return (await r.json()).token;
      })
      .catch((e) => {
        tokenPromise = null; // try again next time
        throw e instanceof ApiError ? e : new ApiError(0, String(e), { network: true });
      });
  }
  return tokenPromise;
}

// Send a request to the API. `body`: an object (sent as JSON) or FormData.
// Returns the parsed JSON (null for 204); with `raw: true`, the Response.
export async function api(path, { method = "GET", body, raw = false, signal } = {}) {
  const token = await getToken();
  const headers = { Authorization: `Bearer ${token}`, Accept: "application/json" };
  let payload;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(API + path, { method, headers, body: payload, signal, cache: "no-store" });
  } catch (e) {
    if (e && e.name === "AbortError") throw e;
    throw new ApiError(0, "network error", { network: true });
  }
  if (resp.status === 401) {
    toSignIn();
    throw new ApiError(401, "signed out");
  }
  if (!resp.ok) {
    let detail = `${resp.status} ${resp.statusText}`;
    try {
      const j = await resp.json();
      if (j && typeof j.detail === "string") detail = j.detail;
    } catch (_) {
      /* not JSON */
    }
    throw new ApiError(resp.status, detail);
  }
  if (raw) return resp;
  if (resp.status === 204) return null;
  return resp.json();
}

// For endpoints that may not exist yet (or have nothing to say): null on 404.
export async function apiOptional(path, options) {
  try {
    return await api(path, options);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return null;
    throw e;
  }
}

// Fetch an authenticated binary resource (e.g. the thumbnail sprite) as an object URL.
export async function blobUrl(url) {
  const sameOrigin = url.startsWith("/") && !url.startsWith("//");
  const headers = {};
  if (sameOrigin) headers.Authorization = `Bearer ${await getToken()}`;
  const resp = await fetch(url, { headers });
  if (!resp.ok) throw new ApiError(resp.status, `could not load ${url}`);
  return URL.createObjectURL(await resp.blob());
}

// Download an API response as a file (exports need the bearer header, so no plain link).
export async function download(path, filename) {
  const resp = await api(path, { raw: true });
  const url = URL.createObjectURL(await resp.blob());
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
