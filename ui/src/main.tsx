// The runbase web UI: a top bar and the page the hash path names (see views.ts).
import { render } from "preact";
import "./style.css";
import "./pages/Experiments";
import "./pages/Runs";
import "./pages/Run";
import "./pages/Compare";
import "./pages/Models";
import "./pages/Sweeps";
import { href, useLocation } from "./router";
import { allViews, matchView } from "./views";

function App() {
  const location = useLocation();
  const found = matchView(location.path);
  const nav = allViews().filter((v) => v.navLabel);
  return (
    <>
      <header class="topbar">
        <a class="brand" href={href("/")}>
          runbase
        </a>
        <nav>
          {nav.map((v) => {
            const path = v.navPath ?? v.pattern;
            const active = path === "/" ? location.path === "/" || location.path.startsWith("/experiments") || location.path.startsWith("/runs") : location.path.startsWith(path);
            return (
              <a key={v.name} href={href(path)} class={active ? "active" : ""}>
                {v.navLabel}
              </a>
            );
          })}
        </nav>
      </header>
      <main>
        {found ? (
          <found.view.component key={found.view.name + JSON.stringify(found.args)} args={found.args} params={location.params} />
        ) : (
          <div class="page">
            <h1>Not found</h1>
            <p>
              No page at <span class="mono">{location.path}</span>. <a href={href("/")}>Back to the experiments</a>.
            </p>
          </div>
        )}
      </main>
    </>
  );
}

render(<App />, document.getElementById("app") as HTMLElement);
