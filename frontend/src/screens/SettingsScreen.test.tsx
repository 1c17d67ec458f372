import { screen, within } from "@testing-library/react";
import { describe, expect, test } from "vitest";
import { fakeServer, json, problem } from "../test/fakeServer";
import { openAt } from "../test/render";

const version = { version: "0.1.0", git_commit: "a3117b6", schema_revision: "0002", embedding_model: "all-MiniLM-L6-v2" };

describe("Settings", () => {
  test("shows the server's version, model and database status", async () => {
    fakeServer({ "GET /version": () => json(version), "GET /ready": () => json({ status: "ready" }) });
    openAt("/settings");
    expect(await screen.findByText("all-MiniLM-L6-v2")).toBeInTheDocument();
    expect(screen.getByText("0.1.0")).toBeInTheDocument();
    expect(screen.getByText("● Ready")).toBeInTheDocument();
    expect(screen.getByText("0002")).toBeInTheDocument();
  });

  test("a database that is down is a status with its reason, not a broken page", async () => {
    fakeServer({ "GET /version": () => json(version), "GET /ready": () => problem(503, "database unreachable", "Unavailable") });
    openAt("/settings");
    expect(await screen.findByText("● Unavailable: database unreachable")).toBeInTheDocument();
  });

  test("a saved token is kept in this browser, sent with requests, checked, and can be forgotten", async () => {
    const server = fakeServer({
      "GET /version": () => json(version),
      "GET /ready": () => json({ status: "ready" }),
      "GET /v1/conversations": ({ headers }) =>
        headers.get("Authorization") === "Bearer mrag_good"
          ? json({ items: [], next_cursor: null })
          : problem(401, "unknown or revoked token", "Unauthorized"),
    });
    const { user } = openAt("/settings");
    const input = screen.getByLabelText("Token");
    expect(input).toHaveAttribute("type", "password");

    await user.type(input, "mrag_bad");
    await user.click(screen.getByRole("button", { name: "Save" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("unknown or revoked token");

    await user.clear(input);
    await user.type(input, "mrag_good{Enter}");
    expect(await screen.findByText("✓ The server accepts this token.")).toBeInTheDocument();
    expect(localStorage.getItem("mcp-rag.api-token")).toBe("mrag_good");
    expect(server.of("GET", "/v1/conversations").at(-1)?.headers.get("Authorization")).toBe("Bearer mrag_good");

    await user.click(screen.getByRole("button", { name: "Show" }));
    expect(input).toHaveAttribute("type", "text");
    await user.click(screen.getByRole("button", { name: "Forget token" }));
    expect(localStorage.getItem("mcp-rag.api-token")).toBeNull();
    expect(within(screen.getByRole("form", { name: "API token" })).getByText(/No token saved/)).toBeInTheDocument();
  });
});
