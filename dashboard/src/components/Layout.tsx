import { NavLink, Outlet } from "react-router-dom";
import { session } from "../api/client";
import { useMe } from "../auth";
import { LiveUpdates } from "./LiveUpdates";

const LINKS = [
  { to: "/", label: "Home", end: true },
  { to: "/properties", label: "Properties" },
  { to: "/analytics", label: "Analytics" },
  { to: "/models", label: "Models" },
  { to: "/campaigns", label: "Campaigns" },
  { to: "/settings", label: "Settings" },
];

export function Layout() {
  const { data: me } = useMe();
  return (
    <div className="min-h-screen">
      <a href="#main" className="sr-only focus:not-sr-only focus:absolute focus:left-2 focus:top-2 focus:z-50 focus:bg-white focus:p-2">
        Skip to content
      </a>
      <header className="border-b border-slate-200 bg-white">
        <div className="mx-auto flex max-w-7xl flex-wrap items-center gap-x-6 gap-y-2 px-4 py-3">
          <span className="font-semibold text-blue-900">Real Estate OS</span>
          <nav aria-label="Main">
            <ul className="flex flex-wrap gap-1">
              {LINKS.map((link) => (
                <li key={link.to}>
                  <NavLink
                    to={link.to}
                    end={link.end}
                    className={({ isActive }) => `rounded-md px-3 py-1.5 text-sm font-medium ${isActive ? "bg-blue-800 text-white" : "text-slate-700 hover:bg-slate-100"}`}
                  >
                    {link.label}
                  </NavLink>
                </li>
              ))}
            </ul>
          </nav>
          <div className="ml-auto flex items-center gap-3 text-sm text-slate-700">
            {me && (
              <span>
                {me.actor} · <span className="font-medium">{me.role ?? "key"}</span> · {me.tenant_id}
              </span>
            )}
            <button type="button" className="btn" onClick={() => void session.logout()}>Log out</button>
          </div>
        </div>
      </header>
      <main id="main" className="mx-auto max-w-7xl px-4 py-6">
        <Outlet />
      </main>
      <LiveUpdates />
    </div>
  );
}
