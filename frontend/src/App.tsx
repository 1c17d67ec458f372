// The frame every screen shares: skip link, navigation, and the routes.

import { useEffect } from "react";
import { Link, NavLink, Route, Routes, useLocation } from "react-router";
import { AskSessionProvider } from "./askSession";
import { Empty } from "./components/Status";
import { ThemeToggle } from "./components/ThemeToggle";
import AskScreen from "./screens/AskScreen";
import ConversationScreen from "./screens/ConversationScreen";
import ConversationsScreen from "./screens/ConversationsScreen";
import ImportScreen from "./screens/ImportScreen";
import SearchScreen from "./screens/SearchScreen";
import SettingsScreen from "./screens/SettingsScreen";

// /search and /ask belong to the server (the runbook's API aliases), so that a
// reload there would never reach the UI: Search is the home page and Ask lives at /chat.
const SCREENS = [
  { path: "/", label: "Search" },
  { path: "/chat", label: "Ask" },
  { path: "/conversations", label: "Conversations" },
  { path: "/import", label: "Import" },
  { path: "/settings", label: "Settings" },
];

function DocumentTitle() {
  const { pathname } = useLocation();
  useEffect(() => {
    const screen = SCREENS.find((s) => (s.path === "/" ? pathname === "/" : pathname.startsWith(s.path)));
    document.title = screen ? `${screen.label} · mcp-rag` : "mcp-rag";
  }, [pathname]);
  return null;
}

export default function App() {
  return (
    <AskSessionProvider>
      <DocumentTitle />
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="app-header">
        <Link to="/" className="brand" aria-label="mcp-rag home">
          <img src="/favicon.svg" alt="" width="24" height="24" />
          mcp-rag
        </Link>
        <nav aria-label="Main">
          <ul>
            {SCREENS.map((s) => (
              <li key={s.path}>
                <NavLink to={s.path} end={s.path === "/"}>
                  {s.label}
                </NavLink>
              </li>
            ))}
          </ul>
        </nav>
        <ThemeToggle />
      </header>
      <main id="main" tabIndex={-1}>
        <Routes>
          <Route path="/" element={<SearchScreen />} />
          <Route path="/chat" element={<AskScreen />} />
          <Route path="/conversations" element={<ConversationsScreen />} />
          <Route path="/conversations/:id" element={<ConversationScreen />} />
          <Route path="/import" element={<ImportScreen />} />
          <Route path="/settings" element={<SettingsScreen />} />
          <Route
            path="*"
            element={
              <Empty title="Page not found">
                <p>
                  <Link to="/">Go to Search</Link>
                </p>
              </Empty>
            }
          />
        </Routes>
      </main>
    </AskSessionProvider>
  );
}
