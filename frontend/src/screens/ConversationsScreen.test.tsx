import { screen, within } from "@testing-library/react";
import { describe, expect, test } from "vitest";
import { summary } from "../test/data";
import { fakeServer, json } from "../test/fakeServer";
import { openAt } from "../test/render";

const first = summary();
const second = summary({ id: "7c1e0b9e-0000-4000-8000-000000000002", external_id: "ticket-8812", title: null, source: "support", message_count: 1, participants: [] });

describe("Conversations", () => {
  test("lists conversations with their counts, and pages with the server's cursor", async () => {
    const server = fakeServer({
      "GET /v1/conversations": ({ query }) =>
        query.get("cursor") === "page-2"
          ? json({ items: [second], next_cursor: null })
          : json({ items: [first], next_cursor: "page-2" }),
    });
    const { user } = openAt("/conversations");
    const link = await screen.findByRole("link", { name: "Planning the ski trip" });
    expect(link).toHaveAttribute("href", `/conversations/${first.id}`);
    expect(screen.getByText("4 messages")).toBeInTheDocument();
    expect(screen.getByText("Page 1 · 1 conversation · 4 messages")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "← Previous" })).toBeDisabled();

    await user.click(screen.getByRole("button", { name: "Next →" }));
    // A conversation without a title is shown by its id.
    expect(await screen.findByRole("link", { name: "ticket-8812" })).toBeInTheDocument();
    expect(screen.getByText("Page 2 · 1 conversation · 1 message")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Next →" })).toBeDisabled();
    expect(server.calls.map((c) => c.query.get("cursor"))).toEqual([null, "page-2"]);

    await user.click(screen.getByRole("button", { name: "← Previous" }));
    expect(await screen.findByRole("link", { name: "Planning the ski trip" })).toBeInTheDocument();
  });

  test("filters by title or id and by source, starting again at page 1", async () => {
    const server = fakeServer({ "GET /v1/conversations": () => json({ items: [second], next_cursor: null }) });
    const { user } = openAt("/conversations");
    await screen.findByRole("link", { name: "ticket-8812" });
    await user.type(screen.getByLabelText("Title or id"), "refund");
    await user.type(screen.getByLabelText("Source"), "support{Enter}");
    await screen.findByRole("link", { name: "ticket-8812" });
    const last = server.calls[server.calls.length - 1];
    expect(last?.query.get("q")).toBe("refund");
    expect(last?.query.get("source")).toBe("support");
    expect(last?.query.get("cursor")).toBeNull();
    expect(last?.query.get("limit")).toBe("20");
  });

  test("empty: invites an import; filtered and empty: offers to show all", async () => {
    fakeServer({ "GET /v1/conversations": () => json({ items: [], next_cursor: null }) });
    openAt("/conversations");
    expect(await screen.findByText("No conversations yet")).toBeInTheDocument();
    expect(screen.getByRole("link", { name: "Import a file" })).toHaveAttribute("href", "/import");
  });

  test("filtered and empty: offers to show all", async () => {
    fakeServer({ "GET /v1/conversations": () => json({ items: [], next_cursor: null }) });
    openAt("/conversations?q=nothing");
    expect(await screen.findByText("No conversation matches these filters")).toBeInTheDocument();
    expect(within(screen.getByText("No conversation matches these filters").parentElement!).getByRole("link")).toHaveAttribute(
      "href",
      "/conversations",
    );
  });
});
