import { screen } from "@testing-library/react";
import { expect, test } from "vitest";
import { fakeServer, json } from "./test/fakeServer";
import { openAt } from "./test/render";

test("every screen is one link away, the current one is marked, and Search is the home page", async () => {
  fakeServer({ "GET /v1/conversations": () => json({ items: [], next_cursor: null }) });
  const { user } = openAt("/");
  const nav = screen.getByRole("navigation", { name: "Main" });
  expect([...nav.querySelectorAll("a")].map((a) => a.textContent)).toEqual([
    "Search",
    "Ask",
    "Conversations",
    "Import",
    "Settings",
  ]);
  expect(screen.getByRole("heading", { name: "Search", level: 1 })).toBeInTheDocument();
  expect(screen.getByRole("link", { name: "Search" })).toHaveAttribute("aria-current", "page");
  await user.click(screen.getByRole("link", { name: "Conversations" }));
  expect(await screen.findByText("No conversations yet")).toBeInTheDocument();
  expect(document.title).toBe("Conversations · mcp-rag");
});

test("an unknown address says so", () => {
  openAt("/nowhere");
  expect(screen.getByText("Page not found")).toBeInTheDocument();
});
