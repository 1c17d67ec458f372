// The header's theme switch: System → Light → Dark → System.

import { useState } from "react";
import { type Theme, THEMES, applyTheme, savedTheme } from "../theme";

const LABEL: Record<Theme, string> = { system: "System theme", light: "Light theme", dark: "Dark theme" };

export function ThemeToggle() {
  const [theme, setTheme] = useState<Theme>(savedTheme);
  function next() {
    const chosen = THEMES[(THEMES.indexOf(theme) + 1) % THEMES.length] ?? "system";
    applyTheme(chosen);
    setTheme(chosen);
  }
  return (
    <button
      type="button"
      className="secondary theme-toggle"
      onClick={next}
      aria-label={`${LABEL[theme]} (change)`}
      title="Switch between the system's theme, light and dark"
    >
      {theme === "dark" ? "☾ Dark" : theme === "light" ? "☀ Light" : "◐ System"}
    </button>
  );
}
