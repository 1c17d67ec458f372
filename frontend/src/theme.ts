// Light or dark: follows the system (prefers-color-scheme) unless the header's
// toggle chose one, kept in this browser. The choice is an attribute on <html>
// that styles.css reads; "system" removes it.

export type Theme = "system" | "light" | "dark";

const KEY = "mcp-rag-theme";
export const THEMES: Theme[] = ["system", "light", "dark"];

export function savedTheme(): Theme {
  try {
    const value = localStorage.getItem(KEY);
    return value === "light" || value === "dark" ? value : "system";
  } catch {
    return "system";
  }
}

export function applyTheme(theme: Theme): void {
  if (theme === "system") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
  try {
    if (theme === "system") localStorage.removeItem(KEY);
    else localStorage.setItem(KEY, theme);
  } catch {
    // storage refused (private mode): the choice lasts until the page is left
  }
}
