// Hash routing: `#/path?query`. The whole state of a page lives in its URL, so a link or a
// reload shows the same thing.
import { useEffect, useState } from "preact/hooks";

export interface Location {
  path: string;
  params: URLSearchParams;
}

export function currentLocation(): Location {
  const hash = window.location.hash.replace(/^#/, "") || "/";
  const [path, query = ""] = hash.split("?", 2) as [string, string?];
  return { path: path || "/", params: new URLSearchParams(query) };
}

export function href(path: string, params?: Record<string, string | null | undefined> | URLSearchParams): string {
  const search = params instanceof URLSearchParams ? params : new URLSearchParams();
  if (params && !(params instanceof URLSearchParams)) {
    for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== "") search.set(k, v);
  }
  const query = search.toString();
  return `#${path}${query ? `?${query}` : ""}`;
}

export function navigate(path: string, params?: Record<string, string | null | undefined> | URLSearchParams, replace = false): void {
  const target = href(path, params);
  if (target === window.location.hash) return;
  if (replace) window.history.replaceState(null, "", target);
  else window.history.pushState(null, "", target);
  window.dispatchEvent(new Event("hashchange"));
}

/** Change some query parameters of the current page (replacing the history entry). */
export function updateParams(changes: Record<string, string | null | undefined>, replace = true): void {
  const { path, params } = currentLocation();
  for (const [k, v] of Object.entries(changes)) {
    if (v === null || v === undefined || v === "") params.delete(k);
    else params.set(k, v);
  }
  navigate(path, params, replace);
}

export function useLocation(): Location {
  const [location, setLocation] = useState(currentLocation);
  useEffect(() => {
    const update = () => setLocation(currentLocation());
    window.addEventListener("hashchange", update);
    window.addEventListener("popstate", update);
    return () => {
      window.removeEventListener("hashchange", update);
      window.removeEventListener("popstate", update);
    };
  }, []);
  return location;
}
