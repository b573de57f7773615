// The registry of pages. A page is a pattern over the hash path and a component; adding one
// (a sweep page, say) is one `registerView` call in its own module, imported by main.tsx.
import type { ComponentType } from "preact";

export interface ViewProps {
  /** The pattern's captures, decoded: `/runs/:id` → `{ id }`. */
  args: Record<string, string>;
  params: URLSearchParams;
}

export interface View {
  name: string;
  /** `/experiments/:id`; segments starting with ':' capture. */
  pattern: string;
  component: ComponentType<ViewProps>;
  /** Shown in the top bar when set, linking to `navPath` (default: the pattern). */
  navLabel?: string;
  navPath?: string;
}

const views: View[] = [];

export function registerView(view: View): void {
  views.push(view);
}

export function allViews(): readonly View[] {
  return views;
}

export function matchView(path: string): { view: View; args: Record<string, string> } | null {
  const parts = path.split("/").filter(Boolean);
  for (const view of views) {
    const pattern = view.pattern.split("/").filter(Boolean);
    if (pattern.length !== parts.length) continue;
    const args: Record<string, string> = {};
    let ok = true;
    pattern.forEach((segment, i) => {
      const part = parts[i] as string;
      if (segment.startsWith(":")) args[segment.slice(1)] = decodeURIComponent(part);
      else if (segment !== part) ok = false;
    });
    if (ok) return { view, args };
  }
  return null;
}
