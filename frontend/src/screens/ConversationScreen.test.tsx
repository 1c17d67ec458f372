import { screen, waitFor, within } from "@testing-library/react";
import { describe, expect, test } from "vitest";
import { SKI_ID, messages, transcript } from "../test/data";
import { fakeServer, json, problem } from "../test/fakeServer";
import { openAt } from "../test/render";
import { AROUND, TRANSCRIPT_PAGE } from "./ConversationScreen";

describe("One conversation", () => {
  test("shows the transcript with an anchor per message and marks the linked one", async () => {
    const all = messages(4);
    fakeServer({ [`GET /v1/conversations/${SKI_ID}`]: () => json(transcript(all, 0, TRANSCRIPT_PAGE)) });
    openAt(`/conversations/${SKI_ID}?highlight=2%2C3#m-3`);
    expect(await screen.findByRole("heading", { name: "Planning the ski trip" })).toBeInTheDocument();
    const target = document.getElementById("m-3");
    expect(target).toHaveClass("message", "target");
    expect(target).toHaveTextContent("Message number 3");
    expect(within(target!).getByText("Linked message")).toBeInTheDocument();
    expect(document.getElementById("m-2")).toHaveClass("related");
    expect(document.getElementById("m-1")).not.toHaveClass("related");
    await waitFor(() => expect(document.activeElement).toBe(target));
  });

  test("a link to a message deep in the conversation loads the page around it, earlier pages on request", async () => {
    const all = messages(TRANSCRIPT_PAGE + 50);
    const server = fakeServer({
      [`GET /v1/conversations/${SKI_ID}`]: ({ query }) => {
        const around = query.get("around");
        if (!around) return json(transcript(all, Number(query.get("offset")), Number(query.get("limit"))));
        const at = all.findIndex((m) => m.id === around);
        const offset = Math.max(0, at - Number(query.get("before")));
        return json(transcript(all, offset, at - offset + 1 + Number(query.get("after"))));
      },
    });
    const { user } = openAt(`/conversations/${SKI_ID}#m-${TRANSCRIPT_PAGE + 20}`);
    await waitFor(() => expect(document.getElementById(`m-${TRANSCRIPT_PAGE + 20}`)).toHaveClass("target"));
    expect(server.calls.map((c) => [c.query.get("around"), c.query.get("before"), c.query.get("after")])).toEqual([
      [String(TRANSCRIPT_PAGE + 20), String(AROUND), String(AROUND)],
    ]);
    const before = TRANSCRIPT_PAGE + 19 - AROUND;
    expect(document.getElementById(`m-${before}`)).toBeNull();
    await user.click(screen.getByRole("button", { name: `Show earlier (${before} messages before)` }));
    await waitFor(() => expect(document.getElementById(`m-${before}`)).toBeInTheDocument());
    expect(screen.queryByRole("button", { name: /Show more/ })).toBeNull();
  });

  test("a long conversation shows the first page and a Show more button", async () => {
    const all = messages(TRANSCRIPT_PAGE + 3);
    fakeServer({
      [`GET /v1/conversations/${SKI_ID}`]: ({ query }) =>
        json(transcript(all, Number(query.get("offset")), Number(query.get("limit")))),
    });
    const { user } = openAt(`/conversations/${SKI_ID}`);
    await user.click(await screen.findByRole("button", { name: "Show more (3 messages left)" }));
    await waitFor(() => expect(document.getElementById(`m-${TRANSCRIPT_PAGE + 3}`)).toBeInTheDocument());
  });

  test("delete asks first, Cancel keeps it, Delete removes it and returns to the list", async () => {
    const server = fakeServer({
      [`GET /v1/conversations/${SKI_ID}`]: () => json(transcript(messages(4), 0, TRANSCRIPT_PAGE)),
      [`DELETE /v1/conversations/${SKI_ID}`]: () => new Response(null, { status: 204 }),
      "GET /v1/conversations": () => json({ items: [], next_cursor: null }),
    });
    const { user } = openAt(`/conversations/${SKI_ID}`);
    await user.click(await screen.findByRole("button", { name: "Delete conversation…" }));
    const dialog = screen.getByRole("alertdialog");
    expect(dialog).toHaveTextContent("Delete “Planning the ski trip” and its 4 messages? This cannot be undone.");
    expect(within(dialog).getByRole("button", { name: "Cancel" })).toHaveFocus();
    await user.keyboard("{Escape}");
    expect(screen.queryByRole("alertdialog")).toBeNull();
    expect(server.of("DELETE", `/v1/conversations/${SKI_ID}`)).toHaveLength(0);

    await user.click(screen.getByRole("button", { name: "Delete conversation…" }));
    await user.click(within(screen.getByRole("alertdialog")).getByRole("button", { name: "Delete" }));
    expect(await screen.findByText("Deleted “Planning the ski trip”.")).toBeInTheDocument();
    expect(screen.getByRole("heading", { name: "Conversations" })).toBeInTheDocument();
    expect(server.of("DELETE", `/v1/conversations/${SKI_ID}`)).toHaveLength(1);
  });

  test("a failed delete stays on the conversation and says why", async () => {
    fakeServer({
      [`GET /v1/conversations/${SKI_ID}`]: () => json(transcript(messages(1), 0, TRANSCRIPT_PAGE)),
      [`DELETE /v1/conversations/${SKI_ID}`]: () => problem(403, "this token lacks the 'write' scope", "Forbidden"),
    });
    const { user } = openAt(`/conversations/${SKI_ID}`);
    await user.click(await screen.findByRole("button", { name: "Delete conversation…" }));
    await user.click(within(screen.getByRole("alertdialog")).getByRole("button", { name: "Delete" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("this token lacks the 'write' scope");
    expect(screen.getByRole("heading", { name: "Planning the ski trip" })).toBeInTheDocument();
  });

  test("an unknown conversation shows the server's detail and a way back", async () => {
    fakeServer({ "GET /v1/conversations/nope": () => problem(404, "conversation 'nope' not found", "Not found") });
    openAt("/conversations/nope");
    expect(await screen.findByRole("alert")).toHaveTextContent("conversation 'nope' not found");
    expect(screen.getByRole("link", { name: "← All conversations" })).toHaveAttribute("href", "/conversations");
  });

  test("a link to a message that is gone says so", async () => {
    fakeServer({ [`GET /v1/conversations/${SKI_ID}`]: () => json(transcript(messages(2), 0, TRANSCRIPT_PAGE)) });
    openAt(`/conversations/${SKI_ID}#m-99`);
    expect(await screen.findByText("Message “99” is not in this conversation any more.")).toBeInTheDocument();
  });
});
